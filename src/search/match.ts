/**
 * Resolves search criteria to matching resources for conditional interactions — http://hl7.org/fhir/R4/http.html#ccreate
 * Supports _id and identifier (token) until the search engine (issue #3) replaces it.
 */
import type { Queryable } from '../db/db.js';
import { type Sql, ident, join, sql } from '../db/sql.js';
import { badRequest } from '../errors.js';
import type { Params } from '../interactions/context.js';
import type { Versioned } from '../storage/resources.js';

/** Splits a token on its first unescaped '|'. */
function token(value: string): { system?: string; code?: string } {
  const i = value.search(/(?<!\\)\|/);
  if (i < 0) return { code: value };
  return { system: value.slice(0, i), code: value.slice(i + 1) };
}

function identifierClause(value: string): Sql {
  const alternatives = value.split(',').map((v) => {
    const { system, code } = token(v);
    const probe: Record<string, string> = {};
    if (system) probe.system = system;
    if (code) probe.value = code;
    if (system === '' && code) return sql`EXISTS (SELECT 1 FROM jsonb_array_elements(r.content->'identifier') i
      WHERE i->>'value' = ${code} AND NOT i ? 'system')`;
    return sql`r.content->'identifier' @> ${JSON.stringify([probe])}::jsonb`;
  });
  return sql`(${join(alternatives, ' OR ')})`;
}

function clause(name: string, value: string): Sql {
  if (value === '') throw badRequest(`Search parameter ${name} has an empty value`);
  if (name === '_id') return sql`r.id = ANY(${value.split(',')})`;
  if (name === 'identifier') return identifierClause(value);
  throw badRequest(`Search parameter '${name}' is not supported in conditional criteria yet`);
}

const IGNORED = new Set(['_format', '_pretty']);

export async function matchResources(db: Queryable, schema: string, type: string, params: Params, limit: number): Promise<Versioned[]> {
  const criteria = params.filter(([k]) => !IGNORED.has(k));
  for (const [k] of criteria) {
    if (k.startsWith('_') && k !== '_id') throw badRequest(`'${k}' is not allowed in conditional criteria`);
  }
  const where = [sql`r.type = ${type}`, sql`NOT r.deleted`, ...criteria.map(([k, v]) => clause(k, v))];
  const rows = await db.query<{ id: string; version: number; last_updated: Date; content: Versioned['resource'] }>(
    sql`SELECT r.id, r.version, r.last_updated, r.content FROM ${ident(schema)}.resource r
      WHERE ${join(where, ' AND ')} LIMIT ${limit}`);
  return rows.map((r) => ({ type, id: r.id, versionId: r.version, lastUpdated: new Date(r.last_updated), deleted: false,
    ...(r.content ? { resource: r.content } : {}) }));
}
