/** AuditEvent rows: insert (one statement for any number of events), read by id, monthly partitions (issue #6 §6–§7). */
import type { Queryable, Sealer } from '../db/db.js';
import { sealedAuditColumns } from '../db/vault.js';
import { type Deferral, type PendingWrites, deferring } from '../db/deferred.js';
import { type Sql, ident, prepared, raw, sql, sqlParts } from '../db/sql.js';
import type { Resource } from '../fhir/types.js';
import type { AuditRow } from './columns.js';
import { rowDigest } from './chain.js';
import { auditIdInstant } from './event.js';

/** The columns an INSERT writes, with the type each parameter is cast to. */
const COLUMNS: [keyof AuditRow | 'digest' | 'sealed', string][] = [
  ['id', 'uuid'], ['recorded', 'timestamptz'], ['type', 'text[]'], ['subtype', 'text[]'], ['action', 'text'],
  ['outcome', 'text'], ['agent', 'text[]'], ['agent_identifier', 'text[]'], ['altid', 'text[]'], ['policy', 'text[]'],
  ['address', 'text[]'], ['entity', 'text[]'], ['entity_type', 'text[]'], ['entity_role', 'text[]'], ['patient', 'text[]'],
  ['source', 'text'], ['site', 'text'], ['client_reported', 'boolean'], ['content', 'json'], ['digest', 'bytea'],
  ['sealed', 'bytea'],
];
const NAMES = raw(COLUMNS.map(([c]) => c).join(', '));

/**
 * Rows a statement: a VALUES list of typed parameters. Statements of up to PREPARED_ROWS rows are kept prepared
 * (parsed and planned once per connection) per tenant schema and row count. Measured on PostgreSQL 15, database CPU
 * a row: 1 row 200 µs prepared against 345 µs as one unprepared jsonb_to_recordset, 4 rows 100 against 170, 8 rows
 * 83 against 120; past that a statement's fixed cost is spread thin and preparing every size would only fill memory.
 */
const PREPARED_ROWS = 8;
/** Bind parameters a statement holds at most 65,535: 1,000 rows of 20 stay well below. */
const MAX_ROWS = 1000;
/**
 * Statement names across tenants and row counts: beyond this many (32 tenants' worth), inserts run unnamed. Bounds
 * what each database connection holds: the eight shapes of one schema take ~0.7 MB of plan cache a connection.
 */
const MAX_PREPARED = 256;
const named = new Set<string>();

function statement(name: string, q: Sql): Sql {
  if (!named.has(name)) {
    if (named.size >= MAX_PREPARED || name.length > 63) return q;
    named.add(name);
  }
  return prepared(name, q);
}

/**
 * One row's parameters, in COLUMNS order: the resource as JSON text — or, for a tenant with a data key, that text
 * sealed (db/vault.ts) — and the digest of the row over that very text.
 */
function pushValues(row: AuditRow, out: unknown[], seal: Sealer | undefined): void {
  const text = JSON.stringify(row.content);
  const digest = rowDigest(row, text);
  const sealed = seal ? seal('AuditEvent', row.id, 1, text) : null;
  for (const [c] of COLUMNS) out.push(c === 'content' ? (sealed ? null : text) : c === 'digest' ? digest : c === 'sealed' ? sealed : row[c]);
}

/** The statement text for n rows of a schema, split around its parameters (kept for the common, small shapes). */
const texts = new Map<string, string[]>();
const KEPT_TEXT_ROWS = 64;
function insertText(schema: string, n: number): string[] {
  const key = `${schema}\u0000${n}`;
  let parts = texts.get(key);
  if (!parts) {
    ident(schema); // refuses an unsafe name, as everywhere a schema enters SQL
    parts = [`INSERT INTO "${schema}".audit_event (${NAMES.text}) VALUES (`];
    for (let r = 0; r < n; r++) {
      COLUMNS.forEach(([, type], i) => parts!.push(`::${type}${i < COLUMNS.length - 1 ? ', ' : r < n - 1 ? '), (' : ')'}`));
    }
    if (n <= KEPT_TEXT_ROWS && texts.size < MAX_PREPARED) texts.set(key, parts);
  }
  return parts;
}

