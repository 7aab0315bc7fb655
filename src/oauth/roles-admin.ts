/**
 * Role administration (issue #16 §1): a tenant's roles are documents of the admin API (`/admin/tenants/<t>/roles`)
 * and the CLI (`hearth role`), kept in auth_role, rather than FHIR resources: a role is a security setting of the
 * authorization server, like a client or a user, changed by operators and audited as a configuration change —
 * never reachable through the FHIR API a role governs. A role that cannot be evaluated is refused with 422 naming
 * its part; a role held by users cannot be deleted (409). Changes reach every node's grant cache through the trigger
 * of migration 016, so they apply to the next request.
 */
import type { Queryable } from '../db/db.js';
import { ident, sql } from '../db/sql.js';
import { badRequest, conflict, roleNotFound, unprocessable } from '../errors.js';
import type { Params } from '../fhir/types.js';
import { authChanged } from '../auth/grant-cache.js';
import { PURPOSE_SYSTEM } from '../auth/consent.js';
import { RELATIONSHIPS } from '../auth/roles.js';
import { parseRule } from '../auth/scopes.js';
import { queryProblem } from '../auth/access.js';
import type { Definitions } from '../fhir/definitions.js';
import type { TenantSearchParameters } from '../storage/search-parameters.js';

export const ROLE_NAME = /^[a-z][a-z0-9-]{0,63}$/;

export interface RoleView {
  name: string; description: string; scopes: string; relationship: string[] | null; breakGlass: boolean; purpose: string[];
  updatedAt: string;
}

interface Row {
  name: string; description: string; scopes: string; relationship: string[] | null; break_glass: boolean; purpose: string[];
  updated_at: Date;
}

/** What checking a role needs from the tenant: resource types, and whether a query restriction can be evaluated. */
export interface RoleChecks {
  isType: (type: string) => boolean;
  /** undefined when the query can be evaluated on type; else why not. */
  queryProblem: (type: string, query: Params) => string | undefined;
}

/** The checks of a tenant's roles: its resource types and its search parameters (custom ones included). */
export async function tenantRoleChecks(db: Queryable, schema: string, defs: Definitions, search: TenantSearchParameters,
  base: string): Promise<RoleChecks> {
  const registry = await search.registryFor(db, schema);
  return { isType: (t) => defs.isResourceType(t), queryProblem: (type, query) => queryProblem({ registry, defs, base }, type, query) };
}

const roles = (schema: string) => sql`${ident(schema)}.auth_role`;
const view = (r: Row): RoleView => ({ name: r.name, description: r.description, scopes: r.scopes, relationship: r.relationship,
  breakGlass: r.break_glass, purpose: r.purpose, updatedAt: new Date(r.updated_at).toISOString() });

export async function listRoles(db: Queryable, schema: string): Promise<RoleView[]> {
  return (await db.query<Row>(sql`SELECT * FROM ${roles(schema)} ORDER BY name`)).map(view);
}

export async function readRole(db: Queryable, schema: string, name: string): Promise<RoleView> {
  const rows = ROLE_NAME.test(name) ? await db.query<Row>(sql`SELECT * FROM ${roles(schema)} WHERE name = ${name}`) : [];
  if (!rows[0]) throw roleNotFound(name);
  return view(rows[0]);
}

/**
 * The role's scopes, each a user/ SMART v2 scope this server can evaluate or `user/$erase`; 422 naming the first that
 * is not.
 */
function checkScopes(scopes: unknown, checks: RoleChecks): string {
  if (typeof scopes !== 'string' || scopes.trim() === '' || scopes.length > 8192) {
    throw unprocessable('scopes must be a non-empty, space-separated list of user/ scopes, e.g. "user/Observation.rs"', ['scopes']);
  }
  const list = [...new Set(scopes.split(/\s+/).filter((s) => s !== ''))];
  for (const text of list) {
    if (text === 'user/$erase') continue; // lets holders erase (Patient/$erase, $expunge) with an app granted it
    const rule = parseRule(text, checks.isType);
    if (!rule) throw unprocessable(`scope '${text}' is not a SMART resource scope this server knows`, ['scopes']);
    if (rule.level !== 'user') throw unprocessable(`scope '${text}': a role's ceiling is made of user/ scopes`, ['scopes']);
    const problem = rule.query ? checks.queryProblem(rule.type, rule.query) : undefined;
    if (problem) throw unprocessable(`scope '${text}': its query cannot be evaluated (${problem})`, ['scopes']);
  }
  return list.join(' ');
}

