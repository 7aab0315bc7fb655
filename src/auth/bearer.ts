/**
 * The resource server's side of SMART (smart-app-launch.md §9.1–9.3): the bearer token of a FHIR request → a
 * Principal, or 401 with WWW-Authenticate (RFC 6750). Tokens are our own RS256 JWTs; the grant they carry is looked
 * up on every request (or found in the grant cache, which revocations clear on every node) so that revocation and
 * logout take effect at once.
 */
import { invalidToken, tenantSuspended } from '../errors.js';
import type { Config } from '../config.js';
import type { Db, Queryable } from '../db/db.js';
import type { Definitions } from '../fhir/definitions.js';
import type { Tenant } from '../storage/tenants.js';
import { grantActive } from './grants.js';
import { type GrantGlass, findTenantAndGrant } from '../storage/tenants.js';
import { decodeJwt, epochSeconds, verifySignature } from './jws.js';
import { ERASE_SCOPES, type ScopeRule, parseScopes } from './scopes.js';
import { type RoleCeiling, intersectRules } from './roles.js';
import { relatedPatients } from './relationships.js';
import { type AccessTokenClaims, type AuthServices, issuerFor } from './tokens.js';
import type { Principal } from './access.js';

const str = (v: unknown): v is string => typeof v === 'string' && v !== '';

/** The signed claims of one of our access tokens for this FHIR base (no database access), or why it is not valid. */
/** What checking a bearer token needs: the database (grants), the resource types, the signing keys and clock, the skew. */
export interface BearerDeps {
  config: Pick<Config, 'clockSkewS'>;
  db: Db;
  defs: Definitions;
  auth: AuthServices;
}

async function verifyClaims(deps: BearerDeps, fhirBase: string, token: string): Promise<{ claims: AccessTokenClaims } | { reason: string }> {
  let jwt;
  try {
    jwt = decodeJwt(token);
  } catch {
    return { reason: 'The access token is not a JWT' };
  }
  const { header, claims } = jwt;
  if (header.alg !== 'RS256' || !str(header.kid)) return { reason: 'The access token is not signed by this server' };
  const key = await deps.auth.keys.publicKey(header.kid);
  if (!key || !(await verifySignature(jwt, key, 'RS256'))) return { reason: 'The access token signature is not valid' };
  const c = claims as Partial<AccessTokenClaims>;
  if (c.iss !== issuerFor(fhirBase) || c.aud !== fhirBase) return { reason: 'The access token is for another server or tenant' };
  const now = epochSeconds(deps.auth.now());
  // Clock skew tolerated on exp and iat: HEARTH_CLOCK_SKEW_SECONDS (default 5).
  const skew = deps.config.clockSkewS;
  if (typeof c.exp !== 'number' || c.exp + skew <= now) return { reason: 'The access token has expired' };
  if (typeof c.iat === 'number' && c.iat - skew > now) return { reason: 'The access token is not valid yet' };
  if (!str(c.grant) || !str(c.scope) || !str(c.client_id) || !str(c.sub)) return { reason: 'The access token lacks required claims' };
  return { claims: c as AccessTokenClaims };
}

const REVOKED = 'The access token has been revoked';

/**
 * The claims of one of our access tokens for this FHIR base, verified (signature, issuer, audience, expiry, live
 * grant), or a reason it is not valid.
 */
export async function verifyAccessToken(deps: BearerDeps, tenant: Tenant, fhirBase: string, token: string):
  Promise<{ claims: AccessTokenClaims } | { reason: string }> {
  const result = await verifyClaims(deps, fhirBase, token);
  if ('reason' in result) return result;
  return (await grantActive(deps.db, tenant.schema, result.claims.grant)) ? result : { reason: REVOKED };
}

/** The rules of a scope string met with roles, by both: the same few combinations recur on every request. */
const ruleCache = new Map<string, ScopeRule[]>();
const RULE_CACHE_MAX = 1_000;

