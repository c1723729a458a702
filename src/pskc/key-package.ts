import { classifyAlgorithm } from './algorithm-kind';
import { PskcError } from './errors';
import { readEncryptedData, type ContainerContext, type EncryptedData } from './header';
import type { KeyMaterial } from './key-material';
import { readPolicy } from './policy';
import type { PskcChallengeFormat, PskcKey, PskcProtection, PskcResponseFormat } from './types';
import { bytesToInteger, checkIntegerRange, parseBase64, parseDataInteger, parseDateTime, parseXsBoolean, parseXsInt } from './values';
import { attribute, childElement, childElements, childText, pathElement, type XmlElement } from './xml-tree';

/** A Data value before decryption: plaintext text, or an encrypted value with its optional ValueMAC. */
type DataValue = { readonly plain: string } | { readonly encrypted: EncryptedData; readonly mac?: Buffer };

type DataField = 'secret' | 'counter' | 'time' | 'timeInterval' | 'timeDrift';

/** RFC 6030 §4.3.2 Data children, and the Name attribute values of the drafts' <Data Name="...">. */
const DATA_ELEMENTS: Record<DataField, string> = {
  secret: 'Secret',
  counter: 'Counter',
  time: 'Time',
  timeInterval: 'TimeInterval',
  timeDrift: 'TimeDrift',
};
/*
 * What each integer Data value may hold. RFC 6030 §11 (schema) types Counter as xs:long and Time,
 * TimeInterval and TimeDrift as xs:int; a value outside its type is not a PSKC value, and the token
 * table (bigint counter and t0, integer period and drift) could not store it anyway. Counter is
 * moreover RFC 4226 §5.1's "C 8-byte counter value, the moving factor", which HOTP and OCRA feed to
 * HMAC as an unsigned number: a negative counter is no counter at all.
 */
const INT32: readonly [bigint, bigint] = [-(2n ** 31n), 2n ** 31n - 1n];
const INTEGER_RANGES: Record<Exclude<DataField, 'secret'>, readonly [bigint, bigint]> = {
  counter: [0n, 2n ** 63n - 1n],
  time: INT32,
  timeInterval: INT32,
  timeDrift: INT32,
};

const LEGACY_DATA_NAMES: Record<string, DataField> = {
  SECRET: 'secret',
  COUNTER: 'counter',
  TIME: 'time',
  TIME_INTERVAL: 'timeInterval',
  TIMEINTERVAL: 'timeInterval',
  TIME_DRIFT: 'timeDrift',
  TIMEDRIFT: 'timeDrift',
};

/** The metadata part of a key: everything but the decrypted values and the verdict. */
export interface KeyDraft {
  readonly meta: Omit<PskcKey, 'secret' | 'counter' | 'time' | 'timeInterval' | 'timeDrift' | 'protection' | 'usable' | 'unusableReason' | 'error'>;
  readonly data: Partial<Record<DataField, DataValue>>;
  readonly problem?: string;
}

/**
 * Parse one <KeyPackage> (draft: <Device>) into drafts, one per <Key> (hoyer-00: <Secret>).
 * Metadata errors (bad integers, booleans, dates) throw: they make the file invalid.
 */
export function readKeyPackage(pkg: XmlElement, ctx: ContainerContext, position: { firstIndex: number; deviceIndex: number; line: number }): KeyDraft[] {
  const { firstIndex, deviceIndex, line } = position;
  const info = childElement(pkg, 'pskc', 'DeviceInfo') ?? childElement(pkg, 'pskc', 'DeviceId');
  const deviceText = (local: string): string | undefined => childText(info, 'pskc', local);
  const deviceDate = (local: string): Date | undefined => {
    const text = deviceText(local);
    return text ? parseDateTime(text, `DeviceInfo ${local}`) : undefined;
  };
  const device = {
    serial: deviceText('SerialNo'),
    manufacturer: deviceText('Manufacturer'),
    model: deviceText('Model'),
    issueNo: deviceText('IssueNo'),
    deviceBinding: deviceText('DeviceBinding'),
    deviceStartDate: deviceDate('StartDate'),
    deviceExpiryDate: deviceDate('ExpiryDate') ?? deviceDate('Expiry'),
    deviceUserId: deviceText('UserId'),
    cryptoModuleId: pathElement(pkg, 'pskc', 'CryptoModuleInfo', 'Id')?.text,
  };

  const keyElements = [...childElements(pkg, 'pskc', 'Key'), ...childElements(pkg, 'pskc', 'Secret')];
  return keyElements.map((key, offset) => {
    const index = firstIndex + offset;
    try {
      return readKey(key, ctx, { ...device, index, line, deviceIndex });
    } catch (error) {
      if (error instanceof PskcError) {
        throw error.locate({ keyIndex: index, serial: device.serial, keyId: attribute(key, 'Id', 'KeyId', 'SecretId'), line });
      }
      throw error;
    }
  });
}