/**
 * Inserts events: one statement for up to MAX_ROWS of them (more take several — in a transaction they commit with
 * it; outside one each commits before the next is sent, and the caller resumes once all have).
 */
export async function insertAuditRows(q: Queryable, schema: string, rows: AuditRow[]): Promise<void> {
  const seal = await q.keyring?.sealer(schema);
  for (let i = 0; i < rows.length; i += MAX_ROWS) {
    const chunk = rows.slice(i, i + MAX_ROWS);
    const params: unknown[] = [];
    for (const row of chunk) pushValues(row, params, seal);
    const insert = sqlParts(insertText(schema, chunk.length), params);
    await q.query(chunk.length <= PREPARED_ROWS ? statement(`audit_insert_${chunk.length}_${schema}`, insert) : insert);
  }
}

interface DeferredRows { schema: string; rows: number; params: unknown[] }

/** AuditEvents as deferred writes (db/deferred.ts): every event of a transaction since its last read in one INSERT. */
const AUDIT_ROWS: Deferral<DeferredRows> = {
  name: 'audit-rows',
  steps(items, prefix) {
    const bySchema = new Map<string, DeferredRows[]>();
    for (const item of items) {
      const list = bySchema.get(item.schema);
      if (list) list.push(item);
      else bySchema.set(item.schema, [item]);
    }
    const steps: Sql[] = [];
    [...bySchema].forEach(([schema, list], j) => {
      let rows = 0;
      let params: unknown[] = [];
      const step = () => {
        steps.push(sql`${raw(`${prefix}a${j}_${steps.length}`)} AS (${sqlParts(insertText(schema, rows), params)})`);
        rows = 0;
        params = [];
      };
      for (const item of list) {
        if (rows + item.rows > MAX_ROWS) step();
        rows += item.rows;
        params.push(...item.params);
      }
      if (rows > 0) step();
    });
    return steps;
  },
};

/** The rows as deferred items of at most MAX_ROWS rows, their parameters computed (the digest over the JSON sent). */
async function deferredItems(q: Queryable, schema: string, rows: AuditRow[]): Promise<DeferredRows[]> {
  const seal = await q.keyring?.sealer(schema);
  const items: DeferredRows[] = [];
  for (let i = 0; i < rows.length; i += MAX_ROWS) {
    const chunk = rows.slice(i, i + MAX_ROWS);
    const params: unknown[] = [];
    for (const row of chunk) pushValues(row, params, seal);
    items.push({ schema, rows: chunk.length, params });
  }
  return items;
}

/** Defers the rows into q's next statement; false when q does not defer writes (insert them at once). */
export async function deferAuditRows(q: Queryable, schema: string, rows: AuditRow[]): Promise<boolean> {
  const tx = deferring(q);
  if (!tx) return false;
  for (const item of await deferredItems(tx, schema, rows)) await tx.defer(AUDIT_ROWS, item, item.params.length);
  return true;
}

/**
 * The rows as a pending write of their own (for a group commit, db/group-commit.ts, on q), with its weight in
 * parameters.
 */
export async function auditPending(q: Queryable, schema: string, rows: AuditRow[]): Promise<{ writes: PendingWrites; weight: number }> {
  const items = await deferredItems(q, schema, rows);
  return { writes: new Map([[AUDIT_ROWS as Deferral<unknown>, items]]), weight: items.reduce((n, i) => n + i.params.length, 0) };
}

/** By id: the id's timestamp is the row's `recorded`, the partition key (store.ts has no index on id). */
export async function readAuditEvent(q: Queryable, schema: string, id: string): Promise<Resource | undefined> {
  const at = auditIdInstant(id);
  if (!at) return undefined;
  const rows = await q.query<{ content: Resource }>(
    sql`SELECT ${sealedAuditColumns(schema)} FROM ${ident(schema)}.audit_event e WHERE recorded = ${at} AND id = ${id}::uuid LIMIT 1`);
  return rows[0]?.content;
}
