#!/usr/bin/env node
'use strict';
require('../dist/deploy/certs-cli.js');
