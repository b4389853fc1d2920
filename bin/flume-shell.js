#!/usr/bin/env node
'use strict';
require('../dist/master/shell/cli.js');
