/** The one database interface over pg.Pool and PGlite (ARCHITECTURE §5): query, transaction, cursor. */
import { type Sql, raw, sql, toQuery } from './sql.js';

export type Row = Record<string, unknown>;

/** Anything that runs SQL: the database itself or one open transaction. */
export interface Queryable {
  query<T = Row>(q: Sql): Promise<T[]>;
  /** Runs a trusted multi-statement script (migrations only); no parameters. */
  exec(script: string): Promise<void>;
}

export interface TransactionOptions {
  /** Retries on serialisation failure or deadlock (SQLSTATE 40001 / 40P01). */
  retries?: number;
  statementTimeoutMs?: number;
}

export interface Db extends Queryable {
  readonly kind: 'postgres' | 'pglite';
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
