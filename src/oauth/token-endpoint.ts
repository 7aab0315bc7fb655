/**
 * The token endpoint: authorization_code (with PKCE), refresh_token (rotated) and client_credentials (SMART Backend
 * Services) — https://hl7.org/fhir/smart-app-launch/app-launch.html#obtain-access-token, RFC 6749 §4.1.3, §4.4, §6,
 * RFC 7636 §4.6, https://hl7.org/fhir/smart-app-launch/backend-services.html; smart-app-launch.md §5, §12.
 */
import crypto from 'node:crypto';
import { type Occurrence, type Origin, failureOf } from '../auth/security-events.js';
import type { Queryable } from '../db/db.js';
import { ident, sql } from '../db/sql.js';
import type { OAuthDeps } from './deps.js';
import type { Tenant } from '../storage/tenants.js';
import { type AuthenticatedClient, type Form, type JwksFetcher, OAuthError, authenticateClient, claimedClientId,
  invalidRequest } from './client-auth.js';
import { findClient } from './clients.js';
import { smartStyleUrl } from './discovery.js';
import { smartEndpoints } from '../auth/tokens.js';
import { type Grant, type LaunchContext, createGrant, findByRefreshToken, findGrant, issueRefreshToken, redeemCode } from '../auth/grants.js';
import { parseScopes, scopeCovers } from '../auth/scopes.js';
import { DEFAULT_LIFETIMES, getLifetimes } from './lifetimes.js';
import { type AccessTokenClaims, BACKEND_TOKEN_TTL_S, mintAccessToken, mintIdToken } from '../auth/tokens.js';

/** One tenant's authorization server, as a request reaches it. */
export interface OAuthContext {
  deps: OAuthDeps;
  tenant: Tenant;
  /** The tenant's absolute FHIR base (the aud of its access tokens). */
  fhirBase: string;
  jwks: JwksFetcher;
}

export interface OAuthRequest {
  form: Form;
  /** The Authorization header, if any. */
  authorization?: string;
  /** For the request's AuditEvent. */
  origin: Origin;
}

/** Project decisions: refresh tokens for offline_access live 90 days, for online_access a day within the session. */
export const ONLINE_REFRESH_TTL_MS = 24 * 3600 * 1000;

const invalidGrant = (d: string) => new OAuthError(400, 'invalid_grant', d);
const invalidScope = (d: string) => new OAuthError(400, 'invalid_scope', d);
const unauthorizedClient = (d: string) => new OAuthError(400, 'unauthorized_client', d);

function required(form: Form, name: string): string {
  const v = form.get(name);
  if (v === undefined || v === '') throw invalidRequest(`${name} is required`);
  return v;
}

const words = (scope: string): string[] => scope.split(/\s+/).filter((s) => s !== '');

/** Authenticates the client of a token, introspection or revocation request (aud = token endpoint, or `also`). */
export function authenticate(cx: OAuthContext, req: OAuthRequest, also?: string): Promise<AuthenticatedClient> {
  const tokenEndpoint = smartEndpoints(cx.fhirBase).token_endpoint;
  return authenticateClient({ db: cx.deps.db, schema: cx.tenant.schema, now: cx.deps.auth.now(), form: req.form,
    ...(req.authorization !== undefined ? { authorization: req.authorization } : {}),
    audiences: also ? [tokenEndpoint, also] : [tokenEndpoint], jwks: cx.jwks, clockSkewS: cx.deps.config.assertionClockSkewS });
}

/**
 * The launch context fields a token response (and introspection) repeats (smart-app-launch.md §6). A user's grant
 * (`userId`) always gets a smart_style_url: the EHR launch's own, else this server's style (context-style).
 */
