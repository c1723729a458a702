import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DocumentReader } from '../../src/pskc/document-reader';
import { CONFORMANCE_DIR } from '../support/shared';
import { expectKind } from './expect-kind';
import { PskcError, isPskcError, mayUseKey, readPskc, streamPskcFile, type PskcContainer, type PskcDecryption, type PskcKey } from '../../src/pskc';
import type { KeyMaterial } from '../../src/pskc/key-material';
import { XmlScanner } from '../../src/pskc/xml-scanner';

/*
 * Every entry of the shared corpus manifest (conformance/README.md, "Using the manifest
 * in a test suite"). Each manifest field is mapped to an assertion below; a field with
 * no mapping fails the test, so nothing the manifest asserts goes unchecked.
 */

const CORPUS = join(CONFORMANCE_DIR, 'pskc');

interface ManifestDecryption {
  pre_shared_key_hex?: string;
  password?: string;
  iv_hex?: string;
  key_name?: string;
}
interface ManifestEntry {
  file: string;
  decryption: ManifestDecryption | null;
  expected: { ok: boolean; error_kind?: string; keys?: Record<string, unknown>[] };
  stage?: 'parse' | 'derive_key' | 'decrypt';
  [field: string]: unknown;
}

const manifest = JSON.parse(readFileSync(join(CORPUS, 'manifest.json'), 'utf8')) as { entries: ManifestEntry[] };

function decryptionOf(material: ManifestDecryption | null | undefined): PskcDecryption {
  const decryption: PskcDecryption = {};
  if (material?.pre_shared_key_hex !== undefined) decryption.psk = Buffer.from(material.pre_shared_key_hex, 'hex');
  if (material?.password !== undefined) decryption.password = material.password;
  if (material?.iv_hex !== undefined) decryption.iv = Buffer.from(material.iv_hex, 'hex');
  return decryption;
}

function fileOf(entry: ManifestEntry): Buffer {
  return readFileSync(join(CORPUS, entry.file));
}

/** Dates: a trailing Z is UTC; naive values (pre-RFC drafts) are read as UTC too. */
function dateOf(text: string): Date {
  return new Date(/Z$|[+-]\d\d:\d\d$/.test(text) ? text : `${text}Z`);
}


/** The container's KeyMaterial, to check derived and MAC keys the manifest asserts. */
function materialOf(xml: Buffer, decryption: PskcDecryption): KeyMaterial {
  const scanner = new XmlScanner({ maxBytes: 1 << 24, maxChildBytes: 1 << 20 });
  const reader = new DocumentReader(decryption, { keyErrors: 'report' });
  for (const event of [...scanner.push(xml.toString('utf8')), ...scanner.finish()]) reader.onEvent(event);
  return reader.material as KeyMaterial;
}

const optionalBigint = (value: unknown): bigint | undefined => (value === null ? undefined : BigInt(value as number));

/** Manifest key field -> assertion on our PskcKey. */
const KEY_FIELD_CHECKS: Record<string, (key: PskcKey, expected: never) => void> = {
  index: () => undefined, // used to find the key
  secret_hex: (key, hex: string | null) => expect(key.secret?.toString('hex')).toBe(hex ?? undefined),
  secret_present: (key, present: boolean) => expect((key.secret?.length ?? 0) > 0).toBe(present),
  secret_error_kind: (key, kind: string) => expect(key.error?.kind).toBe(kind),
  mac_ok: (key, ok: boolean) => {
    expect(key.error).toBeUndefined();
    expect(key.protection.mac !== 'none').toBe(ok);
  },
  serial: (key, v: string) => expect(key.serial).toBe(v),
  id: (key, v: string) => expect(key.id).toBe(v),
  algorithm: (key, v: string) => expect(key.algorithm).toBe(v),
  algorithm_endswith: (key, v: string) => expect(key.algorithm?.endsWith(v)).toBe(true),
  algorithm_suite: (key, v: string) => {
    expect(key.algorithmSuite ?? key.ocraSuite).toBe(v);
    if (key.kind === 'ocra') expect(key.ocraSuite).toBe(v);
  },
  digits: (key, v: number) => expect(key.digits).toBe(v),
  response_encoding: (key, v: string) => expect(key.responseEncoding).toBe(v),
  response_check: (key, v: boolean | null) => expect(key.responseFormat?.checkDigits).toBe(v ?? undefined),
  challenge_encoding: (key, v: string) => expect(key.challengeFormat?.encoding).toBe(v),
  challenge_min_length: (key, v: number) => expect(key.challengeFormat?.min).toBe(v),
  challenge_max_length: (key, v: number) => expect(key.challengeFormat?.max).toBe(v),
  challenge_check: (key, v: boolean | null) => expect(key.challengeFormat?.checkDigits).toBe(v ?? undefined),
  counter: (key, v: number | null) => expect(key.counter).toBe(optionalBigint(v)),
  time_offset: (key, v: number) => expect(key.time).toBe(BigInt(v)),
  time_interval: (key, v: number) => expect(key.timeInterval).toBe(v),
  time_drift: (key, v: number) => expect(key.timeDrift).toBe(v),
  issuer: (key, v: string) => expect(key.issuer).toBe(v),
  manufacturer: (key, v: string) => expect(key.manufacturer).toBe(v),
  friendly_name: (key, v: string) => expect(key.friendlyName).toBe(v),
  user_id: (key, v: string) => expect(key.userId).toBe(v),
  key_userid: (key, v: string) => expect(key.keyUserId).toBe(v),
  device_userid: (key, v: string) => expect(key.deviceUserId).toBe(v),
  crypto_module: (key, v: string) => expect(key.cryptoModuleId).toBe(v),
  key_profile: (key, v: string) => expect(key.keyProfileId).toBe(v),
  key_reference: (key, v: string) => expect(key.keyReference).toBe(v),
  start_date: (key, v: string) => expect(key.deviceStartDate).toEqual(dateOf(v)),
  expiry_date: (key, v: string) => expect(key.deviceExpiryDate).toEqual(dateOf(v)),
  may_use_otp: (key, table: Record<string, boolean>) => {
    for (const [at, allowed] of Object.entries(table)) expect([at, mayUseKey(key, 'OTP', dateOf(at))]).toEqual([at, allowed]);
  },
  policy: (key, policy: Record<string, unknown>) => {
    for (const [field, value] of Object.entries(policy)) {
      const check = POLICY_FIELD_CHECKS[field];
      if (!check) throw new Error(`unmapped manifest policy field ${field}`);
      check(key, value as never);
    }
  },
};

