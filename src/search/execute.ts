/** Runs a parsed search: one keyset page of matches — http://hl7.org/fhir/R4/search.html, http.html#paging */
import type { Queryable } from '../db/db.js';
import { type Sql, join, raw, sql } from '../db/sql.js';
import { sealedColumns } from '../db/vault.js';
import type { PageKey } from '../fhir/page-token.js';
import type { Resource } from '../fhir/types.js';
import type { Condition, SearchQuery } from './ast.js';
import { type CompileContext, compileAccess, compileAll } from './compile/index.js';
import { table } from './compile/context.js';
import { keysetCondition, orderBy, sortColumns, sortSignature } from './sort.js';

/** A current, live resource row. */
export interface FoundRow {
  rid: number;
  type: string;
  id: string;
  version: number;
  last_updated: Date;
  content: Resource;
}

export interface Page {
  rows: FoundRow[];
  /** Cursor for the following page, when more rows follow in page order. */
  next?: PageKey;
  /** Cursor for the preceding page, when this page is not the first. */
  previous?: PageKey;
}

interface PageRow extends FoundRow { [key: `k${number}`]: string | null }

/** Conditions that compile the same for every type: compartments, _list, references from a compartment, and
 * Resource-level parameters. */
function sharedByAllTypes(cx: CompileContext, types: string[], c: Condition): boolean {
  if (c.kind === 'compartment' || c.kind === 'list' || c.kind === 'referenced-from') return true;
  if (c.kind !== 'value' && c.kind !== 'missing') return false;
  const base = cx.registry.get(types[0]!, c.code)?.base ?? [];
  return base.includes('Resource') || base.includes('DomainResource');
}

/**
 * The WHERE clause over alias r: live resources of the searched types that the access rule lets the caller see and
 * that satisfy every condition. With several types, type-specific conditions compile per type with that type's
 * definitions (ORed); the rest compile once against the row's own type. allTypes (system search without _type)
 * leaves the type unrestricted.
 */
export function whereClause(cx: CompileContext, types: string[], conditions: Condition[], allTypes = false): Sql {
  if (types.length === 1) {
    const scope = { depth: 0, type: types[0] };
    const access = cx.access ? sql` AND ${compileAccess(cx, scope)}` : sql``;
    return sql`r.type = ${types[0]} AND NOT r.deleted${access} AND ${compileAll(cx, conditions, scope)}`;
  }
  const shared = conditions.filter((c) => sharedByAllTypes(cx, types, c));
  const specific = conditions.filter((c) => !shared.includes(c));
  const parts = [allTypes ? sql`NOT r.deleted` : sql`r.type = ANY(${types}) AND NOT r.deleted`];
  if (cx.access) parts.push(compileAccess(cx, { depth: 0, type: undefined }, allTypes ? undefined : types));
  if (shared.length > 0) parts.push(compileAll(cx, shared, { depth: 0, type: undefined }));
  if (specific.length > 0) {
    const perType = types.map((t) => sql`(r.type = ${t} AND ${compileAll(cx, specific, { depth: 0, type: t })})`);
    parts.push(sql`(${join(perType, ' OR ')})`);
  }
  return join(parts, ' AND ');
}

/** A found row's columns, its body sealed or not (db/vault.ts opens it). */
export const foundColumns = (cx: CompileContext, alias?: string): Sql =>
  sql`${raw(alias ? `${alias}.rid, ${alias}.type, ${alias}.id, ${alias}.version, ${alias}.last_updated` : 'rid, type, id, version, last_updated')}, ${sealedColumns(cx.schema, alias)}`;

/** Up to limit live rows matching where, in no particular order (e.g. Patient/$everything's referenced resources). */
export async function findAllRows(db: Queryable, cx: CompileContext, where: Sql, limit: number): Promise<FoundRow[]> {
  const rows = await db.query<FoundRow>(sql`SELECT ${foundColumns(cx)} FROM ${table(cx, 'resource')} r WHERE ${where} LIMIT ${limit}`);
  return rows.map((r) => ({ ...r, rid: Number(r.rid) }));
}

/** One page (count rows) after or before q.page; fetches one extra row to learn whether more follow. */
export async function findPage(db: Queryable, cx: CompileContext, q: SearchQuery, where: Sql): Promise<Page> {
  if (q.count === 0) return { rows: [] };
  const columns = sortColumns(cx, q.types, q.sort);
  const backwards = q.page?.d === 'p';
  const keys = columns.map((c, n) => sql`${c.expr} AS ${raw(`s${n}`)}`);
  const keyText = columns.map((_c, n) => raw(`q.s${n}::text AS k${n}`));
  const signature = sortSignature(q.sort);
  const after = q.page ? sql`WHERE ${keysetCondition(columns, q.page, signature)}` : sql``;
  const rows = await db.query<PageRow>(sql`SELECT q.rid, q.type, q.id, q.version, q.last_updated, q.content, q.sealed, q.sealed_in, ${join(keyText.map((k) => sql`${k}`), ', ')}
    FROM (SELECT ${foundColumns(cx, 'r')}, ${join(keys, ', ')}
      FROM ${table(cx, 'resource')} r WHERE ${where}) q
    ${after} ORDER BY ${orderBy(columns, backwards)} LIMIT ${q.count + 1}`);
  const more = rows.length > q.count;
  const page = rows.slice(0, q.count);
  if (backwards) page.reverse();
  const cursor = (row: PageRow, d: 'n' | 'p'): PageKey => ({ d, k: [...columns.map((_c, n) => row[`k${n}`] ?? null), signature] });
  const first = page[0];
  const last = page[page.length - 1];
  const moreAfter = backwards ? true : more;
  const moreBefore = backwards ? more : q.page !== undefined;
  return {
    rows: page.map(({ rid, type, id, version, last_updated, content }) => ({ rid: Number(rid), type, id, version, last_updated, content })),
    ...(moreAfter && last ? { next: cursor(last, 'n') } : {}),
    ...(moreBefore && first ? { previous: cursor(first, 'p') } : {}),
  };
}
