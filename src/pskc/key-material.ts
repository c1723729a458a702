import { shown } from './shown';
import { createHmac, pbkdf2Sync, timingSafeEqual } from 'node:crypto';
import { lookupCipher, lookupHmac, type CipherSpec } from './algorithms';
import { decryptRsa, loadPrivateKeyPem, loadPrivateKeyPkcs12, type RsaPrivateKey } from './asymmetric';
import { PskcError } from './errors';
import type { ContainerContext, EncryptedData, KeyDerivation } from './header';
import { decryptSymmetric } from './symmetric';
import type { PskcDecryption, PskcProtection } from './types';

const PASSWORD_FILE_HINT = "this file's keys are protected with a password (PBKDF2, RFC 6030 §6.2): supply the password, or the key derived from it";

type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** Run once, remember the value or the error (a wrong password fails every key the same way). */
function memo<T>(cache: Map<string, Outcome<T>>, key: string, compute: () => T): T {
  let outcome = cache.get(key);
  if (!outcome) {
    try {
      outcome = { ok: true, value: compute() };
    } catch (error) {
      outcome = { ok: false, error };
    }
    cache.set(key, outcome);
  }
  if (outcome.ok) return outcome.value;
  throw outcome.error;
}

export interface KeyMaterialOptions {
  requireMac: boolean;
  maxPbkdf2Iterations: number;
}

interface Resolved {
  spec: CipherSpec;
  key: Buffer | RsaPrivateKey;
}

export interface OpenedValue {
  plaintext: Buffer;
  algorithm: string;
  mac: PskcProtection['mac'];
}

/**
 * The transport key, MAC key and private key of one container, resolved lazily and once.
 * `open` is the only way to get at a plaintext: it verifies the ValueMAC first
 * (RFC 6030 §6.1.1) and never returns a value whose MAC does not match.
 */
export class KeyMaterial {
  readonly #ctx: ContainerContext;
  readonly #decryption: PskcDecryption;
  readonly #options: KeyMaterialOptions;
  readonly #transportKeys = new Map<string, Outcome<Buffer>>();
  readonly #privateKey = new Map<string, Outcome<RsaPrivateKey>>();
  readonly #macKey = new Map<string, Outcome<Buffer>>();

  constructor(ctx: ContainerContext, decryption: PskcDecryption, options: KeyMaterialOptions) {
    this.#ctx = ctx;
    this.#decryption = decryption;
    this.#options = options;
  }

