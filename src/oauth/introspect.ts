/**
 * Token introspection (RFC 7662 with SMART's fields) and revocation (RFC 7009) —
 * https://hl7.org/fhir/smart-app-launch/token-introspection.html; smart-app-launch.md §10–§11.
 */
import { type TokenFacts, failureOf } from '../auth/security-events.js';
import { ident, sql } from '../db/sql.js';
import type { OAuthDeps } from './deps.js';
import type { Tenant } from '../storage/tenants.js';
import { verifyAccessToken as verifyBearer } from '../auth/bearer.js';
import { OAuthError, claimedClientId, invalidRequest } from './client-auth.js';
import { smartEndpoints } from '../auth/tokens.js';
import { type Grant, type LaunchContext, findGrant, hashSecret, revokeGrant } from '../auth/grants.js';
import { epochSeconds } from '../auth/jws.js';
import { type OAuthContext, type OAuthRequest, authenticate, contextFields, liveSessionUntil, occurrence,
  wantsIdToken } from './token-endpoint.js';
import { type AccessTokenClaims, issuerFor } from '../auth/tokens.js';

/** The scope that lets a bearer token call the introspection endpoint (project decision §10.1). */
export const INTROSPECT_SCOPE = 'system/introspect';

const INACTIVE = Object.freeze({ active: false });
const looksLikeJwt = (token: string) => token.split('.').length === 3;

/**
 * The verified claims of one of our access tokens for this tenant (signature with a published key, issuer, audience,
 * expiry, live grant), or undefined. The same check the FHIR API applies (src/auth/bearer.ts).
 */
export async function verifyAccessToken(deps: OAuthDeps, tenant: Tenant, fhirBase: string, token: string):
  Promise<AccessTokenClaims | undefined> {
  const result = await verifyBearer(deps, tenant, fhirBase, token);
  return 'claims' in result ? result.claims : undefined;
}

/** The caller is a resource server: a bearer token with system/introspect, or a confidential client (§10.1). */
async function authorizeCaller(cx: OAuthContext, req: OAuthRequest): Promise<void> {
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(req.authorization ?? '');
  if (bearer) {
    const claims = await verifyAccessToken(cx.deps, cx.tenant, cx.fhirBase, bearer[1]!);
    if (!claims) {
      throw new OAuthError(401, 'invalid_token', 'The bearer token is not valid',
        { 'WWW-Authenticate': 'Bearer realm="hearth", error="invalid_token"' });
    }
    if (!claims.scope.split(/\s+/).includes(INTROSPECT_SCOPE)) {
      throw new OAuthError(403, 'insufficient_scope', `Introspection needs the scope ${INTROSPECT_SCOPE}`,
        { 'WWW-Authenticate': `Bearer realm="hearth", error="insufficient_scope", scope="${INTROSPECT_SCOPE}"` });
    }
    return;
  }
  const { method } = await authenticate(cx, req, smartEndpoints(cx.fhirBase).introspection_endpoint);
  if (method === 'none') throw new OAuthError(401, 'invalid_client', 'Public clients cannot introspect tokens');
}

/** fhirUser as an absolute URL, when an id_token could carry it (§10.2). */
function fhirUserField(cx: OAuthContext, scope: string, context: LaunchContext): Record<string, string> {
  return wantsIdToken(scope) && context.fhirUser ? { fhirUser: `${cx.fhirBase}/${context.fhirUser}` } : {};
}

async function describeAccessToken(cx: OAuthContext, token: string): Promise<Record<string, unknown>> {
  const claims = await verifyAccessToken(cx.deps, cx.tenant, cx.fhirBase, token);
  const grant = claims && await findGrant(cx.deps.db, cx.tenant.schema, claims.grant);
  if (!claims || !grant) return INACTIVE;
  const { scope, client_id, exp, iat, sub, iss, aud, jti } = claims;
  return { active: true, scope, client_id, exp, iat, sub, iss, aud, jti, token_type: 'Bearer',
    ...contextFields(cx.fhirBase, grant), ...fhirUserField(cx, scope, grant.context) };
}

type RefreshRow = { id: string; client_id: string; user_id: string | null; session_hash: string | null; scope: string;
  context: LaunchContext; refresh_expires_at: Date };

