import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load';
import { openStore } from '../../src/store/open';
import { startBenchPostgres, type BenchPostgres } from './postgres';

/**
 * A fresh work directory under `parent` (named `prefix` and a random suffix) holding a throwaway PostgreSQL in
 * `<dir>/pg` with radotp's master key and schema, as `radotp init` would leave them, and a radotp config file
 * (`<dir>/radotp.yaml`) pointing at it: what a benchmark of one command or statement starts from, not part of what it
 * measures. The caller stops the server and removes the directory; if starting fails, both are done here.
 */
export async function startMigratedPostgres(parent: string, prefix: string): Promise<{ dir: string; pgServer: BenchPostgres; configFile: string }> {
  const dir = mkdtempSync(join(parent, prefix));
  let pgServer: BenchPostgres | undefined;
  try {
    chmodSync(dir, 0o755); // mkdtemp makes it 0700; postgres (run as its own user when we are root) must enter it
    pgServer = await startBenchPostgres(join(dir, 'pg'));
    const configFile = join(dir, 'radotp.yaml');
    const configText = [`database:`, `  url: ${pgServer.url}`, `dataDir: ${join(dir, 'data')}`, `keyFile: ${join(dir, 'master.key')}`, `log:`, `  level: warn`, ''].join('\n');
    writeFileSync(configFile, configText);
    const store = await openStore(parseConfig(configText, configFile, {}), { createKey: true, migrate: true, poolSize: 1 });
    await store.close();
    return { dir, pgServer, configFile };
  } catch (e) {
    await pgServer?.stop();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
