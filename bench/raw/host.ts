/** The baseline side of every suite: a minimal Fastify + pg read route and the raw SQL work, run on the driver's request. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Fastify from 'fastify';
import { type Timing, runPool, timed } from '../lib/stats.js';
import type { RawDb } from './db.js';
import { copyRowsIn, fetchRows, ident, indexTables, insertRows, maxRid, split } from './copy.js';

export interface RawHostOptions {
  db: RawDb;
  /** The Hearth tenant schema whose rows the baselines read and copy. */
  hearthSchema: string;
  /** A scratch schema with the tenant tables, written by the write baselines. */
  scratchSchema: string;
  /** Creates or drops the scratch schema (through Hearth's migrations, so its tables match). */
  migrate(schema: string): Promise<void>;
}

export interface SearchWork { name: string; text: string; values: unknown[][]; iterations: number }

const SETTINGS = ['shared_buffers', 'work_mem', 'effective_cache_size', 'max_connections', 'synchronous_commit', 'fsync',
  'wal_level', 'max_wal_size', 'random_page_cost', 'jit'];

export function createRawHost(o: RawHostOptions) {
  const { db } = o;
  const hearth = ident(o.hearthSchema);
  const app = Fastify({ logger: false });
  let migrated = false;
  app.get<{ Params: { type: string; id: string } }>('/raw/:type/:id', async (req, reply) => {
    const rows = await db.query<{ content: unknown }>(`SELECT content FROM ${hearth}.resource WHERE type = $1 AND id = $2`,
      [req.params.type, req.params.id]);
    if (!rows[0]) return reply.code(404).send({ error: 'not found' });
    return rows[0].content;
  });

  const ops: Record<string, (args: never) => Promise<unknown>> = {
    setup: async () => { await o.migrate(o.scratchSchema); migrated = true; },
    listen: async () => {
      await app.listen({ port: 0, host: '127.0.0.1' });
      return { port: (app.server.address() as { port: number }).port };
    },
    machine: async () => machine(db),
    maxRid: async () => maxRid(db, o.hearthSchema),
    sampleIds: async ({ n }: { n: number }) => sampleIds(db, o.hearthSchema, n),
    ingest: async (a: { sizes: number[]; concurrency: number; chunk: number }) => ingest(o, a),
    create: async (a: { afterRid: number; concurrency: number }) => create(o, a),
    copyImported: async (a: { afterRid: number }) => copyImported(o, a),
    search: async (a: { queries: SearchWork[]; clients: number }) => search(db, a),
    export: async () => exportRows(db, o.hearthSchema),
    copy: async () => copyRows(db, o.hearthSchema),
    vacuum: async () => vacuum(db, o.hearthSchema),
    auditEvents: async () => countAuditEvents(db, o.hearthSchema),
    teardown: async () => {
      await app.close();
      if (migrated) await db.query(`DROP SCHEMA IF EXISTS ${ident(o.scratchSchema)} CASCADE`);
    },
  };
  return { handle: (op: string, args: unknown) => ops[op]!(args as never), has: (op: string) => op in ops };
}

async function machine(db: RawDb) {
  const [v] = await db.query<{ v: string }>('SELECT version() AS v');
  const rows = await db.query<{ name: string; setting: string; unit: string | null }>(
    'SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1)', [SETTINGS]);
  const settings = Object.fromEntries(rows.map((r) => [r.name, r.unit ? `${r.setting} (${r.unit})` : r.setting]));
  return { postgres: `${db.kind}: ${v?.v ?? 'unknown'}`, settings };
}

async function sampleIds(db: RawDb, schema: string, n: number) {
  const [{ c } = { c: 0 }] = await db.query<{ c: number }>(`SELECT count(*)::int AS c FROM ${ident(schema)}.resource`);
  return db.query<{ type: string; id: string }>(`SELECT type, id FROM ${ident(schema)}.resource
    WHERE NOT deleted AND rid % $1 = 0 LIMIT $2`, [Math.max(1, Math.floor(c / n)), n]);
}

