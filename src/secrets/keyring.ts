import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ownerOfFolder, writeFileFor } from '../lang/folder-owner';
import { readRegularFile } from '../lang/regular-file';
import { readStateFile, StateFileError } from '../lang/state-file';

/** 64 hex characters and a newline; some room for a CRLF or spaces an editor left. */
const MAX_KEY_FILE = 1024;

/**
 * Secrets at rest (RADIUS shared secrets, token seeds) are sealed with AES-256-GCM under a 32-byte key
 * file shared by all nodes. Every sealed value names the key that sealed it, so several keys can be
 * held at once while `radotp keys rotate` rolls a new key out to the nodes.
 *
 * Sealed layout: version(1) = 1 | keyId(8) | iv(12) | ciphertext | tag(16).
 * The purpose string (e.g. "client-secret") is bound as AAD, so a sealed value cannot be moved to
 * a column where it would be read as something else.
 */
const VERSION = 1;
const KEY_ID_LEN = 8;
const IV_LEN = 12;
const TAG_LEN = 16;
const HEADER_LEN = 1 + KEY_ID_LEN + IV_LEN;
/** Where a sealed value names its key (1-based, as SQL's substring counts): the store finds rows by key with it. */
export const SEALED_KEY_ID = { from: 2, length: KEY_ID_LEN } as const;

export class KeyError extends Error {
  override name = 'KeyError';
}

export type SecretPurpose = 'client-secret' | 'token-seed' | 'failure-digest';

export interface MasterKey {
  readonly id: Buffer;
  readonly idHex: string;
  readonly key: Buffer;
}

export function masterKeyFromBytes(key: Buffer): MasterKey {
  if (key.length !== 32) throw new KeyError(`master key must be 32 bytes, got ${key.length}`);
  const id = crypto.createHash('sha256').update('radotp-key-id').update(key).digest().subarray(0, KEY_ID_LEN);
  return { id, idHex: id.toString('hex'), key };
}

/**
 * Key files hold the key as 64 hex characters (with an optional trailing newline), readable by admins' tools.
 * `origin` names where the path came from ("/etc/radotp/radotp.yaml: keyFile"), else it is "key file".
 * Only a regular file is read: keyFile: /dev/zero (or a FIFO) used to hang the process.
 */
export function readKeyFile(file: string, origin = 'key file'): MasterKey {
  const where = origin === 'key file' ? `key file ${file}` : `${origin}: ${file}`;
  let text: string;
  try {
    // As root, a key file in a folder that is another user's (the default <dataDir>/master.key of a service
    // account) could be their symlink to a key only root may read: one radotp did not put there is refused (see
    // lang/state-file.ts). Elsewhere a symlink to a key file is the admin's own doing, and read.
    const owner = ownerOfFolder(path.dirname(path.resolve(file)));
    text = (owner === undefined ? readRegularFile(file).toString('utf8') : readStateFile(file, owner, MAX_KEY_FILE)).trim();
  } catch (e) {
    if (e instanceof StateFileError) throw new KeyError(`${where}: cannot read (${e.message})`);
    const code = (e as NodeJS.ErrnoException).code;
    throw new KeyError(`${where}: cannot read (${code ?? (e as Error).message})`);
  }
  if (!/^[0-9a-fA-F]{64}$/.test(text)) throw new KeyError(`${where}: expected 64 hex characters (a 32-byte key)`);
  return masterKeyFromBytes(Buffer.from(text, 'hex'));
}

export interface CreateKeyFileOptions {
  /** Names where the path came from, as for readKeyFile. */
  readonly origin?: string;
  /**
   * Create the file's folder (and its parents) when missing: only for the data folder, which a first
   * `radotp init` or `serve` creates. Otherwise a missing folder is refused: it is more likely a typo
   * than a place to start a new tree (`keys new /nonexistent/dir/k.key` used to create it).
   */
  readonly createFolder?: boolean;
  /**
   * As root, give the new file to the owner of its folder when that is not root (see lang/folder-owner.ts): the
   * data folder of a service account, where `sudo radotp init` made a key the service could not read.
   */
  readonly forFolderOwner?: boolean;
}

/** Creates a new random key file (mode 0600); refuses to overwrite an existing one. */
export function createKeyFile(file: string, opts: CreateKeyFileOptions = {}): MasterKey {
  const where = opts.origin === undefined ? `key file ${file}` : `${opts.origin}: ${file}`;
  // 0711: the embedded PostgreSQL (run as the 'postgres' user when we are root) must traverse dataDir; the key file itself is 0600.
  if (opts.createFolder) fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o711 });
  const key = crypto.randomBytes(32);
  const owner = opts.forFolderOwner ? ownerOfFolder(path.dirname(path.resolve(file))) : undefined;
  try {
    writeFileFor(file, key.toString('hex') + '\n', 0o600, owner, 'exclusive');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new KeyError(`${where} already exists`);
    if (code === 'ENOENT') throw new KeyError(`${where}: folder ${path.dirname(path.resolve(file))} does not exist`);
    throw new KeyError(`${where}: cannot create (${code ?? (e as Error).message})`);
  }
  return masterKeyFromBytes(key);
}

