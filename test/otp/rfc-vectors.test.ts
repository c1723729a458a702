import { createHmac } from 'node:crypto';
import { dynamicTruncate, hotp, timeStep, totp, type HashAlgorithm } from '../../src/otp';
import { loadVectors } from './support';

const vectors = loadVectors();
const MODE_ALGORITHM: Record<'SHA1' | 'SHA256' | 'SHA512', HashAlgorithm> = { SHA1: 'sha1', SHA256: 'sha256', SHA512: 'sha512' };

describe('RFC 4226 Appendix D (HOTP)', () => {
  const { secret_hex, digits } = vectors.hotp_rfc4226;
  const key = Buffer.from(secret_hex, 'hex');

  it('has all ten vectors', () => {
    expect(vectors.hotp_rfc4226.vectors).toHaveLength(10);
  });

  it.each(vectors.hotp_rfc4226.vectors)('counter $counter -> $otp', ({ counter, hmac_sha1_hex, truncated_dec, otp }) => {
    const message = Buffer.alloc(8);
    message.writeBigUInt64BE(BigInt(counter));
    const hmac = createHmac('sha1', key).update(message).digest();
    expect(hmac.toString('hex')).toBe(hmac_sha1_hex);
    expect(dynamicTruncate(hmac)).toBe(truncated_dec);
    expect(hotp(key, counter, digits)).toBe(otp);
    expect(hotp(key, BigInt(counter), digits, 'sha1')).toBe(otp);
  });
});

describe('RFC 6238 Appendix B (TOTP)', () => {
  const { time_step_seconds: period, t0, digits, seeds } = vectors.totp_rfc6238;

  it('has all eighteen vectors', () => {
    expect(vectors.totp_rfc6238.vectors).toHaveLength(18);
  });

  it.each(vectors.totp_rfc6238.vectors)('$mode at $time -> $otp', ({ time, T_hex, mode, otp }) => {
    const key = Buffer.from(seeds[mode].secret_hex, 'hex');
    expect(timeStep(time, period, t0)).toBe(parseInt(T_hex, 16));
    expect(totp(key, time, { digits, period, t0, algorithm: MODE_ALGORITHM[mode] })).toBe(otp);
  });
});
