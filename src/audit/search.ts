/**
 * AuditEvent search over the audit table's columns (issue #6 §6; ATNA ITI-81 style, audit-event.md §5.2) —
 * http://hl7.org/fhir/R4/auditevent.html#search. Newest first by default; keyset paging on (recorded, seq).
 */
import type { Queryable } from '../db/db.js';
import { type Sql, ident, join, sql } from '../db/sql.js';
import { badRequest } from '../errors.js';
import type { PageTokens } from '../fhir/page-token.js';
import type { Bundle, Resource } from '../fhir/types.js';
import { bundle } from '../fhir/bundle.js';
import type { Params } from '../fhir/types.js';
import { pointMatch } from '../search/compile/date.js';
import { splitUnescaped, unescape } from '../search/escape.js';
import { parseDateValue } from '../search/parse-value.js';
import { referenceKey } from './columns.js';
import { auditIdInstant } from './event.js';

const AGENT_TYPES = ['Practitioner', 'PractitionerRole', 'Organization', 'Device', 'Patient', 'RelatedPerson'];

type Compile = (values: string[], name: string, base: string) => Sql;

const likeLiteral = (v: string) => v.replace(/[\\%_]/g, '\\$&');

/**
 * Token values against keys as columns.ts stores them, 'system|code' or '|code' (token search, search.html#token):
 * 'system|code' and '|code' are keys; 'code' is any key ending '|code'; 'system|' any key starting so. Rows from
 * before one key a Coding also hold 'code' and 'system|' themselves, which these match as well.
 */
const tokens = (col: string): Compile => (values) => {
  const exact: string[] = [];
  const patterns: string[] = [];
  for (const raw of values) {
    const v = unescape(raw);
    const bar = v.indexOf('|');
    if (bar < 0) { exact.push(v); patterns.push(`%|${likeLiteral(v)}`); }
    else if (bar === v.length - 1) { exact.push(v); patterns.push(`${likeLiteral(v)}%`); }
    else exact.push(v);
  }
  return sql`EXISTS (SELECT 1 FROM unnest(${ident(col)}) k WHERE k = ANY(${exact}::text[]) OR k LIKE ANY(${patterns}::text[]))`;
};
const scalar = (col: string): Compile => (values) => sql`${ident(col)} = ANY(${values.map((v) => unescape(v).replace(/^.*\|/, ''))}::text[])`;

/** Reference values: Type/id, an absolute URL on this base, or a bare id (for the parameter's target types). */
function references(col: string, bareTypes: string[]): Compile {
  return (values, name, base) => {
    const keys = values.flatMap((raw) => {
      const v = unescape(raw);
      const local = v.startsWith(`${base}/`) ? v.slice(base.length + 1) : v;
      const key = referenceKey(local);
      if (key && key === local.replace(/\/_history\/.*$/, '')) return [key];
      if (/^[A-Za-z0-9\-.]{1,64}$/.test(v)) return bareTypes.map((t) => `${t}/${v}`);
      throw badRequest(`'${v}' is not a reference this server can search for '${name}'`, [name]);
    });
    return sql`${ident(col)} && ${keys}::text[]`;
  };
}

/** Strings: starts-with, case-insensitive (search.html#string); :exact is exact. */
function compileString(col: string, values: string[], modifier: string | undefined): Sql {
  const alternatives = values.map((raw) => {
    const v = unescape(raw);
    return modifier === 'exact' ? sql`${v} = ANY(${ident(col)})`
      : sql`EXISTS (SELECT 1 FROM unnest(${ident(col)}) a WHERE lower(a) LIKE ${`${likeLiteral(v.toLowerCase())}%`})`;
  });
  return sql`(${join(alternatives, ' OR ')})`;
}

const dates: Compile = (values, name) => sql`(${join(values.map((v) => pointMatch(sql`recorded`, parseDateValue(v, name))), ' OR ')})`;

const PARAMS: Record<string, Compile> = {
  // ids carry their recorded instant (event.ts auditId): each becomes a primary-key lookup
  _id: (values) => {
    const keys = values.map(unescape).flatMap((id) => { const at = auditIdInstant(id); return at ? [sql`(recorded = ${at} AND id = ${id}::uuid)`] : []; });
    return keys.length ? sql`(${join(keys, ' OR ')})` : sql`false`;
  },
  _lastUpdated: dates,
  date: dates,
  type: tokens('type'),
  subtype: tokens('subtype'),
  action: scalar('action'),
  outcome: scalar('outcome'),
  agent: references('agent', AGENT_TYPES),
  'agent:identifier': tokens('agent_identifier'),
  altid: (values) => sql`altid && ${values.map((v) => unescape(v).replace(/^.*\|/, ''))}::text[]`,
  policy: (values) => sql`policy && ${values.map(unescape)}::text[]`,
  entity: references('entity', []),
  'entity-type': tokens('entity_type'),
  'entity-role': tokens('entity_role'),
  patient: references('patient', ['Patient']),
  source: (values, _name, base) => sql`source = ANY(${values.map((v) => {
    const u = unescape(v);
    return u.startsWith(`${base}/`) ? u.slice(base.length + 1) : u;
  })}::text[])`,
  site: scalar('site'),
};

/** The parameters this search implements (the CapabilityStatement lists exactly these). */
export const AUDIT_SEARCH_PARAMS: readonly string[] = [...Object.keys(PARAMS).filter((k) => !k.includes(':')), 'address'];

