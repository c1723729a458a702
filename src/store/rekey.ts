import { sql } from 'kysely';
import { SEALED_KEY_ID, type KeyRing } from '../secrets/keyring';
import type { Db } from './connect';
import { StoreConflictError } from './errors';
import { atomically } from './transaction';

export interface RekeyResult {
  /** Client secrets and token seeds re-sealed by this run. */
  clients: number;
  tokens: number;
  /** Rows found already sealed under the target key (by an earlier run, or written by a node that seals with it). */
  alreadyUnderKey: number;
}

/** Advisory lock key of `keys rotate` (an arbitrary constant, 'radotpKR'): one rotation at a time. */
const ROTATION_LOCK = 0x7261646f74704b52n;
/** Rows read, re-sealed and written per statement. */
const CHUNK = 5000;
/** Rounds of redoing rows changed while they were re-sealed, before giving up (nothing is written then). */
const MAX_ROUNDS = 5;

/** The two sealed columns a rotation rewrites. */
type Sealed = { table: 'radius_client'; column: 'secret_sealed'; purpose: 'client-secret' } | { table: 'token'; column: 'seed_sealed'; purpose: 'token-seed' };
const CLIENT_SECRETS: Sealed = { table: 'radius_client', column: 'secret_sealed', purpose: 'client-secret' };
const TOKEN_SEEDS: Sealed = { table: 'token', column: 'seed_sealed', purpose: 'token-seed' };

/**
 * Up to CHUNK rows re-sealed in memory, not yet written, in ascending id order: the sealed value each was read
 * with and its new one. The statement's parameters are made here already (PostgreSQL array literals of
 * integers and hex digits, nothing to quote), before any row is locked: turning thousands of values into
 * text took about as long as PostgreSQL's UPDATE of them.
 */
interface ResealedChunk {
  ids: string[];
  first: string;
  last: string;
  params: { ids: string; was: string; sealed: string; fingerprints: string };
}

const arrayLiteral = (values: readonly string[]) => `{${values.join(',')}}`;

/**
 * Re-seals every secret at rest (client secrets, token seeds) not yet under `to.current`, in one
 * transaction: either every such row moves to the new key or none does. `from` must be able to open them.
 *
 * Logins go on meanwhile, and a login spends its code with an UPDATE of its token's row: a row the rotation
 * has written stays locked until the COMMIT, and the spend waits. So no row is locked while the slow part
 * (opening and sealing every secret) runs: all are read and re-sealed first, without locks, then written in a
 * few bulk statements just before the commit. Each write is guarded by the sealed value it was made from: a
 * row changed meanwhile (deleted, or its seed or secret replaced) is not overwritten with its old secret; it
 * is read again and redone, under the lock now held, in a further round (or, if rows keep changing, the
 * rotation fails and writes nothing). Measured with 100 000 users' tokens on a 2-CPU test machine: a spend
 * waited 11.7 s (the whole rotation, past serve's 10 s database.queryTimeout) before, 3.6 to 5 s now, the time
 * of the UPDATEs and of their trigger notifying the nodes (see test/store/rekey-lock-wait.test.ts).
 *
 * Nodes still sealing with the old key (their keyFile not yet switched) may write new rows under it after the
 * commit; running this again re-seals just those, which is how a roll-out is finished (see `radotp keys
 * rotate --help`). Two rotations at once: the second finds the first's lock taken and fails, changing nothing.
 */
export async function rekeyAll(db: Db, from: KeyRing, to: KeyRing): Promise<RekeyResult> {
  return atomically(db, async (tx) => {
    await claimRotation(tx);
    const clients = await resealAll(tx, CLIENT_SECRETS, from, to);
    const tokens = await resealAll(tx, TOKEN_SEEDS, from, to);
    const counts = await sealedCounts(tx);
    const alreadyUnderKey = counts.filter((c) => c.keyId === to.current.idHex).reduce((n, c) => n + c.clients + c.tokens, 0) - clients - tokens;
    return { clients, tokens, alreadyUnderKey };
  });
}

