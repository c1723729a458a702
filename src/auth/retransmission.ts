import { createHash } from 'node:crypto';
import type { AuthRequest } from './request';

/**
 * The fingerprint of a login request, kept with the spend it made (migration 0011): the first 16 bytes of
 * SHA-256 over the RADIUS client's configured name, the Request Authenticator and the User-Name, each
 * length-prefixed so that no two different requests hash the same bytes. A NAS's retransmission carries
 * the same three (RFC 5080 §2.2.2: same client, same Request Authenticator); a new request from the same
 * NAS has a new Request Authenticator (RFC 2865 §3: "unpredictable and unique"). It reveals nothing of the
 * code or of the shared secret. Undefined when the request's authenticator is not known.
 */
export function requestFingerprint(req: Pick<AuthRequest, 'client' | 'authenticator' | 'username'>): Buffer | undefined {
  if (!req.authenticator) return undefined;
  const hash = createHash('sha256');
  for (const part of [Buffer.from(req.client.name, 'utf8'), req.authenticator, Buffer.from(req.username, 'utf8')]) {
    const length = Buffer.allocUnsafe(4);
    length.writeUInt32BE(part.length);
    hash.update(length).update(part);
  }
  return hash.digest().subarray(0, 16);
}