const CONTROL = new Set(['_count', '_sort', '_page', '_total', '_format', '_pretty', '_summary', '_elements']);

/** Events that name Patient/[id] (as an agent or an entity): a token's bound patient, or a compartment search. */
export const patientCondition = (id: string): Sql => sql`patient && ${[`Patient/${id}`]}::text[]`;

export interface AuditQuery {
  where: Sql[];
  descending: boolean;
  count: number;
  page?: { d: 'n' | 'p'; k: [string, number] };
  /** The parameters that took effect (for the self link). */
  used: Params;
  warnings: string[];
}

export interface AuditSearchOptions {
  base: string;
  strict: boolean;
  defaultCount: number;
  maxCount: number;
  tokens: PageTokens;
  /** A patient-bound token sees only its patient's events (audit-event.md §5.3). */
  patient?: string;
}

function count(raw: string | undefined, o: AuditSearchOptions): number {
  if (raw === undefined) return o.defaultCount;
  if (!/^\d+$/.test(raw)) throw badRequest(`_count must be a whole number, got '${raw}'`, ['_count']);
  return Math.min(Number(raw), o.maxCount);
}

export function parseAuditQuery(query: Params, o: AuditSearchOptions): AuditQuery {
  const q: AuditQuery = { where: [], descending: true, count: o.defaultCount, used: [], warnings: [] };
  for (const [key, value] of query) {
    if (CONTROL.has(key)) continue;
    const [name, modifier] = key.split(':') as [string, string | undefined];
    const values = splitUnescaped(value, ',').filter((v) => v !== '');
    if (values.length === 0) continue;
    const compile = PARAMS[key] ?? (modifier === undefined ? PARAMS[name] : undefined);
    if (name === 'address') {
      if (modifier !== undefined && modifier !== 'exact') throw badRequest(`Modifier :${modifier} is not supported on address`, [key]);
      q.where.push(compileString('address', values, modifier));
    } else if (compile) {
      q.where.push(compile(values, name, o.base));
    } else {
      if (o.strict) throw badRequest(`Unknown or unsupported search parameter '${key}' for AuditEvent`, [key]);
      q.warnings.push(`Parameter '${key}' is not supported for AuditEvent and was ignored`);
      continue;
    }
    q.used.push([key, value]);
  }
  if (o.patient) q.where.push(patientCondition(o.patient));
  q.count = count(query.filter(([k]) => k === '_count').pop()?.[1], o);
  const sort = query.filter(([k]) => k === '_sort').pop()?.[1];
  if (sort !== undefined) {
    if (!['date', '-date', '_lastUpdated', '-_lastUpdated'].includes(sort)) throw badRequest(`AuditEvent can be sorted by date or -date only, got '${sort}'`, ['_sort']);
    q.descending = sort.startsWith('-');
    q.used.push(['_sort', sort]);
  }
  const page = query.filter(([k]) => k === '_page').pop()?.[1];
  if (page !== undefined) {
    const key = o.tokens.decode(page);
    const [recorded, seq] = key.k;
    if (typeof recorded !== 'string' || typeof seq !== 'number') throw badRequest('The page link is not an AuditEvent page', ['_page']);
    q.page = { d: key.d, k: [recorded, seq] };
  }
  return q;
}

interface Row { seq: number; recorded: Date | string; content: Resource }

export async function searchAuditEvents(db: Queryable, schema: string, path: string, q: AuditQuery, o: AuditSearchOptions): Promise<Bundle> {
  const where = [...q.where];
  // Previous pages read backwards from the boundary, then flip; "after" in the reading order is the next page.
  const backwards = q.page?.d === 'p';
  const desc = q.descending !== backwards;
  if (q.page) {
    const [recorded, seq] = q.page.k;
    where.push(desc ? sql`(recorded, seq) < (${recorded}::timestamptz, ${seq}::bigint)` : sql`(recorded, seq) > (${recorded}::timestamptz, ${seq}::bigint)`);
  }
  const order = desc ? sql`recorded DESC, seq DESC` : sql`recorded ASC, seq ASC`;
  const rows = await db.query<Row>(sql`SELECT seq, recorded, content FROM ${ident(schema)}.audit_event
    WHERE ${where.length ? join(where, ' AND ') : sql`true`} ORDER BY ${order} LIMIT ${q.count + 1}`);
  const more = rows.length > q.count;
  const shown = rows.slice(0, q.count);
  if (backwards) shown.reverse();
  const keyOf = (r: Row): [string, number] => [new Date(r.recorded).toISOString(), Number(r.seq)];
  const link = (d: 'n' | 'p', r: Row) => `${o.base}/${path}?${new URLSearchParams([...q.used, ['_count', String(q.count)],
    ['_page', o.tokens.encode({ d, k: keyOf(r) })]]).toString()}`;
  const self = `${o.base}/${path}${q.used.length ? `?${new URLSearchParams(q.used).toString()}` : ''}`;
  const hasNext = backwards ? q.page !== undefined : more;
  const hasPrev = backwards ? more : q.page !== undefined;
  const links = {
    self,
    ...(hasPrev && shown.length ? { previous: link('p', shown[0]!) } : {}),
    ...(hasNext && shown.length ? { next: link('n', shown[shown.length - 1]!) } : {}),
  };
  const entries = shown.map((r) => ({ fullUrl: `${o.base}/AuditEvent/${r.content.id}`, resource: r.content, search: { mode: 'match' as const } }));
  return bundle('searchset', entries, links);
}
