/** The baseline's database handle: straight node-postgres (a plain pg.Pool), or the PGlite instance Hearth holds. */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Db, Queryable } from '../../src/db/db.js';
import { sql } from '../../src/db/sql.js';

export type Row = Record<string, unknown>;

export interface RawQueryable {
  query<T = Row>(text: string, values?: unknown[]): Promise<T[]>;
  /** `COPY … FROM STDIN` with text-format data (PostgreSQL transactions only; PGlite has no COPY stream here). */
  copyIn?(statement: string, data: string): Promise<void>;
}

export interface RawDb extends RawQueryable {
  readonly kind: 'postgres' | 'pglite';
  /** BEGIN … COMMIT on one connection; ROLLBACK if fn throws. */
  transaction<T>(fn: (q: RawQueryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** A plain pg.Pool with node-postgres defaults: what a hand-written service would use. */
export function pgRawDb(connectionString: string, max: number): RawDb {
  const pool = new pg.Pool({ connectionString, max, application_name: 'hearth-bench-raw' });
  pool.on('error', () => undefined);
  const on = (c: pg.Pool | pg.PoolClient): RawQueryable => ({
    async query<T>(text: string, values: unknown[] = []) { return (await c.query(text, values)).rows as T[]; },
    ...(c instanceof pg.Pool ? {} : {
      async copyIn(statement: string, data: string) {
        await pipeline(Readable.from([Buffer.from(data, 'utf8')]), (c as pg.PoolClient).query(copyFrom(statement)));
      },
    }),
  });
  return {
    kind: 'postgres',
    ...on(pool),
    async transaction(fn) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const out = await fn(on(client));
        await client.query('COMMIT');
        return out;
      } catch (e) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw e;
      } finally {
        client.release();
      }
    },
    close: () => pool.end(),
  };
}

/** Turns '$1 … $2' text into Hearth's Sql fragment so the same statements run through its PGlite adapter. */
function toSql(text: string, values: unknown[]) {
  const parts = text.split(/\$(\d+)/);
  const strings: string[] = [];
  const args: unknown[] = [];
  parts.forEach((p, i) => (i % 2 === 0 ? strings.push(p) : args.push(values[Number(p) - 1])));
  return sql(Object.assign(strings, { raw: strings }) as unknown as TemplateStringsArray, ...args);
}

const over = (q: Queryable): RawQueryable => ({
  query: <T>(text: string, values: unknown[] = []) => q.query<T>(toSql(text, values)),
});

/** PGlite is one in-process session, so the baseline shares the handle of the Hearth process that opened it. */
export function dbRawDb(db: Db): RawDb {
  return {
    kind: db.kind,
    ...over(db),
    transaction: (fn) => db.transaction((tx) => fn(over(tx)), { retries: 0 }),
    close: async () => undefined,
  };
}