/** A live refresh token, looked up without the side effects of using it (no reuse detection here). */
async function describeRefreshToken(cx: OAuthContext, token: string): Promise<Record<string, unknown>> {
  const { db, auth } = cx.deps;
  const now = auth.now();
  const [row] = await db.query<RefreshRow>(sql`SELECT id, client_id, user_id, session_hash, scope, context, refresh_expires_at
    FROM ${ident(cx.tenant.schema)}.auth_grant
    WHERE refresh_hash = ${hashSecret(token)} AND revoked_at IS NULL AND refresh_expires_at > ${now}`);
  if (!row) return INACTIVE;
  const online = !row.scope.split(/\s+/).includes('offline_access');
  if (online && !(row.session_hash && await liveSessionUntil(db, cx.tenant.schema, row.session_hash, now))) return INACTIVE;
  return { active: true, scope: row.scope, client_id: row.client_id, exp: epochSeconds(new Date(row.refresh_expires_at)),
    sub: row.user_id ?? row.client_id, iss: issuerFor(cx.fhirBase), token_type: 'refresh_token',
    ...contextFields(cx.fhirBase, { userId: row.user_id, context: row.context }), ...fhirUserField(cx, row.scope, row.context) };
}

/** POST introspect: `{active: false}` for anything not currently valid, and nothing else (§10.3). */
export async function introspect(cx: OAuthContext, req: OAuthRequest): Promise<Record<string, unknown>> {
  await authorizeCaller(cx, req);
  const token = req.form.get('token');
  if (token === undefined || token === '') throw invalidRequest('token is required');
  return looksLikeJwt(token) ? describeAccessToken(cx, token) : describeRefreshToken(cx, token);
}

/** The grant behind a refresh token, current or already rotated. */
async function grantOfRefreshToken(cx: OAuthContext, token: string): Promise<string | undefined> {
  const hash = hashSecret(token);
  const schema = ident(cx.tenant.schema);
  const rows = await cx.deps.db.query<{ id: string }>(sql`SELECT id FROM ${schema}.auth_grant WHERE refresh_hash = ${hash}
    UNION ALL SELECT grant_id AS id FROM ${schema}.auth_refresh_rotated WHERE token_hash = ${hash}`);
  return rows[0]?.id;
}

/**
 * POST revoke: an access or refresh token revokes its whole grant (every token of it), but only for the client it
 * was issued to; unknown or invalid tokens answer 200 all the same (RFC 7009 §2.2). token_type_hint is not needed:
 * the two kinds are told apart by their shape. One token-revoked AuditEvent either way, durable before the answer.
 */
export async function revoke(cx: OAuthContext, req: OAuthRequest): Promise<void> {
  const { deps, tenant, fhirBase } = cx;
  let clientId: string | undefined;
  let facts: TokenFacts | undefined;
  try {
    clientId = (await authenticate(cx, req, smartEndpoints(fhirBase).revocation_endpoint)).client.clientId;
    const token = req.form.get('token');
    if (token === undefined || token === '') throw invalidRequest('token is required');
    const claims = looksLikeJwt(token) ? await verifyAccessToken(deps, tenant, fhirBase, token) : undefined;
    const grantId = claims ? claims.grant : looksLikeJwt(token) ? undefined : await grantOfRefreshToken(cx, token);
    const grant: Grant | undefined = grantId ? await findGrant(deps.db, tenant.schema, grantId) : undefined;
    if (grant && grant.clientId === clientId) {
      await revokeGrant(deps.db, tenant.schema, grant.id, deps.auth.now());
      facts = revokedFacts(grant, claims?.jti);
    }
  } catch (e) {
    clientId ??= claimedClientId(req.form, req.authorization);
    await deps.securityEvents.token(tenant.schema, 'token-revoked', occurrence(cx, req), clientId ? { clientId } : {},
      { failure: failureOf(e) });
    throw e;
  }
  await deps.securityEvents.token(tenant.schema, 'token-revoked', occurrence(cx, req), facts ?? { clientId },
    facts ? {} : { note: 'Nothing revoked: the token is unknown, expired or not this client\'s' });
}

/** What the AuditEvent of a revocation names: the grant, its scope and patient, the user and the token's jti. */
const revokedFacts = (g: Grant, jti: string | undefined): TokenFacts => ({ clientId: g.clientId, grantId: g.id, scope: g.scope,
  ...(g.context.patient ? { patient: g.context.patient } : {}), ...(jti ? { jti } : {}),
  ...(g.userId ? { user: { id: g.userId, ...(g.context.fhirUser ? { fhirUser: g.context.fhirUser } : {}) } } : {}) });