/** Takes the rotation lock for this transaction, or fails naming the session that holds it. */
async function claimRotation(tx: Db): Promise<void> {
  const { rows } = await sql<{ ok: boolean }>`SELECT pg_try_advisory_xact_lock(${ROTATION_LOCK.toString()}::bigint) AS ok`.execute(tx);
  if (rows[0].ok) return;
  // pg_locks splits a bigint advisory key into its high (classid) and low (objid) halves
  const holder = await sql<{ pid: number; application: string | null; since: Date | null }>`
    SELECT l.pid, nullif(a.application_name, '') AS application, a.xact_start AS since
    FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.granted AND l.classid = ${Number(ROTATION_LOCK >> 32n)}::bigint::oid
      AND l.objid = ${Number(ROTATION_LOCK & 0xffffffffn)}::bigint::oid AND l.objsubid = 1`.execute(tx);
  const h = holder.rows[0];
  const who = h ? ` (PostgreSQL pid ${h.pid}${h.application ? `, ${h.application}` : ''}${h.since ? `, since ${new Date(h.since).toISOString()}` : ''})` : '';
  throw new StoreConflictError(`another keys rotate is running${who}; nothing was changed: run this again once it has finished`);
}

/**
 * Every row of `s` not under the target key, re-sealed: read and sealed without locks, then written with
 * locks; rows changed in between are redone in a further round. Returns how many rows were re-sealed.
 */
async function resealAll(tx: Db, s: Sealed, from: KeyRing, to: KeyRing): Promise<number> {
  let written = 0;
  let only: string[] | undefined;
  for (let round = 1; ; round++) {
    const chunks = await readAndReseal(tx, s, from, to, only);
    const missed: string[] = [];
    for (const chunk of chunks) missed.push(...(await writeGuarded(tx, s, chunk)));
    written += chunks.reduce((n, c) => n + c.ids.length, 0) - missed.length;
    if (missed.length === 0) return written;
    if (round === MAX_ROUNDS) {
      throw new StoreConflictError(`${missed.length} ${s.table === 'token' ? 'token seed(s)' : 'client secret(s)'} kept changing while they were re-sealed; nothing was changed: run this again`);
    }
    // Rows changed under the rotation: only those are read again (a row deleted is no longer found; a new
    // secret under the old key is re-sealed). Rows written already are locked by this transaction now.
    only = missed;
  }
}

/** The sealed column's key id, as bytea (see SEALED_KEY_ID). */
const keyIdOf = (column: 'secret_sealed' | 'seed_sealed') => sql<Buffer>`substring(${sql.ref(column)} from ${SEALED_KEY_ID.from} for ${SEALED_KEY_ID.length})`;

/** Reads (without locking) and re-seals in memory every row not under the target key, or just those of `only`. */
async function readAndReseal(tx: Db, s: Sealed, from: KeyRing, to: KeyRing, only?: string[]): Promise<ResealedChunk[]> {
  const chunks: ResealedChunk[] = [];
  let lastId = '0';
  for (;;) {
    // (the id is read as text, named apart from the column: ORDER BY id would otherwise sort the text)
    const { rows } = await sql<{ id_text: string; sealed: Buffer }>`
      SELECT id::text AS id_text, ${sql.ref(s.column)} AS sealed FROM ${sql.table(s.table)}
      WHERE id > ${lastId}::bigint AND ${keyIdOf(s.column)} <> ${to.current.id}
        ${only ? sql`AND id = ANY(${only}::bigint[])` : sql``}
      ORDER BY id LIMIT ${CHUNK}`.execute(tx);
    if (rows.length === 0) return chunks;
    const ids: string[] = [];
    const was: string[] = [];
    const sealed: string[] = [];
    const fingerprints: string[] = [];
    for (const r of rows) {
      const secret = from.open(r.sealed, s.purpose);
      ids.push(r.id_text);
      was.push(r.sealed.toString('hex'));
      sealed.push(to.seal(secret, s.purpose).toString('hex'));
      // The seed fingerprint (migration 0012) is made again under the new key, so a live token stays
      // comparable with a token inserted under its serial after the rotation (same seed or new?). A deleted
      // token's fingerprint cannot be (its seed is gone): it stays under the old key, which the database
      // treats as unknown, keeping the deleted token's used codes used. A token re-sealed here without one gets
      // one; a token already sealed under the new key is not re-sealed and keeps what it has (NULL: unknown, safe).
      if (s.table === 'token') fingerprints.push(to.fingerprint(secret).toString('hex'));
    }
    lastId = ids[ids.length - 1];
    chunks.push({
      ids,
      first: ids[0],
      last: lastId,
      params: { ids: arrayLiteral(ids), was: arrayLiteral(was), sealed: arrayLiteral(sealed), fingerprints: arrayLiteral(fingerprints) },
    });
  }
}

