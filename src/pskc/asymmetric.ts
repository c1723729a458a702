import { constants, createPrivateKey, privateDecrypt, publicEncrypt, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import type { CipherSpec } from './algorithms';
import { PskcError } from './errors';

/**
 * RFC 6030 §6.3 asymmetric key transport. RSA-OAEP runs in node:crypto. RSAES-PKCS1-v1_5
 * private decryption is refused by Node 20 (CVE-2023-46809, the Marvin attack), so it
 * goes through node-forge; that is acceptable here because an offline file import is
 * not a padding oracle an attacker can query.
 */
export interface RsaPrivateKey {
  readonly node: KeyObject;
  readonly forge: forge.pki.rsa.PrivateKey;
}

export function loadPrivateKeyPem(pem: string): RsaPrivateKey {
  try {
    const node = createPrivateKey({ key: pem, format: 'pem' });
    if (node.asymmetricKeyType !== 'rsa') {
      throw new PskcError('invalid_private_key', `the private key is ${node.asymmetricKeyType ?? 'unknown'}, RSA is required`);
    }
    const pkcs1 = node.export({ format: 'pem', type: 'pkcs1' }).toString();
    return { node, forge: forge.pki.privateKeyFromPem(pkcs1) };
  } catch (cause) {
    if (cause instanceof PskcError) throw cause;
    throw new PskcError('invalid_private_key', 'the private key PEM cannot be read (encrypted or not RSA?)', {}, { cause });
  }
}

/** The first RSA private key in a PKCS#12 file (Node has no PKCS#12 parser; notes/dependencies.md §7). */
export function loadPrivateKeyPkcs12(der: Buffer, password: string): RsaPrivateKey {
  let key: forge.pki.PrivateKey | undefined;
  try {
    const p12 = forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(forge.util.createBuffer(der.toString('binary'))), password);
    for (const bagType of [forge.pki.oids.pkcs8ShroudedKeyBag, forge.pki.oids.keyBag]) {
      const bags = p12.getBags({ bagType })[bagType] ?? [];
      key = bags.find((bag) => bag.key !== undefined)?.key;
      if (key) break;
    }
  } catch (cause) {
    throw new PskcError('invalid_private_key', 'the PKCS#12 file cannot be read (wrong password or corrupt file)', {}, { cause });
  }
  if (!key) throw new PskcError('invalid_private_key', 'the PKCS#12 file holds no private key');
  return loadPrivateKeyPem(forge.pki.privateKeyToPem(key));
}

export function decryptRsa(spec: Extract<CipherSpec, { type: 'rsa' }>, key: RsaPrivateKey, data: Buffer): Buffer {
  try {
    if (spec.padding === 'oaep-sha1') {
      return privateDecrypt({ key: key.node, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, data);
    }
    return Buffer.from(key.forge.decrypt(data.toString('binary'), 'RSAES-PKCS1-V1_5'), 'binary');
  } catch (cause) {
    throw new PskcError('decryption_failed', 'RSA decryption failed (wrong private key or modified value)', {}, { cause });
  }
}

/** For the test writer: public encryption with either padding is still allowed by Node. */
export function encryptRsa(padding: 'pkcs1' | 'oaep-sha1', publicKeyPem: string, plaintext: Buffer): Buffer {
  return publicEncrypt(
    padding === 'oaep-sha1'
      ? { key: publicKeyPem, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }
      : { key: publicKeyPem, padding: constants.RSA_PKCS1_PADDING },
    plaintext,
  );
}
