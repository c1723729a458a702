#!/usr/bin/env node
'use strict';
// The published entry point runs the compiled JavaScript in dist/ (built by `npm run build`, which
// `npm ci`/`npm install` run through the `prepare` script). In a source checkout without a build,
// it compiles the TypeScript on the fly with @swc/core (a dev dependency).
const fs = require('node:fs');
const path = require('node:path');
const compiled = path.join(__dirname, '..', 'dist', 'cli', 'main.js');
if (fs.existsSync(compiled) && !process.env.RADOTP_FROM_SOURCE) {
  require(compiled).main(process.argv);
} else {
  require('../scripts/ts-register.js');
  require('../cli/main.ts').main(process.argv);
}
