import { writeBE } from '../hash/block-hash';
import { Sha256 } from '../hash/sha256';
import type { AuthRequest } from './request';

/** Reused for every fingerprint: each is computed whole, synchronously (see BlockHash). */
const sha256 = new Sha256();
const lengthPrefix = new Uint8Array(4);
const digest = new Uint8Array(32);

/**
 * The fingerprint of a login request, kept with the spend it made (migration 0011): the first 16 bytes of
 * SHA-256 over the RADIUS client's configured name, the Request Authenticator and the User-Name, each
 * length-prefixed so that no two different requests hash the same bytes. A NAS's retransmission carries
 * the same three (RFC 5080 §2.2.2: same client, same Request Authenticator); a new request from the same
 * NAS has a new Request Authenticator (RFC 2865 §3: "unpredictable and unique"). It reveals nothing of the
 * code or of the shared secret. Undefined when the request's authenticator is not known.
 * Nodes of a cluster compare the fingerprints each other recorded, so these bytes must never change.
 */
export function requestFingerprint(req: Pick<AuthRequest, 'client' | 'authenticator' | 'username'>): Buffer | undefined {
  if (!req.authenticator) return undefined;
  sha256.reset();
  hashPart(Buffer.from(req.client.name, 'utf8'));
  hashPart(req.authenticator);
  hashPart(Buffer.from(req.username, 'utf8'));
  sha256.digestInto(digest);
  return Buffer.from(digest.subarray(0, 16));
}

function hashPart(part: Uint8Array): void {
  writeBE(lengthPrefix, 0, part.length);
  sha256.update(lengthPrefix).update(part);
}
