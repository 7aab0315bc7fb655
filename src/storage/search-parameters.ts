/**
 * Custom SearchParameters per tenant: a tenant's active SearchParameter resources join the R4 core parameters for
 * its new writes, its searches and its CapabilityStatement — http://hl7.org/fhir/R4/searchparameter.html
 */
import type { Queryable } from '../db/db.js';
import { ident, sql } from '../db/sql.js';
import { sealedColumns } from '../db/vault.js';
import { searchParameterUnusable as unusable } from '../errors.js';
import type { Definitions, SearchParameterDef } from '../fhir/definitions.js';
import type { Resource } from '../fhir/types.js';
import type { Change, WriteHook } from './write.js';
import { compileFhirpath } from '../search/extract-fhirpath.js';
import { type SearchRegistry, createSearchRegistry } from '../search/registry.js';

const TYPES = new Set(['number', 'date', 'string', 'token', 'reference', 'composite', 'quantity', 'uri']);
const CODE = /^-?[A-Za-z][A-Za-z0-9_-]{0,63}$/;
/** Other nodes notice a change within this time; the node that made it, at once. */
const TTL_MS = 5000;

interface Entry { registry: SearchRegistry; loadedAt: number }

/** The SearchParameterDef of a stored SearchParameter, or a 422 saying why it cannot be used. */
export function toDefinition(defs: Definitions, core: SearchRegistry, r: Resource): SearchParameterDef {
  const code = r.code as string | undefined;
  const base = (r.base as string[] | undefined) ?? [];
  const type = r.type as SearchParameterDef['type'];
  if (!code || !CODE.test(code)) throw unusable('SearchParameter.code must be a name of letters, digits, - and _', 'code');
  if (!TYPES.has(type)) throw unusable(`SearchParameter.type '${String(type)}' is not supported for custom parameters`, 'type');
  if (typeof r.expression !== 'string' || r.expression.trim() === '') throw unusable('A custom SearchParameter needs an expression', 'expression');
  for (const b of base) if (!defs.isResourceType(b)) throw unusable(`SearchParameter.base '${b}' is not a resource type`, 'base');
  for (const b of base) {
    const clash = core.get(b, code);
    if (clash) throw unusable(`'${code}' is already a search parameter of ${b} (${clash.url})`, 'code');
  }
  try {
    compileFhirpath(r.expression);
  } catch (e) {
    throw unusable(`The expression does not compile: ${(e as Error).message}`, 'expression');
  }
  return { id: r.id, url: String(r.url), name: String(r.name ?? code), code, base, type, expression: r.expression,
    ...(Array.isArray(r.target) ? { target: r.target as string[] } : {}),
    ...(Array.isArray(r.component) ? { component: r.component as SearchParameterDef['component'] } : {}) };
}

export class TenantSearchParameters {
  private readonly cache = new Map<string, Entry>();

  constructor(private readonly defs: Definitions, readonly core: SearchRegistry) {}

  /** The registry for a tenant schema: the core one unless the tenant defines parameters of its own. */
  async registryFor(q: Queryable, schema: string): Promise<SearchRegistry> {
    const hit = this.cache.get(schema);
    if (hit && Date.now() - hit.loadedAt < TTL_MS) return hit.registry;
    const rows = (await q.query<{ content: Resource }>(sql`SELECT type, id, version, ${sealedColumns(schema)} FROM ${ident(schema)}.resource
      WHERE type = 'SearchParameter' AND NOT deleted`)).filter((r) => r.content.status !== 'retired');
    const custom = rows.flatMap((r) => {
      try {
        return [toDefinition(this.defs, this.core, r.content)];
      } catch {
        return []; // stored before it was checked, or made unusable by a newer core: ignored
      }
    });
    const registry = custom.length === 0 ? this.core : createSearchRegistry(this.defs, custom);
    this.cache.set(schema, { registry, loadedAt: Date.now() });
    return registry;
  }

  invalidate(schema: string): void {
    this.cache.delete(schema);
  }

  /** Checks a SearchParameter as it is written (422 when unusable) and makes the tenant reload its registry. */
  readonly hook: WriteHook = async (_tx, schema, change: Change) => {
    if (change.type !== 'SearchParameter') return;
    if (change.resource && change.resource.status !== 'retired') toDefinition(this.defs, this.core, change.resource);
    this.invalidate(schema);
  };
}