export function contextFields(fhirBase: string, grant: { userId?: string | null; context: LaunchContext }): Record<string, unknown> {
  const c = grant.context;
  const out: Record<string, unknown> = {};
  for (const k of ['patient', 'encounter', 'fhirContext', 'need_patient_banner', 'smart_style_url', 'intent'] as const) {
    if (c[k] !== undefined) out[k] = c[k];
  }
  if (grant.userId && out.smart_style_url === undefined) out.smart_style_url = smartStyleUrl(fhirBase);
  return out;
}

/** openid with fhirUser or profile asks for an id_token (§8.8). */
export function wantsIdToken(scope: string): boolean {
  const w = words(scope);
  return w.includes('openid') && (w.includes('fhirUser') || w.includes('profile'));
}

/** Expiry of the user's authorization-server session when it is still live (online_access, §5.9). */
export async function liveSessionUntil(db: Queryable, schema: string, sessionHash: string, now: Date): Promise<Date | undefined> {
  const rows = await db.query<{ expires_at: Date }>(sql`SELECT expires_at FROM ${ident(schema)}.auth_session
    WHERE token_hash = ${sessionHash} AND ended_at IS NULL AND expires_at > ${now}`);
  return rows[0] ? new Date(rows[0].expires_at) : undefined;
}

/** How long a (new) refresh token of this grant may live; undefined: the grant gets none (§5.9). */
async function refreshExpiry(cx: OAuthContext, grant: Grant, now: Date,
  offlineDays = DEFAULT_LIFETIMES.refreshTokenDays): Promise<Date | undefined> {
  const w = words(grant.scope);
  if (w.includes('offline_access')) return new Date(now.getTime() + offlineDays * 86_400_000);
  if (!w.includes('online_access') || !grant.sessionHash) return undefined;
  const session = await liveSessionUntil(cx.deps.db, cx.tenant.schema, grant.sessionHash, now);
  if (!session) return undefined;
  return new Date(Math.min(now.getTime() + ONLINE_REFRESH_TTL_MS, session.getTime()));
}

/**
 * The requested scope when `outer` covers it, without the scopes this server drops (§8.1); 400 invalid_scope when it
 * asks for more (refresh narrowing §5.7, backend pre-authorization §12.2).
 */
export function narrowScope(deps: OAuthDeps, outer: string, requested: string): string {
  const isType = deps.defs.isResourceType.bind(deps.defs);
  const inner = parseScopes(requested, isType);
  if (!scopeCovers(parseScopes(outer, isType), inner)) throw invalidScope('The requested scope exceeds what this client may be granted');
  const kept = [...new Set(words(requested))].filter((s) => !inner.dropped.includes(s));
  if (kept.length === 0) throw invalidScope('None of the requested scopes is known to this server');
  return kept.join(' ');
}

/** RFC 7636 §4.6: BASE64URL(SHA256(ASCII(code_verifier))) == code_challenge, compared in constant time. */
function pkceMatches(verifier: string, challenge: string): boolean {
  const digest = (s: string) => crypto.createHash('sha256').update(s).digest();
  const computed = crypto.createHash('sha256').update(verifier, 'ascii').digest('base64url');
  return crypto.timingSafeEqual(digest(computed), digest(challenge));
}

/** A successful token response and the claims of its access token (for the AuditEvent). */
interface Issued { body: Record<string, unknown>; claims: AccessTokenClaims }

/** Access token (+ refresh token, id_token) and launch context for a user's grant. */
async function issueForGrant(cx: OAuthContext, grant: Grant, scope: string, nonce?: string): Promise<Issued> {
  const { deps, fhirBase } = cx;
  const now = deps.auth.now();
  const subject = grant.userId ?? grant.clientId;
  const lifetimes = await getLifetimes(deps.db, cx.tenant.schema);
  const minted = await mintAccessToken(deps.auth, fhirBase, scope === grant.scope ? grant : { ...grant, scope },
    lifetimes.accessTokenSeconds, subject);
  const body: Record<string, unknown> = { access_token: minted.token, token_type: 'Bearer', expires_in: minted.expiresIn, scope,
    ...contextFields(fhirBase, grant) };
  const refreshUntil = await refreshExpiry(cx, grant, now, lifetimes.refreshTokenDays);
  if (refreshUntil) body.refresh_token = await issueRefreshToken(deps.db, cx.tenant.schema, grant.id, refreshUntil);
  if (wantsIdToken(scope) && grant.userId) {
    body.id_token = await mintIdToken(deps.auth, fhirBase, grant.clientId, subject, grant.context, nonce);
  }
  return { body, claims: minted.claims };
}

