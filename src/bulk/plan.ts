/**
 * Inside the job: the kick-off's token rebuilt as an Access (bulk-data.md §1.6: policy filtering applies inside the
 * job too), and from it and the parameters, what each exported type is narrowed to.
 */
import { Access, type Principal } from '../auth/access.js';
import type { ConsentView } from '../auth/consent.js';
import { reviveRules } from '../auth/kept-principal.js';
import type { Deps } from '../interactions/context.js';
import type { Condition } from '../search/ast.js';
import type { SearchRegistry } from '../search/registry.js';
import type { Tenant } from '../storage/tenants.js';
import type { ScanPlan } from '../storage/as-of.js';
import { typeFilterConditions } from './type-filter.js';
import { REFERENCED_TYPES } from './scope.js';
import type { ExportParams } from './types.js';

/** The kick-off's principal as the job keeps it (kickoff.ts). */
export function jobPrincipal(deps: Deps, params: ExportParams): Principal {
  const p = params.principal;
  const rules = reviveRules(deps.defs, p.scope, p.rules);
  return { clientId: p.clientId, subject: p.subject, scope: p.scope, rules, grantId: '',
    ...(p.fhirUser ? { fhirUser: p.fhirUser } : {}), ...(p.related ? { related: new Map(Object.entries(p.related)) } : {}),
    ...(p.purposes ? { purposes: p.purposes } : {}) };
}

/** The kick-off's Access; with consent, narrowed as well by the patients' Consents in force when the job runs. */
export function jobAccess(deps: Deps, tenant: Tenant, registry: SearchRegistry, params: ExportParams, consent?: ConsentView): Access {
  return new Access(jobPrincipal(deps, params), tenant.schema, registry, deps.defs, params.base, consent);
}

/** Scope narrowing AND the type's _typeFilter queries (ORed among themselves). */
function both(narrowing: Condition | null, filter: Condition | undefined): Condition | undefined {
  if (narrowing && filter) return { kind: 'any', alternatives: [[narrowing, filter]] };
  return narrowing ?? filter;
}

export async function scanPlan(deps: Deps, tenant: Tenant, job: string, params: ExportParams, t: Date): Promise<ScanPlan> {
  const registry = await deps.tenantSearch.registryFor(deps.db, tenant.schema);
  // An offboarding export is the tenant's own data handed back whole: the patients' Consents bind disclosure, not it.
  const consent = (params as { offboarding?: boolean }).offboarding ? undefined
    : await deps.auth.consents?.viewFor(deps.db, tenant.schema, jobPrincipal(deps, params), deps.auth.now());
  const access = jobAccess(deps, tenant, registry, params, consent);
  const filters = params.typeFilters
    ? typeFilterConditions({ registry, defs: deps.defs, base: params.base }, params.typeFilters) : new Map<string, Condition>();
  const types: string[] = [];
  const conditions = new Map<string, Condition>();
  for (const type of params.types) {
    const narrowing = access.narrowing(type, 's');
    if (narrowing === false) continue;
    types.push(type);
    const c = both(narrowing, filters.get(type));
    if (c) conditions.set(type, c);
  }
  return {
    schema: tenant.schema, t, job, cx: { schema: tenant.schema, registry, defs: deps.defs, access: access.searchRule }, types,
    allTypes: types.length === deps.defs.resourceTypes.size, conditions,
    ...(params.since ? { since: new Date(params.since) } : {}), patientLevel: params.level !== 'system',
    referencedTypes: REFERENCED_TYPES,
  };
}

/** `_elements` that apply to a type: unprefixed ones and `Type.x` of that type; undefined → the whole resource. */
export function elementsFor(elements: string[] | undefined, type: string): string[] | undefined {
  const mine = (elements ?? []).filter((e) => !e.includes('.') || e.startsWith(`${type}.`)).map((e) => e.split('.').pop()!);
  return mine.length > 0 ? mine : undefined;
}
