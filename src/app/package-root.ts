import fs from 'node:fs';
import path from 'node:path';

/**
 * The folder holding radotp's package.json, found by walking up from this file, so that resources
 * (dictionaries/, package.json) are found both from the sources and from the compiled dist/ tree.
 */
export const packageRoot: string = (() => {
  let dir = __dirname;
  for (;;) {
    const candidate = path.join(dir, 'package.json');
    if (fs.existsSync(candidate) && JSON.parse(fs.readFileSync(candidate, 'utf8')).name === 'radotp') return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('cannot find the radotp package folder');
    dir = parent;
  }
})();

export const packageVersion: string = JSON.parse(fs.readFileSync(path.join(packageRoot, 'package.json'), 'utf8')).version;
