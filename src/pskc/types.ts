import type { PskcError } from './errors';

/** Decryption material. Supply only what the file needs; a password for a file without PBKDF2 is an error. */
export interface PskcDecryption {
  /** Pre-shared transport key (RFC 6030 §6.1), or a PBKDF2-derived key given directly. */
  psk?: Buffer;
  /** Passphrase for a PBKDF2-derived key (RFC 6030 §6.2). */
  password?: string;
  /** RSA private key for asymmetric transport (RFC 6030 §6.3). */
  privateKeyPem?: string;
  /** Or the same key in a PKCS#12 file. */
  pkcs12?: Buffer;
  pkcs12Password?: string;
  /** CBC IV for files that neither prepend it nor carry a container-level <IV>. */
  iv?: Buffer;
}

export interface PskcReadOptions {
  /** Refuse larger documents (default 512 MiB). */
  maxBytes?: number;
  /** Refuse any single KeyPackage / header element, and any single comment, PI, CDATA section or tag anywhere, larger than this (default 1 MiB). */
  maxPackageBytes?: number;
  /**
   * 'throw' (default): the first key that cannot be read ends the import with its PskcError.
   * 'report': such keys are returned with `error` set, no secret and `usable: false`.
   */
  keyErrors?: 'throw' | 'report';
  /** Refuse CBC-encrypted values that carry no ValueMAC even when the file declares no MACMethod. */
  requireMac?: boolean;
  /** Clock for the expiry part of `usable` (default: now). */
  now?: Date;
  /** Upper bound on PBKDF2 iterations, against files crafted to burn CPU (default 10 000 000). */
  maxPbkdf2Iterations?: number;
}

export type PskcKeyKind = 'hotp' | 'totp' | 'ocra' | 'unsupported';

/** RFC 6030 §5 key policy. */
export interface PskcPolicy {
  startDate?: Date;
  expiryDate?: Date;
  numberOfTransactions?: bigint;
  /** KeyUsage elements plus the usage attributes of the drafts' <Usage> element. */
  keyUsage: string[];
  pinPolicy?: {
    pinKeyId?: string;
    pinUsageMode?: string;
    maxFailedAttempts?: number;
    minLength?: number;
    maxLength?: number;
    pinEncoding?: string;
  };
  /** Names of policy elements/attributes we do not understand. RFC 6030 §5: such a key MUST NOT be used. */
  unknownElements: string[];
  /** The PIN, resolved from the key PINKeyId points at (readPskc only; streaming cannot look ahead). */
  pin?: string;
}

export interface PskcFormat {
  encoding?: string;
  checkDigits?: boolean;
}

export interface PskcChallengeFormat extends PskcFormat {
  min?: number;
  max?: number;
}

export interface PskcResponseFormat extends PskcFormat {
  length?: number;
}

/** How the secret was protected and what was verified. */
export interface PskcProtection {
  /** Canonical URI of the cipher of the secret, undefined for a plaintext secret. */
  encryptionAlgorithm?: string;
  /**
   * 'ciphertext': ValueMAC verified over IV+ciphertext (RFC 6030 §6.1.1);
   * 'plaintext': verified over the plaintext (pre-RFC writers);
   * 'none': no ValueMAC (key wrap, GCM and RSA carry their own integrity; plain CBC then has none).
   */
  mac: 'ciphertext' | 'plaintext' | 'none';
}

export interface PskcKey {
  /** 0-based position of the key in document order. */
  index: number;
  /** 1-based line of the KeyPackage holding the key. */
  line: number;
  /** 0-based position of its KeyPackage (one device can hold several keys). */
  deviceIndex: number;
  id?: string;
  // Device (RFC 6030 §4.3.1 DeviceInfo)
  serial?: string;
  manufacturer?: string;
  model?: string;
  issueNo?: string;
  deviceBinding?: string;
  deviceStartDate?: Date;
  deviceExpiryDate?: Date;
  deviceUserId?: string;
  cryptoModuleId?: string;
  // Key (RFC 6030 §4.3.2)
  issuer?: string;
  friendlyName?: string;
  keyUserId?: string;
  /** keyUserId, else deviceUserId. */
  userId?: string;
  keyProfileId?: string;
  keyReference?: string;
  /** The Algorithm URI exactly as written (legacy forms such as "HOTP" included). */
  algorithm?: string;
  kind: PskcKeyKind;
  /** AlgorithmParameters/Suite as written. */
  algorithmSuite?: string;
  /** For kind 'ocra': the suite, from <Suite> or the Algorithm URI fragment. */
  ocraSuite?: string;
  /** HMAC hash for HOTP/TOTP, from a "HMAC-SHA256"-style suite; sha1 by default (RFC 4226). */
  hash?: 'sha1' | 'sha256' | 'sha512';
  challengeFormat?: PskcChallengeFormat;
  responseFormat?: PskcResponseFormat;
  /** responseFormat.length. */
  digits?: number;
  /** responseFormat.encoding. */
  responseEncoding?: string;
  /** The decrypted secret. Never log it. */
  secret?: Buffer;
  counter?: bigint;
  /** <Time>: T0 / time value for time-based algorithms. */
  time?: bigint;
  timeInterval?: number;
  timeDrift?: number;
  /** Policy start date, else the device start date. */
  validFrom?: Date;
  /** The earlier of the policy and device expiry dates. */
  expiry?: Date;
  policy: PskcPolicy;
  protection: PskcProtection;
  /** False when the key must not be imported for OTP use; `unusableReason` says why. */
  usable: boolean;
  unusableReason?: string;
  /** Only with keyErrors 'report': why the key could not be read. */
  error?: PskcError;
}

export interface PskcHeader {
  /** Namespace URI of the KeyContainer element. */
  namespace: string;
  /** True for pre-RFC formats (draft namespaces, SecretContainer). */
  legacy: boolean;
  version?: string;
  id?: string;
  /** ds:KeyName / MasterKeyName / CarriedKeyName values naming the transport key. */
  keyNames: string[];
  keyProtection: 'none' | 'pre-shared-key' | 'password' | 'asymmetric';
  /** Container-level cipher (EncryptionKey / legacy EncryptionMethod), canonical URI. */
  encryptionAlgorithm?: string;
  /** Container-level CBC IV (ActivIdentity layout). */
  encryptionIv?: Buffer;
  pbkdf2?: { iterations?: number; salt?: Buffer; keyLength?: number; prf?: string };
  macAlgorithm?: string;
  /** True when MACMethod carries an encrypted MACKey (else the legacy rule: MAC key = transport key). */
  hasMacKey: boolean;
}

export interface PskcSignatureInfo {
  algorithm?: string;
  canonicalizationMethod?: string;
  digestAlgorithm?: string;
  issuer?: string;
  serial?: string;
  /** XML-DSig is not verified (fast-xml-parser offers no canonicalisation). */
  verified: false;
}

export interface PskcContainer extends PskcHeader {
  keys: PskcKey[];
  signature?: PskcSignatureInfo;
}