function rulesOf(deps: BearerDeps, scope: string, roles?: RoleCeiling[]): ScopeRule[] {
  const key = roles ? `${scope}\n${JSON.stringify(roles)}` : scope;
  let rules = ruleCache.get(key);
  if (!rules) {
    const isType = (t: string) => deps.defs.isResourceType(t);
    const app = parseScopes(scope, isType).rules;
    rules = roles ? intersectRules(app, roles, isType) : app;
    if (ruleCache.size >= RULE_CACHE_MAX) ruleCache.delete(ruleCache.keys().next().value!);
    ruleCache.set(key, rules);
  }
  return rules;
}

function principalOf(deps: BearerDeps, claims: AccessTokenClaims, roles?: RoleCeiling[], glass?: GrantGlass[]): Principal {
  const now = deps.auth.now().getTime();
  const erase = ERASE_SCOPES.some((e) => claims.scope.split(' ').includes(e))
    && (!roles || roles.some((r) => r.scopes.split(/\s+/).includes('user/$erase')));
  const broken = [...new Set((glass ?? []).filter((g) => new Date(g.expiresAt).getTime() > now).map((g) => g.patient))];
  return {
    clientId: claims.client_id, subject: claims.sub, scope: claims.scope, grantId: claims.grant,
    rules: rulesOf(deps, claims.scope, roles),
    ...(roles ? { roles: roles.map((r) => r.name), purposes: [...new Set(roles.flatMap((r) => r.purpose ?? []))].sort() } : {}),
    ...(broken.length > 0 ? { glass: broken } : {}), ...(erase ? { erase: true as const } : {}),
    ...(claims.patient ? { patient: claims.patient } : {}), ...(claims.encounter ? { encounter: claims.encounter } : {}),
    ...(claims.fhirUser ? { fhirUser: claims.fhirUser } : {}), ...(claims.jti ? { jti: claims.jti } : {}),
  };
}

/** The related patients of each relationship rule of the principal's rules, read now (one query per kind set). */
export async function withRelationships(db: Queryable, schema: string, principal: Principal): Promise<Principal> {
  const kindSets = new Map<string, readonly string[]>();
  for (const r of principal.rules) if (r.related) kindSets.set(r.related.join(','), r.related);
  if (kindSets.size === 0) return principal;
  const related = new Map<string, readonly string[]>();
  for (const [key, kinds] of kindSets) related.set(key, await relatedPatients(db, schema, principal.fhirUser, kinds));
  return { ...principal, related };
}

function bearerToken(authorization: string | undefined): string {
  if (authorization === undefined || authorization.trim() === '') throw invalidToken('An access token is required', false);
  const m = /^Bearer\s+([A-Za-z0-9._~+/-]+=*)\s*$/i.exec(authorization);
  if (!m) throw invalidToken('The Authorization header must be a Bearer token', true);
  return m[1]!;
}

/** `Authorization: Bearer <token>` → the verified principal; 401 otherwise. */
export async function authenticate(deps: BearerDeps, tenant: Tenant, fhirBase: string, authorization: string | undefined): Promise<Principal> {
  const found = await authenticateTenant(deps, tenant.slug, fhirBase, authorization);
  if (!found || found.tenant.schema !== tenant.schema) throw invalidToken('The access token is for another server or tenant', true);
  return found.principal;
}

/**
 * The FHIR request path: the token is verified first (no database), then the tenant and the token's grant are read
 * in one round trip. A tenant that does not exist → undefined (the caller answers 404).
 */
export async function authenticateTenant(deps: BearerDeps, slug: string, fhirBase: string, authorization: string | undefined,
  readOnly = false): Promise<{ tenant: Tenant; principal: Principal } | undefined> {
  const token = bearerToken(authorization);
  const result = await verifyClaims(deps, fhirBase, token);
  if ('reason' in result) throw invalidToken(result.reason, true);
  const found = await (deps.auth.grants?.lookup(slug, result.claims.grant) ?? findTenantAndGrant(deps.db, slug, result.claims.grant));
  if (!found) return undefined;
  if (found.tenant.suspendedAt) throw tenantSuspended(slug);
  if (!found.grantActive) throw invalidToken(REVOKED, true);
  // A read-only request evaluates relationships inside its statements; one that may write reads them first.
  const principal = principalOf(deps, result.claims, found.roles, found.glass);
  if (readOnly) return { tenant: found.tenant, principal };
  return { tenant: found.tenant, principal: await withRelationships(deps.db, found.tenant.schema, principal) };
}