function checkRelationship(relationship: unknown): string[] | null {
  if (relationship === null || relationship === undefined) return null;
  const known: readonly string[] = RELATIONSHIPS;
  if (!Array.isArray(relationship) || relationship.length === 0 || relationship.some((k) => typeof k !== 'string' || !known.includes(k))) {
    throw unprocessable(`relationship must be null (every patient) or a non-empty list of ${RELATIONSHIPS.join(', ')}`, ['relationship']);
  }
  return [...new Set(relationship as string[])].sort();
}

/**
 * The purposes of use its holders act under (v3 ActReason codes, which Consent provisions name; default TREAT); 422
 * naming the part otherwise.
 */
function checkPurpose(purpose: unknown): string[] {
  if (purpose === undefined) return ['TREAT'];
  if (!Array.isArray(purpose) || purpose.length > 20 || purpose.some((p) => typeof p !== 'string' || !/^[A-Z][A-Z0-9]{1,19}$/.test(p))) {
    throw unprocessable(`purpose must be a list of purpose-of-use codes of ${PURPOSE_SYSTEM}, e.g. ["TREAT"]`, ['purpose']);
  }
  return [...new Set(purpose as string[])].sort();
}

/** Creates or replaces a role: {scopes, relationship?, description?, breakGlass?}. */
export async function putRole(db: Queryable, schema: string, name: string, body: unknown, checks: RoleChecks, at: Date): Promise<RoleView> {
  if (!ROLE_NAME.test(name)) throw badRequest('A role name is 1–64 lower-case letters, digits and -, starting with a letter', ['name']);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badRequest('The role must be a JSON object {"scopes", "relationship"?, "description"?, "breakGlass"?, "purpose"?}');
  }
  const { scopes, relationship, description, breakGlass, purpose, name: named, ...rest } = body as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) {
    throw badRequest(`Unknown role field(s): ${unknown.join(', ')} (known: scopes, relationship, description, breakGlass, purpose)`);
  }
  if (named !== undefined && named !== name) throw badRequest('name in the body differs from the name in the path', ['name']);
  if (description !== undefined && (typeof description !== 'string' || description.length > 1000)) {
    throw badRequest('description must be a string of at most 1000 characters', ['description']);
  }
  if (breakGlass !== undefined && typeof breakGlass !== 'boolean') throw badRequest('breakGlass must be true or false', ['breakGlass']);
  const checked = checkScopes(scopes, checks);
  const related = checkRelationship(relationship);
  const purposes = checkPurpose(purpose);
  const rows = await db.query<Row>(sql`INSERT INTO ${roles(schema)} (name, description, scopes, relationship, break_glass, purpose, updated_at)
    VALUES (${name}, ${description ?? ''}, ${checked}, ${related}, ${breakGlass === true}, ${purposes}, ${at})
    ON CONFLICT (name) DO UPDATE SET description = excluded.description, scopes = excluded.scopes,
      relationship = excluded.relationship, break_glass = excluded.break_glass, purpose = excluded.purpose,
      updated_at = excluded.updated_at
    RETURNING *`);
  authChanged(schema);
  return view(rows[0]!);
}

/** Deletes a role no user holds (409 naming how many do). */
export async function deleteRole(db: Queryable, schema: string, name: string): Promise<void> {
  await readRole(db, schema, name);
  const [{ n }] = await db.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM ${ident(schema)}.auth_user
    WHERE ${name} = ANY(roles)`) as [{ n: number }];
  if (n > 0) throw conflict(`Role '${name}' is held by ${n} user(s); take it from them first`);
  await db.query(sql`DELETE FROM ${roles(schema)} WHERE name = ${name}`);
  authChanged(schema);
}

/**
 * A user's roles as given to a user write: null (an unmanaged user, limited by the app's scopes alone) or a list of
 * existing role names (an empty list allows nothing). 422 naming an unknown role.
 */
export async function checkUserRoles(db: Queryable, schema: string, value: unknown): Promise<string[] | null> {
  if (value === null) return null;
  if (!Array.isArray(value) || value.length > 50 || value.some((r) => typeof r !== 'string' || !ROLE_NAME.test(r))) {
    throw badRequest('roles must be null or a list of role names', ['roles']);
  }
  const names = [...new Set(value as string[])].sort();
  const known = new Set((await db.query<{ name: string }>(sql`SELECT name FROM ${roles(schema)} WHERE name = ANY(${names})`)).map((r) => r.name));
  const missing = names.find((n) => !known.has(n));
  if (missing) throw unprocessable(`Role '${missing}' does not exist in this tenant`, ['roles']);
  return names;
}
