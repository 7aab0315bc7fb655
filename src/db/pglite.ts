/** Db over embedded PGlite (PostgreSQL in WASM) — https://pglite.dev/ — normalised to match node-postgres. */
import { PGlite, types as pgliteTypes, type Transaction } from '@electric-sql/pglite';
import { type Db, type ListenHandlers, type Listener, type Queryable, type TransactionOptions, assertChannel, statementTimeout } from './db.js';
import { DeferringTx } from './deferred.js';
import { isRetryable } from './errors.js';
import { type Sql, toQuery } from './sql.js';
import { declareCursor } from './cursor.js';
import { type Vault, opened } from './vault.js';

/** Same JS shapes as the pg adapter: int8 → number, bytea → Buffer. */
const parsers = {
  [pgliteTypes.INT8]: (v: string) => Number(v),
  [pgliteTypes.BYTEA]: (v: string) => Buffer.from(v.startsWith('\\x') ? v.slice(2) : v, 'hex'),
};

function queryable(target: PGlite | Transaction, vault: Vault): Queryable {
  const handle: Queryable = {
    get keyring() {
      return vault.bind(handle);
    },
    async query<T>(q: Sql): Promise<T[]> {
      const { text, values } = toQuery(q);
      const res = await target.query<T>(text, values);
      return opened(vault, handle, res.rows);
    },
    async exec(script: string) {
      await target.exec(script);
    },
  };
  return handle;
}

/** dataDir undefined → in-memory database (tests). */
export async function openPglite(dataDir: string | undefined, vault: Vault): Promise<Db> {
  const pglite = await PGlite.create(dataDir ?? 'memory://', { parsers });
  const outside = queryable(pglite, vault);
  const db: Db = {
    kind: 'pglite',
    ...outside,
    keyring: vault.bind(outside),
    async transaction<T>(fn: (tx: Queryable) => Promise<T>, options: TransactionOptions = {}) {
      const retries = options.retries ?? 3;
      for (let attempt = 0; ; attempt++) {
        try {
          return await pglite.transaction(async (t) => {
            const inner = queryable(t, vault);
            if (options.statementTimeoutMs) await inner.query(statementTimeout(options.statementTimeoutMs));
            // Writes are deferred as on PostgreSQL (one statement per flush), sent before the commit.
            const tx = new DeferringTx(async () => inner, { attempt, vault });
            const result = await fn(tx);
            await tx.flush();
            return result;
          });
        } catch (e) {
          if (attempt < retries && isRetryable(e)) continue;
          throw e;
        }
      }
    },
    async cursor<T>(q: Sql, batchSize: number, onBatch: (rows: T[]) => Promise<void>) {
      await db.transaction((tx) => declareCursor(tx, q, batchSize, onBatch), { retries: 0 });
    },
    async listen(channel: string, handlers: ListenHandlers): Promise<Listener> {
      assertChannel(channel);
      const unlisten = await pglite.listen(channel, (payload) => handlers.message(payload));
      handlers.state(true); // in-process: nothing to lose
      return { close: async () => { handlers.state(false); await unlisten(); } };
    },
    async close() {
      await pglite.close();
    },
  };
  return db;
}
