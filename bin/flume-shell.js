#!/usr/bin/env node
'use strict';
require('../dist/shell/cli.js');
