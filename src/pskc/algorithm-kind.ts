import { shown } from './shown';
import type { PskcKey, PskcKeyKind } from './types';

export interface AlgorithmKind {
  kind: PskcKeyKind;
  ocraSuite?: string;
  hash?: PskcKey['hash'];
  /** Why a recognised algorithm still cannot be used (unknown suite ...). */
  problem?: string;
}

/**
 * RFC 6030 §10 registers urn:ietf:params:xml:ns:keyprov:pskc:hotp (and the algorithm
 * profiles totp / ocra); drafts wrote "...pskc#hotp", bare "HOTP", or put the OCRA
 * suite into the URI fragment ("...pskc#OCRA-1:HOTP-SHA512-8:C-QN08").
 */
export function classifyAlgorithm(algorithm: string | undefined, suite: string | undefined): AlgorithmKind {
  const written = algorithm?.trim() ?? '';
  const hashIndex = written.indexOf('#');
  const fragment = hashIndex >= 0 ? written.slice(hashIndex + 1) : written.slice(written.lastIndexOf(':') + 1);

  if (/^OCRA-1:/i.test(fragment)) return { kind: 'ocra', ocraSuite: fragment };
  switch (fragment.toLowerCase()) {
    case 'hotp':
      return withHash('hotp', suite);
    case 'totp':
      return withHash('totp', suite);
    case 'ocra': {
      const ocraSuite = suite?.trim();
      if (ocraSuite && /^OCRA-1:/i.test(ocraSuite)) return { kind: 'ocra', ocraSuite };
      return { kind: 'ocra', problem: `OCRA key without a valid OCRA-1 suite (${ocraSuite ? JSON.stringify(shown(ocraSuite)) : 'none'})` };
    }
    default:
      return { kind: 'unsupported' };
  }
}

/** RFC 6030 §4.3.4 Suite for HOTP/TOTP names the HMAC ("HMAC-SHA256"); RFC 4226 defaults to SHA-1. */
function withHash(kind: 'hotp' | 'totp', suite: string | undefined): AlgorithmKind {
  const normalised = suite?.trim().toUpperCase().replace(/[^A-Z0-9]/g, '');
  if (!normalised || normalised === 'HMACSHA1' || normalised === 'SHA1') return { kind, hash: 'sha1' };
  if (normalised === 'HMACSHA256' || normalised === 'SHA256') return { kind, hash: 'sha256' };
  if (normalised === 'HMACSHA512' || normalised === 'SHA512') return { kind, hash: 'sha512' };
  return { kind, problem: `unsupported ${kind.toUpperCase()} suite ${JSON.stringify(shown(suite ?? ''))}` };
}
