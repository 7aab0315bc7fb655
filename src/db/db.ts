/** The one database interface over pg.Pool and PGlite (ARCHITECTURE §5): query, transaction, cursor. */
import { type Sql, raw, sql, toQuery } from './sql.js';

export type Row = Record<string, unknown>;

/** Anything that runs SQL: the database itself or one open transaction. */
export interface Queryable {
  query<T = Row>(q: Sql): Promise<T[]>;
  /** Runs a trusted multi-statement script (migrations only); no parameters. */
  exec(script: string): Promise<void>;
  /** Encryption at rest of the database this handle belongs to (db/vault.ts); absent on handles made by hand. */
  readonly keyring?: Keyring;
}

/**
 * What a resource version's body is stored as: in clear, or sealed under the tenant's data key with the text that
 * full-text search needs (every string of it, and its narrative) beside it.
 */
export interface StoredBody { content: string | null; sealed: Buffer | null; words: string | null; narrative: string | null }

/** Seals one body's JSON text bound to (type, id, version). */
export type Sealer = (type: string, id: string, version: number, text: string) => Buffer;

/** The tenants' data keys (db/vault.ts, issue #17 §1), as writers and tenant administration use them. */
export interface Keyring {
  /** Whether a key-encryption key is configured (new tenants then get a data key). */
  readonly enabled: boolean;
  /** A version's body as a writer stores it: sealed under the tenant's newest key, or in clear without one. */
  body(schema: string, type: string, id: string, version: number, resource: unknown): Promise<StoredBody>;
  /** Whether the tenant's new rows are sealed. */
  sealing(schema: string): Promise<boolean>;
  /** Opens one sealed body to its JSON text; throws when it does not open (tampered, swapped, no key). */
  openText(schema: string, type: string, id: string, version: number, sealed: Buffer): Promise<string>;
  /** Seals JSON text under the tenant's newest key at once (no await per row), or undefined for a tenant in clear. */
  sealer(schema: string): Promise<Sealer | undefined>;
  /**
   * Seals a block of a file (bulk files) under the tenant's newest key, bound to `context` (which file, which block);
   * undefined for a tenant in clear.
   */
  sealBlock(schema: string, context: string, plain: Buffer): Promise<Buffer | undefined>;
  /** Opens a block sealBlock made with the same context; throws when it does not open. */
  openBlock(schema: string, context: string, sealed: Buffer): Promise<Buffer>;
  /** The tenant's data key versions, newest last (none: its rows are stored in clear). */
  versions(schema: string): Promise<number[]>;
  /** Destroys the tenant's data key versions older than `version` (once no row needs them). */
  retireKeys(db: Queryable, schema: string, version: number): Promise<number>;
  /** Stops the start when the key-encryption key is not the one the database was set up with (first start: records it). */
  verify(db: Queryable): Promise<void>;
  /** Makes the tenant's next data key version; answers its number. */
  createKey(db: Queryable, schema: string): Promise<number>;
  /** Destroys every data key of the tenant (crypto-shredding). */
  destroyKeys(db: Queryable, schema: string): Promise<void>;
}

export interface TransactionOptions {
  /** Retries on serialisation failure or deadlock (SQLSTATE 40001 / 40P01). */
  retries?: number;
  statementTimeoutMs?: number;
}

export interface Db extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  readonly keyring: Keyring;
  /** The only place a transaction begins; fn must use only the handle it is given. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /** Streams rows in batches through a server-side cursor inside its own transaction. */
  cursor<T = Row>(q: Sql, batchSize: number, onBatch: (rows: T[]) => Promise<void>): Promise<void>;
  /**
   * Receives NOTIFY on one channel (cache invalidation across nodes). `state(false)` means notifications may be
   * missed (connection lost; reconnecting): a cache relying on them must stop serving until `state(true)`.
   */
  listen(channel: string, handlers: ListenHandlers): Promise<Listener>;
  close(): Promise<void>;
}

export interface ListenHandlers {
  message(payload: string): void;
  state(up: boolean): void;
}

export interface Listener {
  close(): Promise<void>;
}

/** Channel names are fixed identifiers of ours; LISTEN takes no bind parameters. */
export function assertChannel(channel: string): void {
  if (!/^[a-z_]{1,63}$/.test(channel)) throw new Error(`invalid channel name '${channel}'`);
}

/** Normalised error with the PostgreSQL SQLSTATE. */
export interface PgLikeError { code?: string; message: string }


/** `SET LOCAL statement_timeout` for one transaction (SET takes no bind parameters; ms is a validated integer). */
export function statementTimeout(ms: number): Sql {
  return sql`SET LOCAL statement_timeout = ${raw(String(Math.trunc(ms)))}`;
}

export { toQuery };