const POLICY_FIELD_CHECKS: Record<string, (key: PskcKey, expected: never) => void> = {
  start_date: (key, v: string) => expect(key.policy.startDate).toEqual(dateOf(v)),
  expiry_date: (key, v: string) => expect(key.policy.expiryDate).toEqual(dateOf(v)),
  number_of_transactions: (key, v: number) => expect(key.policy.numberOfTransactions).toBe(BigInt(v)),
  key_usage: (key, v: string[]) => expect(key.policy.keyUsage).toEqual(v),
  unknown_policy_elements: (key, v: boolean) => expect(key.policy.unknownElements.length > 0).toBe(v),
  pin: (key, v: string | null) => expect(key.policy.pin).toBe(v ?? undefined),
  pin_min_length: (key, v: number) => expect(key.policy.pinPolicy?.minLength).toBe(v),
  pin_max_length: (key, v: number) => expect(key.policy.pinPolicy?.maxLength).toBe(v),
  pin_key_id: (key, v: string) => expect(key.policy.pinPolicy?.pinKeyId).toBe(v),
  pin_encoding: (key, v: string) => expect(key.policy.pinPolicy?.pinEncoding).toBe(v),
  pin_usage: (key, v: string) => expect(key.policy.pinPolicy?.pinUsageMode).toBe(v),
};

/** Entry-level manifest fields -> assertions on the container (or on the key material). */
type EntryCheck = (entry: ManifestEntry, container: PskcContainer, value: never) => void;
const ENTRY_FIELD_CHECKS: Record<string, EntryCheck> = {
  container_id: (_e, c, v: string) => expect(c.id).toBe(v),
  version: (_e, c, v: string) => expect(c.version).toBe(v),
  encryption_algorithm: (_e, c, v: string) => expect(c.encryptionAlgorithm).toBe(v),
  mac_algorithm: (_e, c, v: string) => expect(c.macAlgorithm).toBe(v),
  global_iv_hex: (_e, c, v: string) => expect(c.encryptionIv?.toString('hex')).toBe(v),
  key_count: (_e, c, v: number) => expect(c.keys).toHaveLength(v),
  device_count: (_e, c, v: number) => expect(new Set(c.keys.map((k) => k.deviceIndex)).size).toBe(v),
  pbkdf2: (_e, c, v: { iterations: number; salt_hex: string }) => {
    expect(c.pbkdf2?.iterations).toBe(v.iterations);
    expect(c.pbkdf2?.salt?.toString('hex')).toBe(v.salt_hex);
  },
  derived_key_hex: (e, _c, v: string) => {
    const material = materialOf(fileOf(e), { password: e.decryption?.password });
    expect(material.transportKey().toString('hex')).toBe(v);
  },
  mac_key_hex: (e, c, v: string) => {
    const material = materialOf(fileOf(e), decryptionOf(e.decryption));
    expect(material.macKey(c.encryptionAlgorithm).toString('hex')).toBe(v);
  },
  signature: (_e, c, v: Record<string, unknown>) => {
    expect(v.signed).toBe(c.signature !== undefined);
    expect(c.signature).toMatchObject({
      algorithm: v.algorithm,
      canonicalizationMethod: v.canonicalization_method,
      digestAlgorithm: v.digest_algorithm,
      issuer: v.issuer,
      serial: v.serial,
    });
    // Not verifiable: the signing certificate was never published; we never claim verification.
    expect(v.verifiable).toBe(false);
    expect(c.signature?.verified).toBe(false);
  },
};

