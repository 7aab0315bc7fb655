/**
 * The write baselines' data: rows Hearth stored (resource, resource_version, every idx_* table) fetched untimed, then
 * written again into a scratch schema with the same tables by plain multi-row INSERTs (the timed part).
 */
import type { RawDb, RawQueryable, Row } from './db.js';

const SAFE = /^[a-z_][a-z0-9_]{0,62}$/;
export function ident(name: string): string {
  if (!SAFE.test(name)) throw new Error(`unsafe identifier ${name}`);
  return `"${name}"`;
}

/** One resource's or one bundle's rows, per table. */
export interface RowSet {
  tables: Map<string, Row[]>;
  resources: number;
}

/** The search index tables the tenant migrations created (whatever they are today). */
export async function indexTables(db: RawQueryable, schema: string): Promise<string[]> {
  const rows = await db.query<{ t: string }>(`SELECT table_name AS t FROM information_schema.tables
    WHERE table_schema = $1 AND table_name LIKE 'idx\\_%' ORDER BY table_name`, [schema]);
  return rows.map((r) => r.t);
}

/** jsonb comes back parsed; the INSERT sends JSON text, as a client holding the document would. */
const plain = (r: Row): Row => Object.fromEntries(Object.entries(r).map(([k, v]) =>
  [k, v !== null && typeof v === 'object' && !(v instanceof Date) ? JSON.stringify(v) : v]));

/** Up to `limit` resources after `afterRid` in rid order, with their versions and index rows. */
export async function fetchRows(db: RawQueryable, schema: string, idx: string[], afterRid: number, limit: number) {
  const s = ident(schema);
  const resource = await db.query<Row>(`SELECT rid, type, id, version, last_updated, deleted, content::text AS content
    FROM ${s}.resource WHERE rid > $1 ORDER BY rid LIMIT $2`, [afterRid, limit]);
  const lastRid = resource.length ? Number(resource[resource.length - 1]!.rid) : afterRid;
  const range = [afterRid, lastRid];
  const tables = new Map<string, Row[]>([['resource', resource]]);
  // resource_version has no rid index; its (type, id, version) key reaches the same rows.
  tables.set('resource_version', await db.query(`SELECT v.rid, v.type, v.id, v.version, v.last_updated, v.method,
    v.content::text AS content FROM ${s}.resource r JOIN ${s}.resource_version v ON v.type = r.type AND v.id = r.id
    WHERE r.rid > $1 AND r.rid <= $2`, range));
  for (const t of idx) {
    tables.set(t, (await db.query<Row>(`SELECT * FROM ${s}.${ident(t)} WHERE rid > $1 AND rid <= $2`, range)).map(plain));
  }
  return { set: { tables, resources: resource.length } as RowSet, lastRid };
}

/** Splits a RowSet into consecutive groups of the given resource counts (bundles, or single creates). */
export function split(set: RowSet, sizes: number[]): RowSet[] {
  const groupOf = new Map<number, number>();
  const groups: RowSet[] = sizes.map(() => ({ tables: new Map(), resources: 0 }));
  let at = 0;
  sizes.forEach((n, g) => {
    for (const r of (set.tables.get('resource') ?? []).slice(at, at + n)) groupOf.set(Number(r.rid), g);
    at += n;
    groups[g]!.resources = n;
  });
  for (const [table, rows] of set.tables) {
    for (const r of rows) {
      const g = groups[groupOf.get(Number(r.rid)) ?? -1];
      if (!g) continue;
      const list = g.tables.get(table) ?? [];
      list.push(r);
      g.tables.set(table, list);
    }
  }
  return groups;
}

const MAX_PARAMS = 30_000;

/** One multi-row INSERT per table (chunked under PostgreSQL's parameter limit); resource keeps Hearth's rid. */
export async function insertRows(q: RawQueryable, schema: string, set: RowSet): Promise<void> {
  for (const [table, rows] of set.tables) {
    if (rows.length === 0) continue;
    const columns = Object.keys(rows[0]!);
    const perBatch = Math.max(1, Math.floor(MAX_PARAMS / columns.length));
    const head = `INSERT INTO ${ident(schema)}.${ident(table)} (${columns.map(ident).join(', ')})`
      + (table === 'resource' ? ' OVERRIDING SYSTEM VALUE' : '');
    for (let i = 0; i < rows.length; i += perBatch) {
      const batch = rows.slice(i, i + perBatch);
      const values: unknown[] = [];
      const tuples = batch.map((r) => `(${columns.map((c) => { values.push(r[c]); return `$${values.length}`; }).join(', ')})`);
      await q.query(`${head} VALUES ${tuples.join(', ')}`, values);
    }
  }
}

/** A value in COPY's text format: \\N for NULL, backslash escapes for the characters that delimit rows and fields. */
function copyText(v: unknown): string {
  if (v === null || v === undefined) return '\\N';
  const s = v instanceof Date ? v.toISOString() : typeof v === 'boolean' ? (v ? 't' : 'f') : String(v);
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t');
}

/** One `COPY … FROM STDIN` per table, the rows as text (resource keeps Hearth's rid: COPY writes identity columns as given). */
export async function copyRowsIn(q: RawQueryable, schema: string, set: RowSet): Promise<void> {
  for (const [table, rows] of set.tables) {
    if (rows.length === 0) continue;
    const columns = Object.keys(rows[0]!);
    const data = rows.map((r) => columns.map((c) => copyText(r[c])).join('\t')).join('\n') + '\n';
    await q.copyIn!(`COPY ${ident(schema)}.${ident(table)} (${columns.map(ident).join(', ')}) FROM STDIN`, data);
  }
}

export async function maxRid(db: RawDb, schema: string): Promise<number> {
  const rows = await db.query<{ m: number | string | null }>(`SELECT max(rid) AS m FROM ${ident(schema)}.resource`);
  return Number(rows[0]?.m ?? 0);
}
