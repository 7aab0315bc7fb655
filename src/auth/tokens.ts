/**
 * Access and id tokens: RS256 JWTs signed with the control schema's active key (ARCHITECTURE §7).
 * Claims: iss (the tenant's authorization server), sub, aud (the tenant's FHIR base), exp, iat, jti, client_id,
 * scope, grant (the grant id, checked on every request so that revocation is immediate), and the launch context.
 */
import crypto from 'node:crypto';
import type { Db } from '../db/db.js';
import type { Tenant } from '../storage/tenants.js';
import type { ConsentCache } from './consent-cache.js';
import type { GrantCache } from './grant-cache.js';
import { type Grant, type LaunchContext, createGrant } from './grants.js';
import type { KeyStore } from './keys.js';
import { epochSeconds, signJwt } from './jws.js';

/** What the authorization and resource servers share (in Deps). */
export interface AuthServices {
  keys: KeyStore;
  /** The clock every expiry is computed from; tests inject a fixed one (smart-app-launch.md §13.1). */
  now: () => Date;
  /** The tenant and grant rows of FHIR requests, cached until a revocation; absent → read on every request. */
  grants?: GrantCache;
  /** The tenants' privacy Consents (consent-cache.ts); absent → Consents are read on every request. */
  consents?: ConsentCache;
}

/** Project decisions (smart-app-launch.md §5.5, §12.3). */
export const ACCESS_TOKEN_TTL_S = 3600;
export const BACKEND_TOKEN_TTL_S = 300;
export const ID_TOKEN_TTL_S = 3600;
/** The operator's built-in client (bin/hearth token); it has no row in auth_client and cannot be used at /token. */
export const LOCAL_ADMIN_CLIENT = 'hearth-admin';

/**
 * The authorization server of a tenant, from its FHIR base: http://host/fhir/t → http://host/auth/t; at a tenant's
 * own host name (issue #17 §5) http://acme.example.org/fhir → http://acme.example.org/auth.
 */
export function issuerFor(fhirBase: string): string {
  if (fhirBase.endsWith('/fhir')) return `${fhirBase.slice(0, -'/fhir'.length)}/auth`;
  const at = fhirBase.lastIndexOf('/fhir/');
  return `${fhirBase.slice(0, at)}/auth/${fhirBase.slice(at + '/fhir/'.length)}`;
}

export interface AccessTokenClaims {
  iss: string; sub: string; aud: string; exp: number; iat: number; jti: string; client_id: string; scope: string;
  grant: string; patient?: string; encounter?: string; fhirUser?: string;
}

export async function mintAccessToken(auth: AuthServices, fhirBase: string, grant: Grant, ttlSeconds: number,
  subject: string): Promise<{ token: string; expiresIn: number; claims: AccessTokenClaims }> {
  const iat = epochSeconds(auth.now());
  const { patient, encounter, fhirUser } = grant.context;
  const claims: AccessTokenClaims = {
    iss: issuerFor(fhirBase), sub: subject, aud: fhirBase, iat, exp: iat + ttlSeconds, jti: crypto.randomUUID(),
    client_id: grant.clientId, scope: grant.scope, grant: grant.id,
    ...(patient ? { patient } : {}), ...(encounter ? { encounter } : {}), ...(fhirUser ? { fhirUser } : {}),
  };
  const key = await auth.keys.signingKey();
  return { token: await signJwt({ ...claims }, key.key, key.kid), expiresIn: ttlSeconds, claims };
}

/** OpenID Connect id_token (smart-app-launch.md §8.8): fhirUser as an absolute URL. */
export async function mintIdToken(auth: AuthServices, fhirBase: string, clientId: string, subject: string,
  context: LaunchContext, nonce?: string): Promise<string> {
  const iat = epochSeconds(auth.now());
  const key = await auth.keys.signingKey();
  return signJwt({ iss: issuerFor(fhirBase), sub: subject, aud: clientId, iat, exp: iat + ID_TOKEN_TTL_S,
    ...(context.fhirUser ? { fhirUser: `${fhirBase}/${context.fhirUser}` } : {}), ...(nonce ? { nonce } : {}) }, key.key, key.kid);
}

/**
 * A short-lived token for the operator's built-in client (bin/hearth token, the admin API, tests). Whoever calls
 * this holds the admin credential or the database; it is never reachable from the FHIR API.
 */
export async function mintLocalToken(db: Db, auth: AuthServices, tenant: Tenant, fhirBase: string, scope: string,
  ttlSeconds = ACCESS_TOKEN_TTL_S, context: LaunchContext = {}): Promise<{ token: string; expiresIn: number }> {
  const grant = await createGrant(db, tenant.schema, { clientId: LOCAL_ADMIN_CLIENT, scope, context }, auth.now());
  const { token, expiresIn } = await mintAccessToken(auth, fhirBase, grant, ttlSeconds, LOCAL_ADMIN_CLIENT);
  return { token, expiresIn };
}

/** The absolute endpoint URLs of a tenant's authorization server (§1.5), from its FHIR base. */
export interface SmartEndpoints {
  issuer: string;
  jwks_uri: string;
  authorization_endpoint: string;
  token_endpoint: string;
  introspection_endpoint: string;
  revocation_endpoint: string;
}

export function smartEndpoints(fhirBase: string): SmartEndpoints {
  const issuer = issuerFor(fhirBase);
  return {
    issuer,
    jwks_uri: `${issuer}/jwks`,
    authorization_endpoint: `${issuer}/authorize`,
    token_endpoint: `${issuer}/token`,
    introspection_endpoint: `${issuer}/introspect`,
    revocation_endpoint: `${issuer}/revoke`,
  };
}