/** Descriptive fields and those handled by the test flow itself. */
const ENTRY_META_FIELDS = new Set([
  'file', 'description', 'origin', 'key_protection', 'decryption', 'expected', 'notes', 'partial', 'stage',
  'without_decryption', 'negative_checks', 'parsed_key', 'recovery',
]);

/** The one file modification a negative check asks for. */
const MODIFICATIONS: Record<string, (xml: string) => string> = {
  'set PBKDF2 PRF to an unknown value': (xml) => {
    expect(xml).toContain('<PRF/>');
    return xml.replace('<PRF/>', '<PRF Algorithm="urn:example:prf:unknown"/>');
  },
};

function checkKeys(container: PskcContainer, expectedKeys: Record<string, unknown>[]): void {
  for (const expected of expectedKeys) {
    const key = container.keys[expected.index as number];
    expect(key).toBeDefined();
    for (const [field, value] of Object.entries(expected)) {
      const check = KEY_FIELD_CHECKS[field];
      if (!check) throw new Error(`unmapped manifest key field ${field}`);
      check(key, value as never);
    }
  }
}

const okEntries = manifest.entries.filter((e) => e.expected.ok);
const failingEntries = manifest.entries.filter((e) => !e.expected.ok);

test('the manifest covers 78 files, each once', () => {
  expect(manifest.entries).toHaveLength(78);
  expect(new Set(manifest.entries.map((e) => e.file)).size).toBe(78);
});

describe.each(okEntries.map((e) => [e.file, e] as const))('%s reads as the manifest says', (_file, entry) => {
  const decryption = decryptionOf(entry.decryption);

  test('keys and container fields', () => {
    const container = readPskc(fileOf(entry), decryption, { keyErrors: 'report' });
    checkKeys(container, entry.expected.keys ?? []);
    for (const [field, value] of Object.entries(entry)) {
      if (ENTRY_META_FIELDS.has(field)) continue;
      const check = ENTRY_FIELD_CHECKS[field];
      if (!check) throw new Error(`unmapped manifest entry field ${field}`);
      check(entry, container, value as never);
    }
    // Whatever the file, a key either has a secret or says why it is unusable.
    for (const key of container.keys) if (!key.usable) expect(key.unusableReason).toBeTruthy();
  });

  test('strict mode agrees unless a secret is undecryptable by design', () => {
    const expectedError = entry.expected.keys?.find((k) => k.secret_error_kind)?.secret_error_kind as string | undefined;
    if (expectedError) expectKind(() => readPskc(fileOf(entry), decryption), expectedError);
    else expect(readPskc(fileOf(entry), decryption).keys.every((k) => k.error === undefined)).toBe(true);
  });

  test('streaming yields the same keys', async () => {
    const whole = readPskc(fileOf(entry), decryption, { keyErrors: 'report' });
    const stream = streamPskcFile(join(CORPUS, entry.file), decryption, { keyErrors: 'report' });
    expect((await stream.header()).id).toBe(whole.id);
    const streamed: PskcKey[] = [];
    for await (const key of stream) streamed.push(key);
    const summary = (k: PskcKey) => [k.index, k.id, k.serial, k.secret?.toString('hex'), k.counter, k.error?.kind, k.usable];
    expect(streamed.map(summary)).toEqual(whole.keys.map(summary));
  });

  if (entry.without_decryption) {
    const { error_kind } = entry.without_decryption as { error_kind: string };
    test(`without decryption material: ${error_kind}`, () => {
      expectKind(() => readPskc(fileOf(entry), {}), error_kind);
    });
  }

  for (const check of (entry.negative_checks ?? []) as { decryption: ManifestDecryption; error_kind: string; modify?: string }[]) {
    test(`negative check ${JSON.stringify(check.decryption)}${check.modify ? ` (${check.modify})` : ''}: ${check.error_kind}`, () => {
      let xml = fileOf(entry).toString('utf8');
      if (check.modify) {
        const modify = MODIFICATIONS[check.modify];
        if (!modify) throw new Error(`unmapped modification ${check.modify}`);
        xml = modify(xml);
      }
      expectKind(() => readPskc(xml, decryptionOf(check.decryption)), check.error_kind);
    });
  }
});

