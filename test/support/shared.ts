import path from 'node:path';

/**
 * The project's shared/ folder (conformance corpus, bench tools) sits beside the repository:
 * in a developer's checkout and in CI's fresh clone alike. RADOTP_SHARED_DIR overrides it.
 */
export const SHARED_DIR = process.env.RADOTP_SHARED_DIR ?? path.resolve(__dirname, '..', '..', '..', 'shared');
export const CONFORMANCE_DIR = path.join(SHARED_DIR, 'conformance');
