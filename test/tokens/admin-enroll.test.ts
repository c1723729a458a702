import type { TokenInfo } from '../../src/store/tokens';
import { TokenAdmin } from '../../src/tokens/admin';

/*
 * Enrollment makes what the admin is shown (the QR code) before it stores the token: when that cannot be
 * made, nothing is stored and nothing audited, rather than a pending token whose secret nobody ever saw.
 */
function adminWith(created: unknown[], audited: unknown[]) {
  const store = {
    users: { get: async (username: string) => ({ id: 1n, username }) },
    tokens: {
      create: async (t: unknown) => {
        created.push(t);
        return { serial: 'TOTP-X', state: 'pending' } as TokenInfo;
      },
    },
  };
  return new TokenAdmin(store as never, {} as never, { pendingTokenTtl: 600, audit: async (e) => void audited.push(e) });
}

const request = { username: 'ann', type: 'totp' as const, algorithm: 'sha1' as const, digits: 6 as const, period: 30 as const, issuer: 'ACME' };

test('a presentation that fails stores and audits nothing', async () => {
  const created: unknown[] = [];
  const audited: unknown[] = [];
  const present = async () => {
    throw new Error('The amount of data is too big to be stored in a QR Code');
  };
  await expect(adminWith(created, audited).enroll({ ...request, present })).rejects.toThrow(/too big/);
  expect({ created, audited }).toEqual({ created: [], audited: [] });
});

test('a presentation that works is made from the key URI returned, before the token is stored', async () => {
  const created: unknown[] = [];
  const seen: { uri: string; storedYet: number }[] = [];
  const enrollment = await adminWith(created, []).enroll({ ...request, present: async (uri) => void seen.push({ uri, storedYet: created.length }) });
  expect(seen).toEqual([{ uri: enrollment.otpauthUri, storedYet: 0 }]);
  expect(created).toHaveLength(1);
});