function readKey(key: XmlElement, ctx: ContainerContext, base: Pick<PskcKey, 'index' | 'line' | 'deviceIndex' | 'serial'> & Partial<PskcKey>): KeyDraft {
  const algorithm = attribute(key, 'Algorithm', 'KeyAlgorithm', 'SecretAlgorithm');
  const parameters = childElement(key, 'pskc', 'AlgorithmParameters');
  const usage = childElement(key, 'pskc', 'Usage');
  const algorithmSuite = childText(parameters, 'pskc', 'Suite');
  const classified = classifyAlgorithm(algorithm, algorithmSuite);
  const challengeFormat = readChallengeFormat(childElement(parameters, 'pskc', 'ChallengeFormat') ?? childElement(usage, 'pskc', 'ChallengeFormat'));
  const responseFormat = readResponseFormat(childElement(parameters, 'pskc', 'ResponseFormat') ?? childElement(usage, 'pskc', 'ResponseFormat'));
  const policy = readPolicy(childElement(key, 'pskc', 'Policy'), usage);
  // Drafts put StartDate/ExpiryDate directly on the key.
  const keyStart = childText(key, 'pskc', 'StartDate');
  const keyExpiry = childText(key, 'pskc', 'ExpiryDate');
  if (keyStart) policy.startDate = parseDateTime(keyStart, 'Key StartDate');
  if (keyExpiry) policy.expiryDate = parseDateTime(keyExpiry, 'Key ExpiryDate');

  const keyUserId = childText(key, 'pskc', 'UserId');
  const expiries = [policy.expiryDate, base.deviceExpiryDate].filter((d): d is Date => d !== undefined);
  return {
    meta: {
      ...base,
      id: attribute(key, 'Id', 'KeyId', 'SecretId'),
      issuer: childText(key, 'pskc', 'Issuer'),
      friendlyName: childText(key, 'pskc', 'FriendlyName'),
      keyUserId,
      userId: keyUserId ?? base.deviceUserId,
      keyProfileId: childText(key, 'pskc', 'KeyProfileId'),
      keyReference: childText(key, 'pskc', 'KeyReference'),
      algorithm,
      kind: classified.kind,
      algorithmSuite,
      ocraSuite: classified.ocraSuite,
      hash: classified.hash,
      challengeFormat,
      responseFormat,
      digits: responseFormat?.length,
      responseEncoding: responseFormat?.encoding,
      validFrom: policy.startDate ?? base.deviceStartDate,
      expiry: expiries.length ? new Date(Math.min(...expiries.map((d) => d.getTime()))) : undefined,
      policy,
    },
    data: readData(key, ctx),
    problem: classified.problem,
  };
}

function readFormatCommon(element: XmlElement): { encoding?: string; checkDigits?: boolean } {
  const check = attribute(element, 'CheckDigits', 'CheckDigit');
  return {
    encoding: attribute(element, 'Encoding', 'Format', 'format'),
    checkDigits: check === undefined ? undefined : parseXsBoolean(check, `${element.local} CheckDigits`),
  };
}

function optionalInt(element: XmlElement, field: string, ...names: string[]): number | undefined {
  const value = attribute(element, ...names);
  return value === undefined ? undefined : parseXsInt(value, `${element.local} ${field}`);
}

function readChallengeFormat(element: XmlElement | undefined): PskcChallengeFormat | undefined {
  if (!element) return undefined;
  return { ...readFormatCommon(element), min: optionalInt(element, 'Min', 'Min', 'min'), max: optionalInt(element, 'Max', 'Max', 'max') };
}

function readResponseFormat(element: XmlElement | undefined): PskcResponseFormat | undefined {
  if (!element) return undefined;
  return { ...readFormatCommon(element), length: optionalInt(element, 'Length', 'Length', 'length') };
}

