import { shown } from './shown';
import { canonicalAlgorithm, isLegacyPasswordCipher, isNoEncryption, lookupCipher } from './algorithms';
import { PskcError } from './errors';
import { isLegacyPskcNamespace } from './namespaces';
import type { PskcHeader, PskcSignatureInfo } from './types';
import { parseBase64, parseXsInt } from './values';
import { attribute, childElement, childElements, childText, pathElement, type NamespaceScope, type XmlElement } from './xml-tree';

/** An xenc EncryptedValue-like structure: CipherValue plus the algorithm named next to it, if any. */
export interface EncryptedData {
  readonly cipher: Buffer;
  /** The algorithm URI as written, undefined when the value names none. */
  readonly algorithm?: string;
}

export type KeyDerivation =
  | { readonly kind: 'pbkdf2'; readonly salt?: Buffer; readonly iterations?: number; readonly keyLength?: number; readonly prf?: string }
  | { readonly kind: 'unsupported'; readonly algorithm: string };

/** Everything from the container header that decrypting a KeyPackage needs. */
export interface ContainerContext {
  readonly header: PskcHeader;
  /** Namespace declarations in scope for depth-1 children (those of the root). */
  readonly scope: NamespaceScope;
  /** Container-level cipher as written (legacy EncryptionMethod / EncryptionKey@Algorithm). */
  readonly defaultAlgorithm?: string;
  readonly iv?: Buffer;
  readonly derivation?: KeyDerivation;
  readonly macAlgorithm?: string;
  readonly macKey?: EncryptedData;
  /** True when EncryptionKey names an RSA key (ds:X509Data / ds:KeyValue, RFC 6030 §6.3). */
  readonly asymmetric: boolean;
}

/** RFC 6030 §4: Version "1.0"; draft-ietf-keyprov-pskc-02 Figure 9 writes "1" under the final namespace. */
const SUPPORTED_VERSIONS = ['1.0', '1'];

/**
 * RFC 6030 §4: the root is <KeyContainer Version="1.0"> in the PSKC namespace. The
 * pre-RFC drafts are accepted as the corpus requires: their namespaces, the hoyer-00
 * <SecretContainer version="1.2">, and KeyContainers without a Version.
 */
export function checkRoot(root: XmlElement): { legacy: boolean; version?: string; id?: string } {
  if (root.local !== 'KeyContainer' && root.local !== 'SecretContainer') {
    throw new PskcError('not_a_key_container', `the root element is <${shown(root.local)}>, not a PSKC <KeyContainer>`);
  }
  if (root.group !== 'pskc') {
    throw new PskcError('unsupported_namespace', `<${shown(root.local)}> is in namespace "${shown(root.ns)}", not the PSKC namespace`);
  }
  const legacy = root.local === 'SecretContainer' || isLegacyPskcNamespace(root.ns);
  const version = attribute(root, 'Version', 'version');
  if (root.local === 'KeyContainer') {
    if (version === undefined && !legacy) {
      throw new PskcError('unsupported_version', 'the KeyContainer has no Version attribute (RFC 6030 §4 requires "1.0")');
    }
    if (version !== undefined && !SUPPORTED_VERSIONS.includes(version.trim())) {
      throw new PskcError('unsupported_version', `unsupported PSKC version "${shown(version)}" (only 1.0 is defined)`);
    }
  }
  return { legacy, version, id: attribute(root, 'Id', 'ID', 'id') };
}

/** Build the container context from the root and the header elements seen before the first KeyPackage. */
export function readHeader(root: XmlElement, scope: NamespaceScope, headerElements: readonly XmlElement[]): ContainerContext {
  const { legacy, version, id } = checkRoot(root);
  const keyNames: string[] = [];
  let defaultAlgorithm: string | undefined;
  let iv: Buffer | undefined;
  let derivation: KeyDerivation | undefined;
  let asymmetric = false;
  let sawEncryptionKey = false;
  let macAlgorithm: string | undefined;
  let macKey: EncryptedData | undefined;

  for (const element of headerElements) {
    if (element.group !== 'pskc') continue;
    switch (element.local) {
      case 'EncryptionKey':
      case 'EncryptionMethod': {
        sawEncryptionKey = true;
        const written = attribute(element, 'Algorithm', 'algorithm');
        if (!isNoEncryption(written)) defaultAlgorithm = written;
        for (const name of childElements(element, 'dsig', 'KeyName')) keyNames.push(name.text);
        const ivText = childText(element, 'pskc', 'IV');
        if (ivText !== undefined) iv = parseBase64(ivText, 'EncryptionMethod IV');
        if (childElement(element, 'dsig', 'X509Data') || childElement(element, 'dsig', 'KeyValue')) asymmetric = true;
        derivation = readDerivedKey(element, keyNames) ?? readLegacyPbe(element, written) ?? derivation;
        break;
      }
      case 'MACMethod':
      case 'DigestMethod': {
        macAlgorithm = attribute(element, 'Algorithm', 'algorithm') ?? macAlgorithm;
        const keyElement = childElement(element, 'pskc', 'MACKey');
        if (keyElement) macKey = readEncryptedData(keyElement);
        break;
      }
      case 'MACAlgorithm':
        // draft-ietf-keyprov-pskc-02 names the MAC algorithm in its own element.
        if (element.text) macAlgorithm = element.text;
        break;
      default:
        break;
    }
  }

  const keyProtection: PskcHeader['keyProtection'] = asymmetric
    ? 'asymmetric'
    : derivation
      ? 'password'
      : sawEncryptionKey && (keyNames.length > 0 || defaultAlgorithm !== undefined)
        ? 'pre-shared-key'
        : 'none';
  const pbkdf2 = derivation?.kind === 'pbkdf2' ? derivation : undefined;
  const header: PskcHeader = {
    namespace: root.ns,
    legacy,
    version,
    id,
    keyNames,
    keyProtection,
    encryptionAlgorithm: canonicalAlgorithm(defaultAlgorithm),
    encryptionIv: iv,
    pbkdf2: pbkdf2 && { iterations: pbkdf2.iterations, salt: pbkdf2.salt, keyLength: pbkdf2.keyLength, prf: pbkdf2.prf },
    macAlgorithm: canonicalAlgorithm(macAlgorithm),
    hasMacKey: macKey !== undefined,
  };
  return { header, scope, defaultAlgorithm, iv, derivation, macAlgorithm, macKey, asymmetric };
}

