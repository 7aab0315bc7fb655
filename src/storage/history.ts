/** History queries over the version table, newest first, paged by keyset — http://hl7.org/fhir/R4/http.html#history */
import type { Queryable } from '../db/db.js';
import { type Sql, ident, join, sql } from '../db/sql.js';
import { sealedColumns } from '../db/vault.js';
import type { DateRange } from '../fhir/datetime.js';
import { type Versioned, type WriteMethod, fromVersion } from './resources.js';

export interface HistoryQuery {
  type?: string;
  id?: string;
  since?: Date;
  at?: DateRange;
  /** Keyset position (last_updated ISO, seq) and direction. */
  after?: { lastUpdated: string; seq: number; direction: 'next' | 'previous' };
  limit: number;
}

export interface HistoryRow extends Versioned {
  seq: number;
}

function filters(schema: string, q: HistoryQuery): Sql[] {
  const where: Sql[] = [];
  if (q.type) where.push(sql`v.type = ${q.type}`);
  if (q.id) where.push(sql`v.id = ${q.id}`);
  if (q.since) where.push(sql`v.last_updated >= ${q.since}`);
  if (q.at) {
    // Current at some instant of [lo, hi): written before hi and not replaced until after lo.
    where.push(sql`v.last_updated < ${q.at.hi}`);
    where.push(sql`NOT EXISTS (SELECT 1 FROM ${ident(schema)}.resource_version n
      WHERE n.rid = v.rid AND n.version = v.version + 1 AND n.last_updated <= ${q.at.lo})`);
  }
  return where;
}

export async function readHistory(db: Queryable, schema: string, q: HistoryQuery): Promise<HistoryRow[]> {
  const where = filters(schema, q);
  const backwards = q.after?.direction === 'previous';
  if (q.after) {
    const at = new Date(q.after.lastUpdated);
    where.push(backwards
      ? sql`(v.last_updated, v.seq) > (${at}, ${q.after.seq})`
      : sql`(v.last_updated, v.seq) < (${at}, ${q.after.seq})`);
  }
  const order = backwards ? sql`ORDER BY v.last_updated ASC, v.seq ASC` : sql`ORDER BY v.last_updated DESC, v.seq DESC`;
  const rows = await db.query<{ seq: number; type: string; id: string; version: number; last_updated: Date;
    method: WriteMethod; content: null }>(sql`SELECT v.seq, v.type, v.id, v.version, v.last_updated, v.method, ${sealedColumns(schema, 'v')}
    FROM ${ident(schema)}.resource_version v ${where.length ? sql`WHERE ${join(where, ' AND ')}` : sql``}
    ${order} LIMIT ${q.limit}`);
  const out = rows.map((r) => ({ ...fromVersion(r), seq: r.seq }));
  return backwards ? out.reverse() : out;
}

export async function countHistory(db: Queryable, schema: string, q: HistoryQuery): Promise<number> {
  const where = filters(schema, q);
  const rows = await db.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM ${ident(schema)}.resource_version v
    ${where.length ? sql`WHERE ${join(where, ' AND ')}` : sql``}`);
  return rows[0]?.n ?? 0;
}

export async function resourceEverExisted(db: Queryable, schema: string, type: string, id: string): Promise<boolean> {
  const rows = await db.query(sql`SELECT 1 FROM ${ident(schema)}.resource WHERE type = ${type} AND id = ${id}`);
  return rows.length > 0;
}