/** RFC 6749 §4.1.3 with PKCE (RFC 7636) and SMART's launch context (§5.2–5.5). */
async function authorizationCode(cx: OAuthContext, form: Form, { client }: AuthenticatedClient) {
  const code = required(form, 'code');
  const redirectUri = required(form, 'redirect_uri');
  const verifier = required(form, 'code_verifier');
  if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier)) throw invalidRequest('code_verifier must be 43 to 128 unreserved characters');
  const { deps, tenant } = cx;
  const found = await redeemCode(deps.db, tenant.schema, code, deps.auth.now());
  if ('error' in found) {
    throw invalidGrant(found.error === 'reused' ? 'The code was used before; tokens issued for it are revoked'
      : found.error === 'expired' ? 'The code has expired' : 'The code is not valid');
  }
  const b = found.binding;
  if (b.clientId !== client.clientId) throw invalidGrant('The code was issued to another client');
  if (b.redirectUri !== redirectUri) throw invalidGrant('redirect_uri differs from the one of the authorization request');
  if (!pkceMatches(verifier, b.codeChallenge)) throw invalidGrant('code_verifier does not match the code_challenge');
  const grant = await findGrant(deps.db, tenant.schema, b.grantId);
  if (!grant || grant.revokedAt) throw invalidGrant('The authorization has been revoked');
  return issueForGrant(cx, grant, grant.scope, b.nonce);
}

/** RFC 6749 §6: rotation, narrowing, reuse detection (§5.7–5.8). */
async function refreshToken(cx: OAuthContext, form: Form, { client }: AuthenticatedClient) {
  const token = required(form, 'refresh_token');
  const { deps, tenant } = cx;
  const now = deps.auth.now();
  const found = await findByRefreshToken(deps.db, tenant.schema, token, now);
  if (!found) throw invalidGrant('The refresh token is not valid, has expired or was revoked');
  if ('reused' in found) throw invalidGrant('The refresh token was used before; the authorization is revoked');
  const { grant } = found;
  if (grant.clientId !== client.clientId) throw invalidGrant('The refresh token was issued to another client');
  if (!(await refreshExpiry(cx, grant, now))) throw invalidGrant('The login session of this online_access grant has ended');
  const requested = form.get('scope');
  const scope = requested === undefined ? grant.scope : narrowScope(deps, grant.scope, requested);
  return issueForGrant(cx, grant, scope);
}

/** SMART Backend Services (§12): private_key_jwt only, scopes within the registration, 5-minute tokens, no refresh. */
async function clientCredentials(cx: OAuthContext, form: Form, { client, method }: AuthenticatedClient) {
  if (client.type !== 'backend') throw unauthorizedClient('Only backend service clients may use client_credentials');
  if (method !== 'private_key_jwt') {
    throw unauthorizedClient('client_credentials requires private_key_jwt client authentication (SMART Backend Services)');
  }
  const requested = form.get('scope');
  if (requested === undefined || requested.trim() === '') throw invalidScope('scope is required');
  const { deps, tenant, fhirBase } = cx;
  const scope = narrowScope(deps, client.scope, requested);
  const grant = await createGrant(deps.db, tenant.schema, { clientId: client.clientId, scope, context: {} }, deps.auth.now());
  const minted = await mintAccessToken(deps.auth, fhirBase, grant, BACKEND_TOKEN_TTL_S, client.clientId);
  return { body: { access_token: minted.token, token_type: 'bearer', expires_in: minted.expiresIn, scope }, claims: minted.claims };
}

