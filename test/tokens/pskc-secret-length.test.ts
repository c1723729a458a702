import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONFORMANCE_DIR } from '../support/shared';
import { readPskc, writePskc } from '../../src/pskc';
import { TokenImportError, tokenFromPskc } from '../../src/tokens/pskc-import';
import { MAX_SECRET_BYTES, MIN_SECRET_BYTES } from '../../src/tokens/pskc-secret-length';

/*
 * Secret lengths the import takes. Before, a 1-byte and a 100 KB secret both imported. The minimum is
 * the corpus's shortest importable example (RFC 6030 Figure 2's 4-byte "1234"), not yet RFC 4226's 16
 * bytes: see src/tokens/pskc-secret-length.ts.
 */

const ALGORITHMS = ['urn:ietf:params:xml:ns:keyprov:pskc:hotp', 'urn:ietf:params:xml:ns:keyprov:pskc:totp'];

function importSecretOf(length: number, algorithm: string): () => unknown {
  const key = readPskc(writePskc([{ serial: 'SN-1', algorithm, digits: 6, secret: randomBytes(length), counter: 0n }], { kind: 'plain' })).keys[0];
  return () => tokenFromPskc(key);
}

describe.each(ALGORITHMS)('%s', (algorithm) => {
  test.each([MIN_SECRET_BYTES, 16, 20, 32, 64, MAX_SECRET_BYTES])('a %d-byte secret imports', (length) => {
    expect(importSecretOf(length, algorithm)()).toMatchObject({ serial: 'SN-1' });
  });

  test.each([
    [1, /^key 0 \(serial SN-1\), line 3: the secret is 1 byte\(s\), shorter than the 4-byte minimum/],
    [3, /the secret is 3 byte\(s\), shorter than the 4-byte minimum/],
    [MAX_SECRET_BYTES + 1, /the secret is 1025 bytes, longer than the 1024-byte maximum$/],
    [100_000, /the secret is 100000 bytes, longer than the 1024-byte maximum$/],
  ])('a %d-byte secret is refused', (length, reason) => {
    expect(importSecretOf(length, algorithm)).toThrow(TokenImportError);
    expect(importSecretOf(length, algorithm)).toThrow(reason);
  });
});

test("the minimum keeps RFC 6030 Figure 2 (a corpus file expected to import) importable", () => {
  const key = readPskc(readFileSync(join(CONFORMANCE_DIR, 'pskc', 'rfc6030', 'figure2.pskcxml'))).keys[0];
  expect(key.secret?.length).toBe(MIN_SECRET_BYTES);
  expect(tokenFromPskc(key)).toMatchObject({ serial: '12345678', kind: 'hotp' });
});
