#!/usr/bin/env node
'use strict';
// Runs the compiled code, compiling it first only if a source changed since the last build.
if (!require('./build.js').ensureBuilt()) process.exit(1);
require('../dist/shell/cli.js');
