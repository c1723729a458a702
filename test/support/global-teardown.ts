import { rmSync } from 'node:fs';
import { runRecordFile, stopTestCluster, takeTestClusterRecord } from './global-setup';

/** Stops the run's throwaway PostgreSQL and removes its directory (nothing to do with RADOTP_TEST_DATABASE_URL). */
export default async function globalTeardown(): Promise<void> {
  const record = takeTestClusterRecord();
  if (!record) return;
  await stopTestCluster(record);
  rmSync(runRecordFile(), { force: true });
}