export function readOrCreateKeyFile(file: string, opts: CreateKeyFileOptions = {}): { key: MasterKey; created: boolean } {
  const origin = opts.origin;
  if (fs.existsSync(file)) return { key: readKeyFile(file, origin), created: false };
  try {
    return { key: createKeyFile(file, opts), created: true };
  } catch (e) {
    // Two processes starting at once: the other one won the race; use its key.
    if (e instanceof KeyError && fs.existsSync(file)) return { key: readKeyFile(file, origin), created: false };
    throw e;
  }
}

export class KeyRing {
  private readonly byId = new Map<string, MasterKey>();
  private fingerprintKey?: Buffer;

  /** `current` seals; every key (current and previous) opens. */
  constructor(
    readonly current: MasterKey,
    previous: readonly MasterKey[] = [],
  ) {
    for (const k of [current, ...previous]) this.byId.set(k.idHex, k);
  }

  /** Whether this ring can open values sealed with key `idHex`. */
  holds(idHex: string): boolean {
    return this.byId.has(idHex);
  }

  seal(plain: Buffer, purpose: SecretPurpose): Buffer {
    const iv = crypto.randomBytes(IV_LEN);
    const cipher = crypto.createCipheriv('aes-256-gcm', this.current.key, iv);
    const header = Buffer.concat([Buffer.from([VERSION]), this.current.id, iv]);
    cipher.setAAD(Buffer.concat([header, Buffer.from(purpose)]));
    return Buffer.concat([header, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
  }

  open(sealed: Buffer, purpose: SecretPurpose): Buffer {
    if (sealed.length < HEADER_LEN + TAG_LEN || sealed[0] !== VERSION) throw new KeyError('sealed value is malformed');
    const idHex = sealed.subarray(1, 1 + KEY_ID_LEN).toString('hex');
    const mk = this.byId.get(idHex);
    if (!mk) throw new KeyError(`sealed with key ${idHex}, which this node does not hold (check keyFile/previousKeyFiles)`);
    const iv = sealed.subarray(1 + KEY_ID_LEN, HEADER_LEN);
    const decipher = crypto.createDecipheriv('aes-256-gcm', mk.key, iv);
    decipher.setAAD(Buffer.concat([sealed.subarray(0, HEADER_LEN), Buffer.from(purpose)]));
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_LEN));
    try {
      return Buffer.concat([decipher.update(sealed.subarray(HEADER_LEN, sealed.length - TAG_LEN)), decipher.final()]);
    } catch {
      throw new KeyError(`sealed value failed authentication under key ${idHex}`);
    }
  }

  /**
   * A token seed's fingerprint, to tell a seed imported again under its serial from a new one (migration
   * 0012) without keeping the seed: HMAC-SHA256 of the seed under a key HKDF derives from the current key,
   * so it says nothing of the seed to whoever lacks the key file, and no other use of the key shares it.
   * It starts with that key's id: fingerprints made under different keys cannot be compared, and the
   * database treats such a pair as unknown (the deleted token's used codes stay used). `keys rotate`
   * fingerprints every seed it re-seals again under the new key, so live tokens stay comparable.
   */
  fingerprint(seed: Buffer): Buffer {
    this.fingerprintKey ??= Buffer.from(crypto.hkdfSync('sha256', this.current.key, Buffer.alloc(0), 'radotp token-seed fingerprint', 32));
    return Buffer.concat([this.current.id, crypto.createHmac('sha256', this.fingerprintKey).update(seed).digest()]);
  }

  /** The id of the key a sealed value was made with (for rotation bookkeeping). */
  static keyIdOf(sealed: Buffer): string {
    return sealed.subarray(1, 1 + KEY_ID_LEN).toString('hex');
  }

  /**
   * Keyed digests (not reversible without the key), e.g. to recognise a repeated wrong code without storing
   * it: one under every key held, the current key's first. During a key roll-out, nodes on the old and the
   * new keyFile digest the same data differently, and each must recognise what the other stored.
   */
  digests(data: string, purpose: SecretPurpose): Buffer[] {
    return [...this.byId.values()].map((k) => keyedDigest(k, data, purpose));
  }
}

function keyedDigest(key: MasterKey, data: string, purpose: SecretPurpose): Buffer {
  return crypto.createHmac('sha256', key.key).update(purpose).update('\0').update(data).digest().subarray(0, 16);
}