describe.each(failingEntries.map((e) => [e.file, e] as const))('%s is refused as the manifest says', (_file, entry) => {
  const decryption = decryptionOf(entry.decryption);
  const kind = entry.expected.error_kind as string;

  test(`fails with ${kind} (stage ${entry.stage})`, () => {
    expectKind(() => readPskc(fileOf(entry), decryption), kind);
  });

  test('never yields a secret, even in report mode', () => {
    if (entry.stage === 'parse') {
      expectKind(() => readPskc(fileOf(entry), decryption, { keyErrors: 'report' }), kind);
      return;
    }
    const container = readPskc(fileOf(entry), decryption, { keyErrors: 'report' });
    for (const key of container.keys) {
      expect(key.secret).toBeUndefined();
      expect(key.usable).toBe(false);
      expect(key.error?.kind).toBe(kind);
    }
    const parsed = entry.parsed_key as { index: number; id: string } | undefined;
    if (parsed) expect(container.keys[parsed.index].id).toBe(parsed.id);
    // The message names the key, for the operator.
    expect(container.keys[0].error?.message).toMatch(/^key 0/);
  });

  if (entry.without_decryption) {
    const { error_kind } = entry.without_decryption as { error_kind: string };
    test(`without decryption material: ${error_kind}`, () => {
      expectKind(() => readPskc(fileOf(entry), {}), error_kind);
    });
  }

  for (const field of Object.keys(entry)) {
    if (ENTRY_META_FIELDS.has(field)) continue;
    test(`asserted field ${field}`, () => {
      const check = ENTRY_FIELD_CHECKS[field];
      if (!check) throw new Error(`unmapped manifest entry field ${field}`);
      check(entry, readPskc(fileOf(entry), decryption, { keyErrors: 'report' }), entry[field] as never);
    });
  }
});

describe('usability of keys the server cannot verify (README "Notes for an HOTP/TOTP/OCRA server")', () => {
  const NOW = new Date('2016-03-23T00:00:00Z');
  test.each([
    ['draft-hoyer-keyprov-pskc-algorithm-profiles-01/securid-aes-counter.pskcxml', 0, /not HOTP, TOTP or OCRA/],
    ['draft-hoyer-keyprov-pskc-algorithm-profiles-01/actividentity-3des.pskcxml', 0, /not HOTP, TOTP or OCRA/],
    ['yubico/example1.pskcxml', 0, /not HOTP, TOTP or OCRA/],
    ['rfc6030/figure5.pskcxml', 1, /not HOTP, TOTP or OCRA/], // the PIN key
    ['rfc6030/figure4.pskcxml', 0, /no secret/],
    ['rfc6030/figure10.pskcxml', 0, /expired on 2006-05-31/],
    ['misc/policy.pskcxml', 1, /RFC 6030 §5/],
    ['misc/policy.pskcxml', 2, /RFC 6030 §5/],
    ['misc/policy.pskcxml', 3, /RFC 6030 §5/],
  ])('%s key %d is unusable: %s', (file, index, reason) => {
    const key = readPskc(readFileSync(join(CORPUS, file)), {}, { now: NOW }).keys[index];
    expect(key.usable).toBe(false);
    expect(key.unusableReason).toMatch(reason);
  });

  test.each([
    ['rfc6030/figure5.pskcxml', 0, 'hotp'],
    ['misc/policy.pskcxml', 0, 'hotp'],
    ['draft-hoyer-keyprov-pskc-algorithm-profiles-01/totp.pskcxml', 0, 'totp'],
    ['draft-hoyer-keyprov-pskc-algorithm-profiles-01/ocra.pskcxml', 0, 'ocra'],
  ])('%s key %d is a usable %s key at 2016-03-23', (file, index, kind) => {
    const key = readPskc(readFileSync(join(CORPUS, file)), {}, { now: NOW }).keys[index];
    expect([key.kind, key.usable, key.unusableReason]).toEqual([kind, true, undefined]);
  });

  test('OCRA suites come from the Algorithm URI or the Suite element', () => {
    const inUri = readPskc(readFileSync(join(CORPUS, 'draft-hoyer-keyprov-pskc-algorithm-profiles-01/ocra.pskcxml'))).keys[0];
    expect(inUri.ocraSuite).toBe('OCRA-1:HOTP-SHA512-8:C-QN08');
    const inSuite = readPskc(readFileSync(join(CORPUS, 'nagraid/file1.pskcxml')), { psk: Buffer.from('4a057f6ab6fcb57ab5408e46a9835e68', 'hex') }).keys[0];
    expect([inSuite.kind, inSuite.ocraSuite]).toEqual(['ocra', 'OCRA-1:HOTP-SHA1-6:C-QN08-PSHA1']);
  });
});
