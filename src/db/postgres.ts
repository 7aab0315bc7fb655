/** Db over node-postgres' Pool — https://node-postgres.com/ */
import pg from 'pg';
import { type Db, type Queryable, type TransactionOptions, runTransaction } from './db.js';
import { type Sql, toQuery } from './sql.js';
import { declareCursor } from './cursor.js';

const INT8 = 20;

/** int8 as a JS number, matching the PGlite adapter (our counters stay far below 2^53). */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

function queryable(client: pg.Pool | pg.PoolClient): Queryable {
  return {
    async query<T>(q: Sql): Promise<T[]> {
      const res = await client.query(toQuery(q));
      return res.rows as T[];
    },
    async exec(script: string) {
      await client.query(script);
    },
  };
}

export function openPostgres(connectionString: string, poolSize: number): Db {
  const pool = new pg.Pool({ connectionString, max: poolSize, types, application_name: 'hearth' });
  // An idle client's error (server restart) must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  const db: Db = {
    kind: 'postgres',
    ...queryable(pool),
    async transaction<T>(fn: (tx: Queryable) => Promise<T>, options?: TransactionOptions) {
      return runTransaction(async () => {
        const client = await pool.connect();
        let released = false;
        const release = (err?: Error) => { if (!released) { released = true; client.release(err); } };
        try {
          await client.query('BEGIN');
        } catch (e) {
          release(e as Error);
          throw e;
        }
        return {
          tx: queryable(client),
          commit: async () => { try { await client.query('COMMIT'); } finally { release(); } },
          rollback: async () => { try { await client.query('ROLLBACK'); } finally { release(); } },
        };
      }, fn, options);
    },
    async cursor<T>(q: Sql, batchSize: number, onBatch: (rows: T[]) => Promise<void>) {
      await db.transaction((tx) => declareCursor(tx, q, batchSize, onBatch), { retries: 0 });
    },
    async close() {
      await pool.end();
    },
  };
  return db;
}
