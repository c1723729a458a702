import { parseOcraSuite } from '../otp';
import { escapeControls, PskcError, shown, streamPskcFile, type PskcDecryption, type PskcKey } from '../pskc';
import type { Db } from '../store/connect';
import { refreshPlannerStatistics } from '../store/maintenance';
import { inTransaction } from '../store/transaction';
import type { NewToken, TokenRepository } from '../store/tokens';
import { secretLengthProblem } from './pskc-secret-length';
import { storedTextProblem } from './pskc-text';

/** A key the import refuses (and with it the whole file). One clear line: which key and why. */
export class TokenImportError extends Error {
  override name = 'TokenImportError';
  constructor(message: string) {
    // The message quotes the file; whatever slipped through unclipped still prints as one inert line.
    super(escapeControls(message));
  }
}

export interface TokenImportSummary {
  imported: number;
  skippedExisting: number;
  /** PIN keys (RFC 6030 §5.1 figure 5) are not tokens: they hold another key's PIN. */
  skippedPinKeys: number;
  byKind: Record<string, number>;
  /**
   * Serials a deleted token had, imported again with the same seed (or one radotp cannot compare, see
   * migration 0012): they start past the codes the deleted token used.
   */
  replayStateKept: string[];
  /** Serials a deleted token had, imported with a new seed (a reprogrammed token): they start at the file's counter. */
  replayStateNewSeed: string[];
  dryRun: boolean;
}

const BATCH = 1000;

function where(k: PskcKey): string {
  return `key ${k.index}${k.serial ? ` (serial ${shown(k.serial)})` : ''}, line ${k.line}`;
}

