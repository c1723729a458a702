#!/usr/bin/env node
'use strict';
// Runs every check (type check, then every jest suite) and ends with the plain line
// "N passed, N failed" that CI reads. A suite that fails to load counts as a failure.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..');
let passed = 0;
let failed = 0;

const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '--noEmit', '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
if (tsc.status === 0) passed++;
else {
  failed++;
  console.error('type check failed');
}

const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-jest-')), 'results.json');
const jest = spawnSync(process.execPath, [require.resolve('jest/bin/jest'), '--json', `--outputFile=${out}`, ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
});
let results;
try {
  results = JSON.parse(fs.readFileSync(out, 'utf8'));
} catch {
  results = undefined;
}
if (!results) {
  failed++;
  console.error(`jest produced no results (exit ${jest.status})`);
} else {
  passed += results.numPassedTests;
  failed += results.numFailedTests + results.numRuntimeErrorTestSuites;
  if (results.numTotalTests === 0) {
    failed++;
    console.error('jest ran no test');
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && jest.status === 0 && tsc.status === 0 ? 0 : 1);
