/** Db over node-postgres' Pool — https://node-postgres.com/ */
import pg from 'pg';
import { type Db, type ListenHandlers, type Listener, type Queryable, type TransactionOptions, assertChannel, statementTimeout } from './db.js';
import { DeferringTx, pendingStatement } from './deferred.js';
import { isRetryable } from './errors.js';
import { GroupCommit } from './group-commit.js';
import { type Sql, toQuery } from './sql.js';
import { declareCursor } from './cursor.js';
import { type Vault, opened } from './vault.js';

const INT8 = 20;

/** int8 as a JS number, matching the PGlite adapter (our counters stay far below 2^53). */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

function queryable(client: pg.Pool | pg.PoolClient, vault: Vault): Queryable {
  const handle: Queryable = {
    get keyring() {
      return vault.bind(handle);
    },
    async query<T>(q: Sql): Promise<T[]> {
      const res = await client.query(toQuery(q));
      return opened(vault, handle, res.rows as T[]);
    },
    async exec(script: string) {
      await client.query(script);
    },
  };
  return handle;
}

/** Group commits in flight at once (see below). */
const GROUP_IN_FLIGHT = 2;
/**
 * Write-only transactions this heavy (bind parameters; a 100-entry Bundle's AuditEvents alone weigh ~2,000) are sent
 * alone on their own connection: merging them would only serialise big statements onto one backend (measured: ingest
 * of 4 concurrent Bundles 1,209 → 1,434 resources/s).
 */
const ALONE_WEIGHT = 1000;

/**
 * A transaction on a pooled client, begun only when its first statement is sent: a transaction that only defers
 * writes never takes a client and is group-committed instead (issue #14 §2).
 */
class LazyTransaction {
  private client: pg.PoolClient | undefined;
  private begun: Promise<Queryable> | undefined;

  constructor(private readonly pool: pg.Pool, private readonly timeoutMs: number | undefined, private readonly vault: Vault) {}

  get open(): boolean {
    return this.begun !== undefined;
  }

  handle(): Promise<Queryable> {
    this.begun ??= this.begin();
    return this.begun;
  }

  private async begin(): Promise<Queryable> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      if (this.timeoutMs !== undefined) await client.query(toQuery(statementTimeout(this.timeoutMs)));
    } catch (e) {
      client.release(e as Error);
      throw e;
    }
    this.client = client;
    return queryable(client, this.vault);
  }

  async end(command: 'COMMIT' | 'ROLLBACK'): Promise<void> {
    if (!this.begun) return;
    await this.begun.catch(() => undefined);
    const client = this.client;
    if (!client) return;
    this.client = undefined;
    let failure: Error | undefined;
    try {
      await client.query(command);
    } catch (e) {
      failure = e as Error;
      throw e;
    } finally {
      client.release(failure);
    }
  }
}

/**
 * `statementTimeoutMs` is every connection's own statement_timeout (a startup parameter, so single statements need no
 * `SET LOCAL`); a transaction asking for another timeout sets its own.
 */
export function openPostgres(connectionString: string, poolSize: number, statementTimeoutMs: number | undefined, vault: Vault): Db {
  const pool = new pg.Pool({ connectionString, max: poolSize, types, application_name: 'hearth',
    ...(statementTimeoutMs ? { statement_timeout: Math.trunc(statementTimeoutMs) } : {}) });
  // An idle client's error (server restart) must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  const run = async (statement: Sql) => { await pool.query(toQuery(statement)); };
  // Two statements in flight use both of a small machine's cores; measured (bench, 100 patients, 16 clients) creates
  // reach 1.03-1.07 of the one-commit-per-create baseline with one or two, ingest 0.39 with one against 0.42 with two.
  const groupCommit = new GroupCommit(run, GROUP_IN_FLIGHT);
  const outside = queryable(pool, vault);
  const db: Db = {
    kind: 'postgres',
    ...outside,
    keyring: vault.bind(outside),
    async transaction<T>(fn: (tx: Queryable) => Promise<T>, options: TransactionOptions = {}) {
      const retries = options.retries ?? 3;
      const timeout = options.statementTimeoutMs && Math.trunc(options.statementTimeoutMs) !== Math.trunc(statementTimeoutMs ?? 0)
        ? options.statementTimeoutMs : undefined;
      for (let attempt = 0; ; attempt++) {
        const lazy = new LazyTransaction(pool, timeout, vault);
        const tx = new DeferringTx(() => lazy.handle(), { outside, attempt, vault });
        try {
          const result = await fn(tx);
          if (lazy.open) {
            await tx.flush();
            await lazy.end('COMMIT');
          } else if (tx.hasPending) {
            const { writes, weight } = tx.take();
            if (weight >= ALONE_WEIGHT) {
              const statement = pendingStatement(writes);
              if (statement) await run(statement);
            } else await groupCommit.commit(writes, weight);
          }
          return result;
        } catch (e) {
          await lazy.end('ROLLBACK').catch(() => undefined);
          if (attempt < retries && isRetryable(e)) continue;
          throw e;
        }
      }
    },
    async cursor<T>(q: Sql, batchSize: number, onBatch: (rows: T[]) => Promise<void>) {
      await db.transaction((tx) => declareCursor(tx, q, batchSize, onBatch), { retries: 0 });
    },
    listen: (channel, handlers) => listenPostgres(connectionString, channel, handlers),
    async close() {
      await pool.end();
    },
  };
  return db;
}

/** Delay before a lost LISTEN connection is opened again. */
const RELISTEN_MS = 1000;

/**
 * LISTEN on a dedicated connection (a pooled one would be handed to other work). On error or end the handlers learn
 * `state(false)` at once, and the connection is opened again until close().
 */
async function listenPostgres(connectionString: string, channel: string, handlers: ListenHandlers): Promise<Listener> {
  assertChannel(channel);
  let current: pg.Client | undefined;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  const lost = (client: pg.Client) => {
    if (current !== client) return;
    current = undefined;
    handlers.state(false);
    client.end().catch(() => undefined);
    if (!closed) timer = setTimeout(() => { void connect(); }, RELISTEN_MS);
  };
  const connect = async () => {
    const client = new pg.Client({ connectionString, application_name: 'hearth-listen' });
    client.on('notification', (n) => { if (n.channel === channel) handlers.message(n.payload ?? ''); });
    client.on('error', () => lost(client));
    client.on('end', () => lost(client));
    current = client;
    try {
      await client.connect();
      await client.query(`LISTEN ${channel}`);
      if (closed || current !== client) return void client.end().catch(() => undefined);
      handlers.state(true);
    } catch {
      lost(client);
    }
  };
  await connect();
  return {
    async close() {
      closed = true;
      clearTimeout(timer);
      const client = current;
      current = undefined;
      handlers.state(false);
      await client?.end().catch(() => undefined);
    },
  };
}
