#!/usr/bin/env node
'use strict';
require('../dist/master/cli.js');