  #hasAnyMaterial(): boolean {
    const d = this.#decryption;
    return d.psk !== undefined || d.password !== undefined || d.privateKeyPem !== undefined || d.pkcs12 !== undefined;
  }

  #usesPassword(): boolean {
    return this.#decryption.psk === undefined && this.#decryption.password !== undefined;
  }

  /**
   * A pre-shared key given for a file whose transport key is derived from a password (RFC 6030 §6.2,
   * EncryptionKey/DerivedKey). It may be that derived key (python-pskc and our tests give it so), so it is
   * tried; when it fails, the refusal says the file wants a password, which "wrong key" alone did not.
   */
  #pskForPasswordFile(error: PskcError): PskcError {
    if (this.#decryption.psk === undefined || this.#decryption.password !== undefined || !this.#ctx.derivation) return error;
    return new PskcError(error.kind, `${error.detail}; ${PASSWORD_FILE_HINT}`, {}, { cause: error });
  }

  /** The symmetric transport key: the pre-shared key, else the PBKDF2 key derived from the password. */
  transportKey(spec?: CipherSpec): Buffer {
    const fallbackLength = spec && spec.type !== 'rsa' ? spec.keyLengths[0] : undefined;
    return memo(this.#transportKeys, String(fallbackLength), () => {
      const { psk, password } = this.#decryption;
      if (psk !== undefined) return psk;
      if (password === undefined) {
        throw new PskcError('no_key_available', 'the secret is encrypted: supply the pre-shared key or the password');
      }
      const derivation = this.#ctx.derivation;
      if (!derivation) {
        throw new PskcError('key_derivation_not_configured', 'a password was given but the file defines no PBKDF2 key derivation');
      }
      return derive(derivation, password, fallbackLength, this.#options.maxPbkdf2Iterations);
    });
  }

  #rsaKey(): RsaPrivateKey {
    return memo(this.#privateKey, 'rsa', () => {
      const { privateKeyPem, pkcs12, pkcs12Password } = this.#decryption;
      if (privateKeyPem !== undefined) return loadPrivateKeyPem(privateKeyPem);
      if (pkcs12 !== undefined) return loadPrivateKeyPkcs12(pkcs12, pkcs12Password ?? '');
      throw new PskcError('no_key_available', 'the secret is encrypted to an RSA key: supply the private key (PEM or PKCS#12)');
    });
  }

  /**
   * RFC 6030 §6.1.1: the MAC key is carried encrypted in MACMethod/MACKey. Pre-RFC
   * writers gave no MACKey and used the transport key itself (encryption/no-mac-key).
   */
  macKey(fallbackAlgorithm?: string): Buffer {
    return memo(this.#macKey, fallbackAlgorithm ?? '', () => {
      const encrypted = this.#ctx.macKey;
      if (encrypted) {
        const resolved = this.#resolve(encrypted, fallbackAlgorithm);
        return this.#decrypt(resolved, encrypted.cipher, 'MACKey');
      }
      return this.transportKey(fallbackAlgorithm ? lookupCipher(fallbackAlgorithm) : undefined);
    });
  }

  #resolve(value: EncryptedData, fallbackAlgorithm?: string): Resolved & { algorithm: string } {
    const algorithm = value.algorithm ?? this.#ctx.defaultAlgorithm ?? fallbackAlgorithm;
    if (!this.#hasAnyMaterial()) {
      throw new PskcError('no_key_available', `the values are encrypted and nothing to decrypt them was supplied: this file needs ${this.#neededMaterial(algorithm)}`);
    }
    if (algorithm === undefined) {
      throw new PskcError('missing_encryption_algorithm', 'an encrypted value names no EncryptionMethod algorithm');
    }
    const spec = lookupCipher(algorithm);
    if (!spec) throw new PskcError('unsupported_encryption_algorithm', `unsupported encryption algorithm ${shown(algorithm)}`);
    const key = spec.type === 'rsa' ? this.#rsaKey() : this.transportKey(spec);
    return { spec, key, algorithm };
  }

  /**
   * What opens this file's values, for an admin who supplied nothing: RFC 6030 §6.2 (EncryptionKey/DerivedKey:
   * a password), §6.3 (an RSA algorithm: the private key), else §6.1 (a pre-shared key).
   */
  #neededMaterial(algorithm: string | undefined): string {
    if (this.#ctx.derivation) return 'the password its transport key is derived from (PBKDF2, RFC 6030 §6.2)';
    if (algorithm !== undefined && lookupCipher(algorithm)?.type === 'rsa') return 'the RSA private key its values are encrypted to (RFC 6030 §6.3)';
    return 'the pre-shared transport key (RFC 6030 §6.1)';
  }

  #decrypt(resolved: Resolved, cipher: Buffer, field: string): Buffer {
    const { spec, key } = resolved;
    try {
      if (spec.type === 'rsa') return decryptRsa(spec, key as RsaPrivateKey, cipher);
      return decryptSymmetric(spec, key as Buffer, cipher, spec.type === 'cbc' ? this.#decryption.iv ?? this.#ctx.iv : undefined);
    } catch (error) {
      // With a PBKDF2 key, bad padding or a failed unwrap almost always means a wrong password.
      if (error instanceof PskcError && this.#usesPassword() && (error.kind === 'invalid_padding' || error.kind === 'decryption_failed')) {
        throw new PskcError('decryption_failed', `${field} cannot be decrypted: wrong password or modified file`, {}, { cause: error });
      }
      if (error instanceof PskcError) throw this.#pskForPasswordFile(error);
      throw this.#pskForPasswordFile(new PskcError('decryption_failed', `${field} cannot be decrypted`, {}, { cause: error }));
    }
  }

  /** Decrypt one Data value and verify its ValueMAC. */
  open(value: EncryptedData, valueMac: Buffer | undefined, field: string): OpenedValue {
    const resolved = this.#resolve(value);
    const { spec, algorithm } = resolved;
    const canonical = spec.uri;
    if (valueMac === undefined) {
      this.#checkMacMayBeAbsent(spec, field);
      return { plaintext: this.#decrypt(resolved, value.cipher, field), algorithm: canonical, mac: 'none' };
    }

    const macAlgorithm = this.#ctx.macAlgorithm;
    if (macAlgorithm === undefined) {
      throw new PskcError('missing_mac_algorithm', `${field} has a ValueMAC but the container has no MACMethod algorithm`);
    }
    const hmac = lookupHmac(macAlgorithm);
    if (!hmac) throw new PskcError('unsupported_mac_algorithm', `unsupported MAC algorithm ${shown(macAlgorithm)}`);
    const macKey = this.macKey(algorithm);
    const macOf = (data: Buffer): Buffer => createHmac(hmac.digest, macKey).update(data).digest();

    // RFC 6030 §6.1.1: "the MAC value is computed over the ... CipherValue" — check before decrypting.
    if (sameBytes(macOf(value.cipher), valueMac)) {
      return { plaintext: this.#decrypt(resolved, value.cipher, field), algorithm: canonical, mac: 'ciphertext' };
    }
    // Pre-RFC writers (ActivIdentity, draft-hoyer) computed it over the plaintext.
    let plaintext: Buffer | undefined;
    try {
      plaintext = this.#decrypt(resolved, value.cipher, field);
    } catch {
      plaintext = undefined;
    }
    if (plaintext !== undefined && sameBytes(macOf(plaintext), valueMac)) {
      return { plaintext, algorithm: canonical, mac: 'plaintext' };
    }
    // With a wrong password the MAC key decrypts to garbage that almost always fails its padding (see #decrypt),
    // but 1 time in ~256 it unpads, and the wrong password then shows here: say so, as #decrypt does.
    if (this.#usesPassword()) throw new PskcError('mac_mismatch', `${field}: MAC mismatch — wrong password or modified file`);
    throw this.#pskForPasswordFile(new PskcError('mac_mismatch', `${field}: MAC mismatch — wrong transport key or tampered file`));
  }

  /**
   * CBC has no integrity of its own. RFC 6030 §6.1.1 requires a ValueMAC with it; we
   * insist whenever the container declares a MACMethod (so stripping a ValueMAC is not
   * a way around the check), and always with `requireMac`. Key wrap, GCM and RSA values
   * are integrity-checked by their own algorithm.
   */
  #checkMacMayBeAbsent(spec: CipherSpec, field: string): void {
    if (spec.type !== 'cbc') return;
    if (this.#ctx.macAlgorithm !== undefined || this.#options.requireMac) {
      throw new PskcError('missing_mac', `${field} is CBC-encrypted without a ValueMAC (RFC 6030 §6.1.1 requires one)`);
    }
  }
}

function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** RFC 8018 §5.2 PBKDF2 with the parameters of RFC 6030 §6.2. */
function derive(derivation: KeyDerivation, password: string, fallbackLength: number | undefined, maxIterations: number): Buffer {
  if (derivation.kind === 'unsupported') {
    throw new PskcError('incomplete_key_derivation', `unsupported key derivation algorithm "${shown(derivation.algorithm)}" (only PBKDF2)`);
  }
  let digest = 'sha1'; // RFC 8018 Appendix A.2: the default PRF is hmacWithSHA1
  if (derivation.prf !== undefined) {
    const hmac = lookupHmac(derivation.prf);
    if (!hmac) throw new PskcError('unsupported_prf', `unsupported PBKDF2 pseudo-random function ${shown(derivation.prf)}`);
    digest = hmac.digest;
  }
  const keyLength = derivation.keyLength ?? fallbackLength;
  if (!derivation.salt || derivation.salt.length === 0 || !derivation.iterations || !keyLength) {
    throw new PskcError('incomplete_key_derivation', 'the PBKDF2 parameters are incomplete (salt, iteration count and key length are needed)');
  }
  if (derivation.iterations > maxIterations) {
    throw new PskcError('too_large', `PBKDF2 iteration count ${derivation.iterations} exceeds the limit of ${maxIterations}`);
  }
  if (keyLength > 64) throw new PskcError('incomplete_key_derivation', `PBKDF2 key length ${keyLength} is implausible`);
  return pbkdf2Sync(Buffer.from(password, 'utf8'), derivation.salt, derivation.iterations, keyLength, digest);
}