/** AuditEvents stored in the Hearth tenant (the audit suite checks that only its audited side writes them). */
async function countAuditEvents(db: RawDb, schema: string): Promise<number> {
  const [{ n } = { n: 0 }] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${ident(schema)}.audit_event`);
  return n;
}

/** VACUUM (ANALYZE) of every table of the schema: after a bulk load, what autovacuum would reach in time. */
async function vacuum(db: RawDb, schema: string): Promise<void> {
  const tables = await db.query<{ t: string }>(`SELECT table_name AS t FROM information_schema.tables
    WHERE table_schema = $1 AND table_type = 'BASE TABLE'`, [schema]);
  for (const { t } of tables) await db.query(`VACUUM (ANALYZE) ${ident(schema)}.${ident(t)}`);
}

/** Batched INSERTs of the rows Hearth stored, one transaction per patient bundle, `concurrency` at a time. */
async function ingest(o: RawHostOptions, a: { sizes: number[]; concurrency: number; chunk: number }): Promise<Timing> {
  const idx = await indexTables(o.db, o.hearthSchema);
  let after = 0;
  let seconds = 0;
  let count = 0;
  for (let i = 0; i < a.sizes.length; i += a.chunk) {
    const sizes = a.sizes.slice(i, i + a.chunk);
    const { set, lastRid } = await fetchRows(o.db, o.hearthSchema, idx, after, sizes.reduce((x, y) => x + y, 0));
    after = lastRid;
    const groups = split(set, sizes);
    const run = await timed(() => runPool(groups, a.concurrency,
      (g) => o.db.transaction((q) => insertRows(q, o.scratchSchema, g))));
    seconds += run.seconds;
    count += set.resources;
  }
  return { seconds, count };
}

/**
 * The import baseline: the rows Hearth stored after `afterRid` fetched untimed in chunks, then written into the scratch
 * schema by `COPY … FROM STDIN` per table, one transaction per chunk (PGlite: multi-row INSERTs, noted).
 */
async function copyImported(o: RawHostOptions, a: { afterRid: number }): Promise<Timing & { note?: string }> {
  const idx = await indexTables(o.db, o.hearthSchema);
  const usesCopy = o.db.kind === 'postgres';
  let after = a.afterRid;
  let seconds = 0;
  let count = 0;
  for (;;) {
    const { set, lastRid } = await fetchRows(o.db, o.hearthSchema, idx, after, 5000);
    if (set.resources === 0) break;
    after = lastRid;
    const run = await timed(() => o.db.transaction((q) => (usesCopy ? copyRowsIn(q, o.scratchSchema, set) : insertRows(q, o.scratchSchema, set))));
    seconds += run.seconds;
    count += set.resources;
  }
  return { seconds, count, ...(usesCopy ? {} : { note: 'PGlite: multi-row INSERT, no COPY stream' }) };
}

/** One resource per transaction (INSERT resource, its history row and its index rows, COMMIT), `concurrency` clients. */
async function create(o: RawHostOptions, a: { afterRid: number; concurrency: number }): Promise<Timing> {
  const idx = await indexTables(o.db, o.hearthSchema);
  const { set } = await fetchRows(o.db, o.hearthSchema, idx, a.afterRid, 1_000_000);
  const singles = split(set, Array.from({ length: set.resources }, () => 1));
  const run = await timed(() => runPool(singles, a.concurrency,
    (g) => o.db.transaction((q) => insertRows(q, o.scratchSchema, g))));
  return { seconds: run.seconds, count: set.resources, latencies: run.result };
}

/** Each query's parameter sets in turn from `clients` concurrent connections; latency per execution, and the
 * result size of the first pass over the parameter sets (rows, or `n` for a count) to compare with Hearth's. */
async function search(db: RawDb, a: { queries: SearchWork[]; clients: number }) {
  const out: Record<string, { latencies: number[]; counts: number[] }> = {};
  for (const q of a.queries) {
    const counts: number[] = [];
    const runs = Array.from({ length: q.iterations }, (_, i) => i);
    const latencies = await runPool(runs, a.clients, async (i) => {
      const rows = await db.query<Record<string, unknown>>(q.text, q.values[i % q.values.length]);
      if (i < q.values.length) counts[i] = rows.length === 1 && 'n' in rows[0]! ? Number(rows[0]!.n) : rows.length;
    });
    out[q.name] = { latencies, counts };
  }
  return out;
}

/** Every current resource as NDJSON to a file, read in keyset pages of JSON text (the export baseline). */
async function exportRows(db: RawDb, schema: string): Promise<Timing> {
  const file = path.join(os.tmpdir(), `hearth-bench-export-${process.pid}.ndjson`);
  const out = fs.createWriteStream(file);
  const run = await timed(async () => {
    let after = 0;
    let count = 0;
    for (;;) {
      const rows = await db.query<{ rid: number | string; c: string }>(`SELECT rid, content::text AS c
        FROM ${ident(schema)}.resource WHERE rid > $1 AND NOT deleted ORDER BY rid LIMIT 5000`, [after]);
      if (rows.length === 0) break;
      if (!out.write(rows.map((r) => r.c).join('\n') + '\n')) await new Promise<void>((r) => out.once('drain', () => r()));
      after = Number(rows[rows.length - 1]!.rid);
      count += rows.length;
    }
    await new Promise<void>((r) => out.end(() => r()));
    return count;
  });
  fs.rmSync(file, { force: true });
  return { seconds: run.seconds, count: run.result };
}

/**
 * The same rows' JSON by `COPY (SELECT content …) TO` a file written by the PostgreSQL server itself: the fastest way
 * the database can put them on disk (PostgreSQL on this machine, and a role allowed to write server files; else null).
 */
async function copyRows(db: RawDb, schema: string): Promise<(Timing & { note?: string }) | null> {
  if (db.kind !== 'postgres') return null;
  const file = path.join(os.tmpdir(), `hearth-bench-copy-${process.pid}.ndjson`);
  const [{ n } = { n: 0 }] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${ident(schema)}.resource WHERE NOT deleted`);
  try {
    const run = await timed(() => db.query(`COPY (SELECT content FROM ${ident(schema)}.resource WHERE NOT deleted) TO '${file}'`));
    return { seconds: run.seconds, count: n };
  } catch (e) {
    return { seconds: 0, count: 0, note: `COPY TO a server file failed: ${(e as Error).message.slice(0, 120)}` };
  } finally {
    fs.rmSync(file, { force: true });
  }
}