export function isPinKey(k: PskcKey): boolean {
  return /[:#]pin$/i.test(k.algorithm ?? '');
}

/**
 * RFC 6030 §5.1, PINPolicy/@PINUsageMode: with "Local" the token checks its own PIN and nothing reaches
 * us; with "Prepend" or "Append" the PIN travels with every code and the validation server is the one to
 * check it; with "Algorithmic" it is an input of the code's computation. radotp checks no token PIN, so
 * such a key is refused: imported, it would either refuse every code typed with its PIN, or (typed
 * without) lose the PIN protection it was issued with. The user's password is radotp's first factor.
 */
function refuseServerCheckedPin(k: PskcKey): void {
  const mode = k.policy.pinPolicy?.pinUsageMode;
  if (mode === undefined || mode === 'Local') return;
  throw new TokenImportError(
    `${where(k)}: its PIN policy (PINUsageMode ${mode}) needs the server to check a token PIN, which radotp does not do; only Local (the token checks its own PIN) can be imported`,
  );
}

/** Turns one decrypted PSKC key into a pool token, or refuses it with the reason. */
export function tokenFromPskc(k: PskcKey): NewToken {
  if (!k.usable) throw new TokenImportError(`${where(k)}: cannot be used: ${k.unusableReason}`);
  const serial = k.serial ?? k.id;
  if (!serial) throw new TokenImportError(`${where(k)}: has neither a SerialNo nor a key Id to use as its serial`);
  const textProblem = storedTextProblem(k);
  if (textProblem) throw new TokenImportError(`${where(k)}: ${textProblem}`);
  if (k.kind === 'unsupported') throw new TokenImportError(`${where(k)}: algorithm ${shown(k.algorithm ?? '(none)')} is not HOTP, TOTP or OCRA`);
  refuseServerCheckedPin(k);
  const secret = k.secret!;
  const lengthProblem = secretLengthProblem(secret.length);
  if (lengthProblem) throw new TokenImportError(`${where(k)}: ${lengthProblem}`);
  const common = {
    serial,
    userId: null,
    origin: 'hardware' as const,
    state: 'unassigned' as const,
    seed: secret,
    issuer: k.issuer ?? null,
    manufacturer: k.manufacturer ?? null,
    model: k.model ?? null,
    description: k.friendlyName ?? null,
    validFrom: k.validFrom ?? null,
    validTo: k.expiry ?? null,
  };
  if (k.kind === 'ocra') {
    const text = k.ocraSuite ?? '';
    // The longest RFC 6287 suite ("OCRA-1:HOTP-SHA512-10:C-QH64-PSHA512-S512-T12H") has 46 characters.
    if (text.length > 64) throw new TokenImportError(`${where(k)}: OCRA suite ${shown(text)} is longer than 64 characters`);
    let suite;
    try {
      suite = parseOcraSuite(text);
    } catch (e) {
      throw new TokenImportError(`${where(k)}: ${(e as Error).message}`);
    }
    // A RADIUS login carries one typed response: no room for a PIN hash or session data.
    if (suite.pin || suite.sessionLength) throw new TokenImportError(`${where(k)}: OCRA suite ${shown(text)} needs a PIN or session input, which RADIUS logins cannot supply`);
    return { ...common, kind: 'ocra', algorithm: suite.algorithm, digits: suite.digits, ocraSuite: text, counter: k.counter ?? 0n };
  }
  const digits = k.digits ?? 6;
  if (digits < 6 || digits > 10) throw new TokenImportError(`${where(k)}: ${digits}-digit codes are not supported (6 to 10)`);
  if (k.responseEncoding && k.responseEncoding.toUpperCase() !== 'DECIMAL') {
    throw new TokenImportError(`${where(k)}: response encoding ${shown(k.responseEncoding)} is not supported (decimal only)`);
  }
  const algorithm = k.hash ?? 'sha1';
  if (k.kind === 'hotp') return { ...common, kind: 'hotp', algorithm, digits, counter: k.counter ?? 0n };
  const period = k.timeInterval ?? 30;
  if (!Number.isInteger(period) || period < 1 || period > 3600) throw new TokenImportError(`${where(k)}: time interval ${period} s is not supported`);
  return { ...common, kind: 'totp', algorithm, digits, period, t0: k.time ?? 0n, drift: k.timeDrift ?? 0 };
}

/**
 * Imports a PSKC file into the token pool in ONE transaction: any bad key (wrong transport key, bad
 * MAC, unsupported algorithm, duplicate serial) imports nothing. Keys are streamed from the file and
 * written in batches, so a 100 000-token file needs bounded memory.
 */
export async function importPskcFile(
  db: Db,
  tokens: Pick<TokenRepository, 'insertMany' | 'existingSeeds' | 'lockForImport' | 'retiredSerials' | 'caseVariants'>,
  file: string,
  decryption: PskcDecryption,
  opts: { dryRun: boolean; skipExisting: boolean; onKey?: () => void },
): Promise<TokenImportSummary> {
  const summary: TokenImportSummary = { imported: 0, skippedExisting: 0, skippedPinKeys: 0, byKind: {}, replayStateKept: [], replayStateNewSeed: [], dryRun: opts.dryRun };
  const seen = new Set<string>();
  const seenIgnoringCase = new Map<string, string>(); // a serial in lower case: the serial as in the file
  await inTransaction(db, opts.dryRun, async (tx) => {
    await tokens.lockForImport(tx); // another import at the same time: after it, so serials it adds count as existing
    let batch: { token: NewToken; where: string }[] = [];
    const flush = async () => {
      if (batch.length === 0) return;
      const existing = await tokens.existingSeeds(batch.map((b) => b.token), tx);
      const clash = batch.find((b) => existing.has(b.token.serial));
      if (clash && !opts.skipExisting) {
        throw new TokenImportError(`${clash.where}: serial ${shown(clash.token.serial)} is already in radotp (use --skip-existing to leave existing tokens alone)`);
      }
      // --skip-existing is for a file imported again: a serial holding another seed in radotp is another token
      // (re-keyed, or another vendor's), and skipping it left the old seed to refuse every code of the new one.
      // The CLI finds a token by its serial ignoring case (src/tokens/serial-lookup.ts): two serials differing only
      // by case are one serial to the admin typing it off the fob, and every command on it would be refused.
      const variants = await tokens.caseVariants(batch.map((b) => b.token.serial), tx);
      const variant = batch.find((b) => variants.has(b.token.serial));
      if (variant) {
        throw new TokenImportError(
          `${variant.where}: serial ${shown(variant.token.serial)} differs only by case from ${shown(variants.get(variant.token.serial)!)}, already in radotp`,
        );
      }
      const rekeyed = batch.find((b) => existing.get(b.token.serial) === 'other');
      if (rekeyed) {
        throw new TokenImportError(
          `${rekeyed.where}: serial ${shown(rekeyed.token.serial)} is already in radotp with another seed (a re-keyed token, or another token under the same serial): ` +
            '--skip-existing leaves only the same token alone; delete the one in radotp to import this one',
        );
      }
      const fresh = batch.filter((b) => !existing.has(b.token.serial)).map((b) => b.token);
      summary.skippedExisting += batch.length - fresh.length;
      const retired = await tokens.retiredSerials(fresh, tx);
      summary.replayStateKept.push(...retired.kept);
      summary.replayStateNewSeed.push(...retired.newSeed);
      await tokens.insertMany(fresh, tx);
      for (const t of fresh) summary.byKind[t.kind] = (summary.byKind[t.kind] ?? 0) + 1;
      summary.imported += fresh.length;
      batch = [];
    };
    try {
      for await (const key of streamPskcFile(file, decryption)) {
        if (isPinKey(key)) {
          summary.skippedPinKeys++;
          continue;
        }
        const token = tokenFromPskc(key);
        if (seen.has(token.serial)) throw new TokenImportError(`${where(key)}: serial ${shown(token.serial)} appears twice in the file`);
        seen.add(token.serial);
        const folded = seenIgnoringCase.get(token.serial.toLowerCase());
        if (folded !== undefined) throw new TokenImportError(`${where(key)}: serial ${shown(token.serial)} differs only by case from ${shown(folded)}, earlier in the file`);
        seenIgnoringCase.set(token.serial.toLowerCase(), token.serial);
        batch.push({ token, where: where(key) });
        opts.onKey?.();
        if (batch.length >= BATCH) await flush();
      }
    } catch (e) {
      if (e instanceof PskcError) throw new TokenImportError(e.message);
      throw e;
    }
    await flush();
    if (summary.imported + summary.skippedExisting === 0) throw new TokenImportError('the file holds no OTP keys');
  });
  if (!opts.dryRun) await refreshPlannerStatistics(db);
  return summary;
}
