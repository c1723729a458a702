'use strict';
// Runs our TypeScript sources without a build: `node -r ./scripts/ts-register.js some.ts`.
// Each .ts file is compiled on require with swc (type-stripping only, like @swc/jest in the tests; `tsc --noEmit`
// is the type check). Inline source maps plus setSourceMapsEnabled make stack traces point at the .ts lines.
const fs = require('node:fs');
const { transformSync } = require('@swc/core');

process.setSourceMapsEnabled(true);

require.extensions['.ts'] = function compileTypeScript(module, filename) {
  const source = fs.readFileSync(filename, 'utf8');
  const { code } = transformSync(source, {
    filename,
    swcrc: false,
    configFile: false,
    sourceMaps: 'inline',
    module: { type: 'commonjs' },
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
  });
  module._compile(code, filename);
};