function readData(key: XmlElement, ctx: ContainerContext): Partial<Record<DataField, DataValue>> {
  const data: Partial<Record<DataField, DataValue>> = {};
  const dataElements = childElements(key, 'pskc', 'Data');
  for (const element of dataElements) {
    const name = attribute(element, 'Name');
    if (name !== undefined) {
      const field = LEGACY_DATA_NAMES[name.trim().toUpperCase()];
      const value = field && readLegacyValue(element, ctx);
      if (field && value) data[field] = value;
      continue;
    }
    for (const [field, local] of Object.entries(DATA_ELEMENTS) as [DataField, string][]) {
      const value = readValue(childElement(element, 'pskc', local));
      if (value) data[field] = value;
    }
  }
  return data;
}

/** RFC 6030 §4.3.2 PlainValue | EncryptedValue, with ValueMAC as a sibling (inside EncryptedValue it is misplaced and ignored, as python-pskc does). */
function readValue(element: XmlElement | undefined): DataValue | undefined {
  if (!element) return undefined;
  const plain = childElement(element, 'pskc', 'PlainValue');
  if (plain) return { plain: plain.text };
  const encrypted = childElement(element, 'pskc', 'EncryptedValue');
  if (!encrypted) return undefined;
  const macText = childText(element, 'pskc', 'ValueMAC');
  return { encrypted: readEncryptedData(encrypted), mac: macText === undefined ? undefined : parseBase64(macText, 'ValueMAC') };
}

/**
 * draft-hoyer <Data Name="SECRET"><Value/><ValueDigest/>: the value is encrypted with
 * the container algorithm when the container has one and a digest is present.
 */
function readLegacyValue(element: XmlElement, ctx: ContainerContext): DataValue | undefined {
  const value = childText(element, 'pskc', 'Value');
  if (value === undefined) return undefined;
  const digest = childText(element, 'pskc', 'ValueDigest') ?? childText(element, 'pskc', 'ValueMAC');
  if (ctx.defaultAlgorithm !== undefined && digest !== undefined) {
    return { encrypted: { cipher: parseBase64(value, 'Value') }, mac: parseBase64(digest, 'ValueDigest') };
  }
  return { plain: value };
}

/**
 * Decrypt/convert the Data values of a draft, each on its own, so that a secret that
 * cannot be decrypted (no RSA private key) still leaves the plaintext counter readable.
 * Returns the first error; errors are located by the caller.
 */
export function openKeyData(
  draft: KeyDraft,
  material: KeyMaterial,
): { values: Pick<PskcKey, 'secret' | 'counter' | 'time' | 'timeInterval' | 'timeDrift' | 'protection'>; error?: PskcError } {
  let protection: PskcProtection = { mac: 'none' };
  let firstError: PskcError | undefined;
  const attempt = <T>(convert: () => T): T | undefined => {
    try {
      return convert();
    } catch (error) {
      if (!(error instanceof PskcError)) throw error;
      firstError ??= error;
      return undefined;
    }
  };
  const bytesOf = (field: DataField, value: DataValue): Buffer => {
    if ('plain' in value) return parseBase64(value.plain, DATA_ELEMENTS[field]);
    const opened = material.open(value.encrypted, value.mac, DATA_ELEMENTS[field]);
    if (field === 'secret') protection = { encryptionAlgorithm: opened.algorithm, mac: opened.mac };
    return opened.plaintext;
  };
  const integerOf = (field: Exclude<DataField, 'secret'>): bigint | undefined => {
    const value = draft.data[field];
    if (value === undefined || ('plain' in value && value.plain === '')) return undefined;
    const name = DATA_ELEMENTS[field];
    return attempt(() => {
      const integer = 'plain' in value ? parseDataInteger(value.plain, name) : bytesToInteger(bytesOf(field, value), name);
      return checkIntegerRange(integer, name, ...INTEGER_RANGES[field]);
    });
  };
  const smallIntegerOf = (field: 'timeInterval' | 'timeDrift'): number | undefined => {
    const value = integerOf(field);
    return value === undefined ? undefined : Number(value); // within xs:int: exact as a number
  };

  const secretValue = draft.data.secret;
  const secret =
    secretValue === undefined || ('plain' in secretValue && secretValue.plain === '') ? undefined : attempt(() => bytesOf('secret', secretValue));
  const values = {
    secret,
    counter: integerOf('counter'),
    time: integerOf('time'),
    timeInterval: smallIntegerOf('timeInterval'),
    timeDrift: smallIntegerOf('timeDrift'),
    protection,
  };
  return { values, error: firstError };
}