/**
 * Writes a chunk re-sealed earlier, each row only if it still holds the value it was re-sealed from. Returns
 * the ids of the rows that did not (changed or deleted meanwhile).
 * The chunk's rows are first locked in ascending id order, as a spend batch locks its rows (see SpendBatcher),
 * so the two cannot wait on each other in a cycle; the UPDATE then finds them locked already. The id range
 * bounds the UPDATE's scan of the primary key to the chunk's rows.
 */
async function writeGuarded(tx: Db, s: Sealed, c: ResealedChunk): Promise<string[]> {
  const p = c.params;
  await sql`SELECT id FROM ${sql.table(s.table)} WHERE id = ANY(${p.ids}::bigint[]) ORDER BY id FOR UPDATE`.execute(tx);
  const setFrom =
    s.table === 'token'
      ? sql`seed_sealed = decode(v.sealed, 'hex'), seed_fingerprint = decode(v.fingerprint, 'hex')
            FROM unnest(${p.ids}::bigint[], ${p.was}::text[], ${p.sealed}::text[], ${p.fingerprints}::text[]) AS v(id, was, sealed, fingerprint)`
      : sql`secret_sealed = decode(v.sealed, 'hex') FROM unnest(${p.ids}::bigint[], ${p.was}::text[], ${p.sealed}::text[]) AS v(id, was, sealed)`;
  const { rows } = await sql<{ id_text: string }>`
    UPDATE ${sql.table(s.table)} AS t SET ${setFrom}
    WHERE t.id = v.id AND t.id BETWEEN ${c.first}::bigint AND ${c.last}::bigint AND t.${sql.ref(s.column)} = decode(v.was, 'hex')
    RETURNING t.id::text AS id_text`.execute(tx);
  const written = new Set(rows.map((w) => w.id_text));
  return c.ids.filter((id) => !written.has(id));
}

export interface SealedCount {
  /** Hex id of the key that sealed these values. */
  keyId: string;
  clients: number;
  tokens: number;
}

/** How many client secrets and token seeds each key has sealed: a key may be dropped once it counts none. */
export async function sealedCounts(db: Db): Promise<SealedCount[]> {
  const rows = await sql<{ key_id: string; clients: string; tokens: string }>`
    SELECT key_id, sum(clients) AS clients, sum(tokens) AS tokens FROM (
      SELECT encode(${keyIdOf('secret_sealed')}, 'hex') AS key_id, 1 AS clients, 0 AS tokens FROM radius_client
      UNION ALL
      SELECT encode(${keyIdOf('seed_sealed')}, 'hex'), 0, 1 FROM token) AS sealed
    GROUP BY key_id ORDER BY key_id`.execute(db);
  return rows.rows.map((r) => ({ keyId: r.key_id, clients: Number(r.clients), tokens: Number(r.tokens) }));
}