/** RFC 6030 §6.2: xenc11:DerivedKey with a PKCS#5 PBKDF2 KeyDerivationMethod (draft-02 put DerivedKey in the PSKC namespace). */
function readDerivedKey(encryptionKey: XmlElement, keyNames: string[]): KeyDerivation | undefined {
  const derivedKey = childElement(encryptionKey, ['xenc11', 'pskc'], 'DerivedKey');
  if (!derivedKey) return undefined;
  for (const local of ['MasterKeyName', 'CarriedKeyName']) {
    for (const name of childElements(derivedKey, ['xenc11', 'pskc', 'xenc'], local)) keyNames.push(name.text);
  }
  const method = childElement(derivedKey, ['xenc11', 'pskc'], 'KeyDerivationMethod');
  const algorithm = attribute(method, 'Algorithm') ?? '';
  if (!/#pbkdf2$/i.test(algorithm.trim())) return { kind: 'unsupported', algorithm };
  // PKCS#5 v2.0 XML schema: PBKDF2-params with unqualified children; the xenc11 schema qualifies them.
  const params = childElement(method, ['pkcs5', 'xenc11'], 'PBKDF2-params');
  const inner = ['pkcs5', 'xenc11', 'none'] as const;
  const saltText = pathElement(params, inner, 'Salt', 'Specified')?.text;
  const iterationsText = childText(params, inner, 'IterationCount');
  const keyLengthText = childText(params, inner, 'KeyLength');
  const prfElement = childElement(params, inner, 'PRF');
  const prf = attribute(prfElement, 'Algorithm');
  return {
    kind: 'pbkdf2',
    salt: saltText ? parseBase64(saltText, 'PBKDF2 Salt') : undefined,
    iterations: iterationsText ? parseXsInt(iterationsText, 'PBKDF2 IterationCount') : undefined,
    keyLength: keyLengthText ? parseXsInt(keyLengthText, 'PBKDF2 KeyLength') : undefined,
    prf: prf?.trim() ? prf.trim() : undefined,
  };
}

/** draft-hoyer-keyprov: <EncryptionMethod algorithm="PBE-3DES112-CBC"><PBESalt/><PBEIterationCount/>. */
function readLegacyPbe(method: XmlElement, written: string | undefined): KeyDerivation | undefined {
  if (written === undefined || !isLegacyPasswordCipher(written)) return undefined;
  const salt = childText(method, 'pskc', 'PBESalt');
  const iterations = childText(method, 'pskc', 'PBEIterationCount');
  const spec = lookupCipher(written);
  return {
    kind: 'pbkdf2',
    salt: salt ? parseBase64(salt, 'PBESalt') : undefined,
    iterations: iterations ? parseXsInt(iterations, 'PBEIterationCount') : undefined,
    // The drafts give no key length: use the cipher's smallest (two-key 3DES for PBE-3DES112).
    keyLength: spec && spec.type !== 'rsa' ? spec.keyLengths[0] : undefined,
  };
}

/**
 * xenc:EncryptedData content: EncryptionMethod/@Algorithm and CipherData/CipherValue.
 * draft-02 wraps the cipher in a PBES2 EncryptionMethod with an <EncryptionScheme> child.
 */
export function readEncryptedData(element: XmlElement): EncryptedData {
  const method = childElement(element, 'xenc', 'EncryptionMethod');
  const scheme = childElement(method, ['pskc', 'xenc', 'xenc11'], 'EncryptionScheme');
  const algorithm = attribute(scheme, 'Algorithm') ?? attribute(method, 'Algorithm');
  const cipherText = pathElement(element, 'xenc', 'CipherData', 'CipherValue')?.text ?? '';
  return {
    cipher: parseBase64(cipherText, 'CipherValue'),
    algorithm: algorithm?.trim() ? algorithm.trim() : undefined,
  };
}

/** Facts about an XML-DSig <Signature> (verification is out of scope, see PskcSignatureInfo). */
export function readSignature(signature: XmlElement): PskcSignatureInfo {
  const signedInfo = childElement(signature, 'dsig', 'SignedInfo');
  const issuerSerial = pathElement(signature, 'dsig', 'KeyInfo', 'X509Data', 'X509IssuerSerial');
  return {
    algorithm: attribute(childElement(signedInfo, 'dsig', 'SignatureMethod'), 'Algorithm'),
    canonicalizationMethod: attribute(childElement(signedInfo, 'dsig', 'CanonicalizationMethod'), 'Algorithm'),
    digestAlgorithm: attribute(pathElement(signedInfo, 'dsig', 'Reference', 'DigestMethod'), 'Algorithm'),
    issuer: childText(issuerSerial, 'dsig', 'X509IssuerName'),
    serial: childText(issuerSerial, 'dsig', 'X509SerialNumber'),
    verified: false,
  };
}
