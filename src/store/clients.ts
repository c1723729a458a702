import { sql } from 'kysely';
import type { KeyRing } from '../secrets/keyring';
import type { Db } from './connect';
import { isUniqueViolation, NotFoundError, StoreConflictError } from './errors';
import type { LoginStyle } from './schema';
import type { ReplyMessageAuthenticator } from '../radius/types';
import { recoverable } from './transaction';

export interface ClientRecord {
  readonly name: string;
  readonly address: string;
  readonly requireMessageAuthenticator: boolean;
  /** `--require-message-authenticator auto`: not required up front (requireMessageAuthenticator false), but from an address once it sent one. */
  readonly learnMessageAuthenticator: boolean;
  readonly replyMessageAuthenticator: ReplyMessageAuthenticator;
  readonly loginStyle: LoginStyle;
  readonly createdAt: Date;
}

export interface ClientWithSecret extends ClientRecord {
  readonly secret: Buffer;
}

export interface NewClient {
  name: string;
  address: string;
  secret: Buffer;
  requireMessageAuthenticator: boolean;
  /** Default false; meaningful only where requireMessageAuthenticator is false. */
  learnMessageAuthenticator?: boolean;
  /** Default `always`. */
  replyMessageAuthenticator?: ReplyMessageAuthenticator;
  loginStyle: LoginStyle;
}

export class ClientRepository {
  constructor(
    private readonly db: Db,
    private readonly keys: KeyRing,
  ) {}

  async add(c: NewClient): Promise<void> {
    try {
      // recoverable: explaining a conflict takes one more query, also inside an admin's transaction
      await recoverable(this.db, () =>
        this.db
          .insertInto('radius_client')
          .values({
            name: c.name,
            address: c.address,
            secret_sealed: this.keys.seal(c.secret, 'client-secret'),
            require_message_authenticator: c.requireMessageAuthenticator,
            learn_message_authenticator: !c.requireMessageAuthenticator && c.learnMessageAuthenticator === true,
            reply_message_authenticator: c.replyMessageAuthenticator ?? 'always',
            login_style: c.loginStyle,
          })
          .execute(),
      );
    } catch (e) {
      throw await this.explainConflict(e, c.name, c.address);
    }
  }

  /** Turns a unique violation into the admin's words: which name or network is taken, and by whom. */
  private async explainConflict(e: unknown, name: string, address?: string): Promise<unknown> {
    if (!isUniqueViolation(e)) return e;
    if ((e as { constraint?: string }).constraint === 'radius_client_address_idx' && address !== undefined) {
      const other = await this.db
        .selectFrom('radius_client')
        .select('name')
        .where('address', '=', sql<string>`${address}::cidr`)
        .executeTakeFirst();
      return new StoreConflictError(`network ${address} already belongs to client "${other?.name ?? '?'}"`);
    }
    return new StoreConflictError(`client "${name}" already exists`);
  }

  async update(name: string, change: Partial<Omit<NewClient, 'name'>>): Promise<void> {
    const set: Record<string, unknown> = { updated_at: new Date() };
    if (change.address !== undefined) set.address = change.address;
    if (change.secret !== undefined) set.secret_sealed = this.keys.seal(change.secret, 'client-secret');
    if (change.requireMessageAuthenticator !== undefined) {
      // one setting (yes, no or auto) in two columns: setting yes or no ends auto
      set.require_message_authenticator = change.requireMessageAuthenticator;
      set.learn_message_authenticator = !change.requireMessageAuthenticator && change.learnMessageAuthenticator === true;
    } else if (change.learnMessageAuthenticator !== undefined) {
      throw new RangeError('learnMessageAuthenticator is changed together with requireMessageAuthenticator');
    }
    if (change.replyMessageAuthenticator !== undefined) set.reply_message_authenticator = change.replyMessageAuthenticator;
    if (change.loginStyle !== undefined) set.login_style = change.loginStyle;
    let r;
    try {
      r = await recoverable(this.db, () => this.db.updateTable('radius_client').set(set).where('name', '=', name).executeTakeFirst());
    } catch (e) {
      throw await this.explainConflict(e, name, change.address);
    }
    if (r.numUpdatedRows === 0n) throw new NotFoundError(`no client named "${name}"`);
  }

  async remove(name: string): Promise<void> {
    const r = await this.db.deleteFrom('radius_client').where('name', '=', name).executeTakeFirst();
    if (r.numDeletedRows === 0n) throw new NotFoundError(`no client named "${name}"`);
  }

  async list(): Promise<ClientRecord[]> {
    const rows = await this.db
      .selectFrom('radius_client')
      .select(['name', 'address', 'require_message_authenticator', 'learn_message_authenticator', 'reply_message_authenticator', 'login_style', 'created_at'])
      .orderBy('name')
      .execute();
    return rows.map(toRecord);
  }

  /** For the server's client table: secrets opened with the key ring. */
  async listWithSecrets(): Promise<ClientWithSecret[]> {
    const rows = await this.db.selectFrom('radius_client').selectAll().orderBy('name').execute();
    return rows.map((r) => ({ ...toRecord(r), secret: this.keys.open(r.secret_sealed, 'client-secret') }));
  }
}

function toRecord(r: {
  name: string;
  address: string;
  require_message_authenticator: boolean;
  learn_message_authenticator: boolean;
  reply_message_authenticator: ReplyMessageAuthenticator;
  login_style: LoginStyle;
  created_at: Date;
}): ClientRecord {
  return {
    name: r.name,
    address: r.address,
    requireMessageAuthenticator: r.require_message_authenticator,
    learnMessageAuthenticator: r.learn_message_authenticator,
    replyMessageAuthenticator: r.reply_message_authenticator,
    loginStyle: r.login_style,
    createdAt: r.created_at,
  };
}