/**
 * RFC 6749 §6: only confidential clients authenticate to refresh; a public client's refresh token is already bound to
 * it, so a refresh that names no client at all (fhirclient's `client.refresh()`) is the public client of the token's
 * grant. undefined when the request carries any client credentials or the grant's client is not public: the ordinary
 * client authentication then applies (and refuses a confidential client that did not authenticate).
 */
async function publicRefresher(cx: OAuthContext, req: OAuthRequest): Promise<AuthenticatedClient | undefined> {
  const f = req.form;
  const named = ['client_id', 'client_secret', 'client_assertion'].some((k) => f.get(k) !== undefined) || req.authorization !== undefined;
  const token = f.get('refresh_token');
  if (f.get('grant_type') !== 'refresh_token' || named || !token) return undefined;
  const found = await findByRefreshToken(cx.deps.db, cx.tenant.schema, token, cx.deps.auth.now());
  if (!found) throw invalidGrant('The refresh token is not valid, has expired or was revoked');
  if ('reused' in found) throw invalidGrant('The refresh token was used before; the authorization is revoked');
  const client = await findClient(cx.deps.db, cx.tenant.schema, found.grant.clientId);
  return client?.type === 'public' ? { client, method: 'none' } : undefined;
}

type GrantHandler = (cx: OAuthContext, form: Form, client: AuthenticatedClient) => Promise<Issued>;

const GRANT_TYPES: Record<string, GrantHandler> = {
  authorization_code: authorizationCode,
  refresh_token: refreshToken,
  client_credentials: clientCredentials,
};

/** Where a token, introspection or revocation request happened, for its AuditEvent. */
export const occurrence = (cx: OAuthContext, req: OAuthRequest): Occurrence =>
  ({ base: cx.fhirBase, origin: req.origin, recorded: cx.deps.securityEvents.now() });

/** The AuditEvent facts of an issued access token: client, grant, scope, launch patient, jti and user. */
const issuedFacts = (grantType: string, c: AccessTokenClaims) => ({ clientId: c.client_id, grantType, grantId: c.grant,
  scope: c.scope, jti: c.jti, ...(c.patient ? { patient: c.patient } : {}),
  ...(c.sub !== c.client_id ? { user: { id: c.sub, ...(c.fhirUser ? { fhirUser: c.fhirUser } : {}) } } : {}) });

/**
 * POST token: the JSON body of a successful answer; OAuthError otherwise. Either way one AuditEvent
 * (token-issued / token-refused, audit-event.md §4.4) is durable before the answer.
 */
export async function tokenRequest(cx: OAuthContext, req: OAuthRequest): Promise<Record<string, unknown>> {
  const { deps, tenant } = cx;
  const grantType = req.form.get('grant_type');
  let client: AuthenticatedClient | undefined;
  try {
    if (grantType === undefined || grantType === '') throw invalidRequest('grant_type is required');
    const handler = Object.hasOwn(GRANT_TYPES, grantType) ? GRANT_TYPES[grantType]! : undefined;
    if (!handler) throw new OAuthError(400, 'unsupported_grant_type', `grant_type '${grantType}' is not supported`);
    client = await publicRefresher(cx, req) ?? await authenticate(cx, req);
    const { body, claims } = await handler(cx, req.form, client);
    await deps.securityEvents.token(tenant.schema, 'token-issued', occurrence(cx, req), issuedFacts(grantType, claims));
    return body;
  } catch (e) {
    const clientId = client?.client.clientId ?? claimedClientId(req.form, req.authorization);
    await deps.securityEvents.token(tenant.schema, 'token-refused', occurrence(cx, req),
      { ...(clientId ? { clientId } : {}), ...(grantType ? { grantType } : {}) }, { failure: failureOf(e) });
    throw e;
  }
}
