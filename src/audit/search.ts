/**
 * AuditEvent search over the audit table's columns (issue #6 §6; ATNA ITI-81 style, audit-event.md §5.2) —
 * http://hl7.org/fhir/R4/auditevent.html#search. The query is parsed like any type's, with the AuditEvent
 * SearchParameters of the registry (issue 13 §2); what is special is only where each parameter's values live (PARAMS).
 * Newest first by default; keyset paging on (recorded, seq).
 */
import type { Queryable } from '../db/db.js';
import { type Sql, ident, join, sql } from '../db/sql.js';
import { sealedAuditColumns } from '../db/vault.js';
import { badRequest } from '../errors.js';
import type { Definitions } from '../fhir/definitions.js';
import type { PageTokens } from '../fhir/page-token.js';
import type { Bundle, Resource } from '../fhir/types.js';
import { bundle } from '../fhir/bundle.js';
import type { Params } from '../fhir/types.js';
import type { TokenValue } from '../search/ast.js';
import { type ColumnParams, type ColumnTarget, columnParams, compileColumns } from '../search/compile/columns.js';
import { parseSearch } from '../search/parse.js';
import type { SearchRegistry } from '../search/registry.js';
import { auditIdInstant } from './event.js';

const AGENT_TYPES = ['Practitioner', 'PractitionerRole', 'Organization', 'Device', 'Patient', 'RelatedPerson'];

const recorded: ColumnTarget = { kind: 'instant', column: 'recorded' };
const address: ColumnTarget = { kind: 'strings', column: 'address' };

/**
 * The AuditEvent SearchParameters (search-params/) the audit table answers, and the columns.ts column of each. Ids
 * carry their recorded instant (event.ts auditId): each becomes a primary-key lookup.
 */
const PARAMS: ColumnParams = {
  _id: { target: { kind: 'custom', compile: (c) => {
    const keys = (c.values as TokenValue[]).flatMap(({ code: id = '' }) => {
      const at = auditIdInstant(id);
      return at ? [sql`(recorded = ${at} AND id = ${id}::uuid)`] : [];
    });
    return keys.length ? sql`(${join(keys, ' OR ')})` : sql`false`;
  } } },
  _lastUpdated: { target: recorded },
  date: { target: recorded },
  type: { target: { kind: 'token-keys', column: 'type' } },
  subtype: { target: { kind: 'token-keys', column: 'subtype' } },
  action: { target: { kind: 'code', column: 'action' } },
  outcome: { target: { kind: 'code', column: 'outcome' } },
  agent: { target: { kind: 'references', column: 'agent', bareTypes: AGENT_TYPES },
    modifiers: { identifier: { kind: 'token-keys', column: 'agent_identifier' } } },
  altid: { target: { kind: 'codes', column: 'altid' } },
  policy: { target: { kind: 'uris', column: 'policy' } },
  entity: { target: { kind: 'references', column: 'entity', bareTypes: [] } },
  'entity-type': { target: { kind: 'token-keys', column: 'entity_type' } },
  'entity-role': { target: { kind: 'token-keys', column: 'entity_role' } },
  patient: { target: { kind: 'references', column: 'patient', bareTypes: ['Patient'] } },
  source: { target: { kind: 'reference-text', column: 'source' } },
  site: { target: { kind: 'code', column: 'site' } },
  address: { target: address, modifiers: { exact: address }, refuseOtherModifiers: true },
};

/** The parameters this search implements (the CapabilityStatement lists exactly these). */
export const AUDIT_SEARCH_PARAMS: readonly string[] = Object.keys(PARAMS);

const SORTS = ['date', '-date', '_lastUpdated', '-_lastUpdated'];

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
  /** The tenant's search parameters (the AuditEvent ones are parsed as for any type) and definitions. */
  registry: SearchRegistry;
  defs: Definitions;
  /** A patient-bound token sees only its patient's events (audit-event.md §5.3). */
  patient?: string;
}

/**
 * Parses with the ordinary search parser (search/parse.ts) and compiles each condition to the audit table's columns
 * (search/compile/columns.ts); parameters without a column are unknown ones (strict: 400; lenient: ignored).
 */
export function parseAuditQuery(query: Params, o: AuditSearchOptions): AuditQuery {
  const sort = query.filter(([k]) => k === '_sort').pop()?.[1];
  if (sort !== undefined && !SORTS.includes(sort)) throw badRequest(`AuditEvent can be sorted by date or -date only, got '${sort}'`, ['_sort']);
  const { accepted, unknown } = columnParams(PARAMS, query);
  if (o.strict && unknown.length > 0) throw badRequest(`Unknown or unsupported search parameter '${unknown[0]}' for AuditEvent`, [unknown[0]!]);
  const parsed = parseSearch({ registry: o.registry, defs: o.defs, base: o.base }, accepted, { types: ['AuditEvent'],
    strict: o.strict, defaultCount: o.defaultCount, maxCount: o.maxCount, pageTokens: o.tokens });
  const q: AuditQuery = { where: parsed.conditions.map((c) => compileColumns(PARAMS, c)),
    descending: parsed.sort[0]?.descending ?? true, count: parsed.count,
    used: parsed.applied.filter(([k]) => k !== '_count'),
    warnings: unknown.map((k) => `Parameter '${k}' is not supported for AuditEvent and was ignored`) };
  if (o.patient) q.where.push(patientCondition(o.patient));
  if (parsed.page) {
    const [at, seq] = parsed.page.k;
    if (typeof at !== 'string' || typeof seq !== 'number') throw badRequest('The page link is not an AuditEvent page', ['_page']);
    q.page = { d: parsed.page.d, k: [at, seq] };
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
  const rows = await db.query<Row>(sql`SELECT seq, recorded, ${sealedAuditColumns(schema)} FROM ${ident(schema)}.audit_event e
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
