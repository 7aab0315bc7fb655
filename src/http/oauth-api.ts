/**
 * SMART discovery and the OAuth endpoints clients call directly: token, introspection, revocation, JWKS, style —
 * https://hl7.org/fhir/smart-app-launch/conformance.html, RFC 6749 §5, RFC 7662, RFC 7009. Errors are RFC 6749 JSON
 * (`{error, error_description}`), not OperationOutcomes; token-bearing answers are never cached.
 */
import { tenantBase } from './host-routing.js';
import rateLimit from '@fastify/rate-limit';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { OAuthError, JwksFetcher, toForm } from '../oauth/client-auth.js';
import { SMART_STYLE, smartConfiguration } from '../oauth/discovery.js';
import { introspect, revoke } from '../oauth/introspect.js';
import { type OAuthContext, type OAuthRequest, tokenRequest } from '../oauth/token-endpoint.js';
import { tenantSuspended, unknownTenant } from '../errors.js';
import { securityEvents } from '../audit/security.js';
import type { Deps } from '../interactions/context.js';
import { findTenant } from '../storage/tenants.js';
import { errorHandler } from './errors.js';

type TenantRequest = FastifyRequest<{ Params: { tenant: string } }>;


function sendOAuth(reply: FastifyReply, status: number, body: unknown): FastifyReply {
  return reply.code(status).header('Cache-Control', 'no-store').header('Pragma', 'no-cache')
    .type('application/json; charset=utf-8').send(JSON.stringify(body));
}

/** OAuthError → its JSON; the framework's client errors (415, 413 …) → invalid_request; the rest as everywhere else. */
function oauthErrorHandler(error: FastifyError | Error, req: FastifyRequest, reply: FastifyReply) {
  if (error instanceof OAuthError) {
    for (const [k, v] of Object.entries(error.headers)) reply.header(k, v);
    return sendOAuth(reply, error.status, { error: error.error, error_description: error.message });
  }
  const status = (error as FastifyError).statusCode;
  if (req.url.startsWith('/auth/') && status !== undefined && status >= 400 && status < 500) {
    return sendOAuth(reply, status, { error: 'invalid_request', error_description: error.message });
  }
  return errorHandler(error, req, reply);
}

export function registerOAuthApi(app: FastifyInstance, deps: Deps): void {
  const jwks = new JwksFetcher(() => deps.auth.now());
  // The authorization server reports token events through an interface; the audit log implements it (issue 13 §3).
  const oauthDeps = { ...deps, securityEvents: securityEvents(deps.audit) };
  const perMinute = deps.config.authRateLimit;
  const limited = (max: number) => ({ config: { rateLimit: { max, timeWindow: 60_000 } } });

  const context = async (req: TenantRequest): Promise<OAuthContext> => {
    const tenant = await findTenant(deps.db, req.params.tenant);
    if (!tenant) throw new OAuthError(404, 'invalid_request', `Tenant '${req.params.tenant}' was not found`);
    if (tenant.suspendedAt) throw new OAuthError(403, 'access_denied', `Tenant '${tenant.slug}' is suspended`);
    return { deps: oauthDeps, tenant, fhirBase: tenantBase(deps, req, tenant.slug), jwks };
  };
  const oauthRequest = (req: FastifyRequest): OAuthRequest => ({ form: toForm(req.body), origin: { requestId: req.id, address: req.ip },
    ...(req.headers.authorization !== undefined ? { authorization: req.headers.authorization } : {}) });

  // Encapsulated: the rate limiter and the JSON error handler apply to these routes only.
  app.register(async (scope) => {
    await scope.register(rateLimit, { global: false,
      errorResponseBuilder: (_req, c) => new OAuthError(c.statusCode, 'temporarily_unavailable', `Too many requests; retry in ${c.after}`) });
    scope.setErrorHandler(oauthErrorHandler);

    scope.get('/fhir/:tenant/.well-known/smart-configuration', limited(perMinute * 10), async (req: TenantRequest, reply) => {
      const tenant = await findTenant(deps.db, req.params.tenant);
      if (!tenant) throw unknownTenant(req.params.tenant);
      if (tenant.suspendedAt) throw tenantSuspended(tenant.slug);
      return reply.header('Cache-Control', 'public, max-age=300').type('application/json; charset=utf-8')
        .send(JSON.stringify(smartConfiguration(tenantBase(deps, req, tenant.slug))));
    });
    scope.get('/auth/:tenant/jwks', limited(perMinute * 10), async (req: TenantRequest, reply) => {
      await context(req);
      return reply.header('Cache-Control', 'public, max-age=300').type('application/json; charset=utf-8')
        .send(JSON.stringify(await deps.auth.keys.jwks()));
    });
    // Public and CORS (the hooks): apps fetch it from the browser. Versioned by the ?v= hash in smart_style_url.
    scope.get('/auth/:tenant/smart-style.json', limited(perMinute * 10), async (req: TenantRequest, reply) => {
      await context(req);
      return reply.header('Cache-Control', 'public, max-age=3600').type('application/json; charset=utf-8')
        .send(SMART_STYLE.body);
    });
    scope.post('/auth/:tenant/token', limited(perMinute), async (req: TenantRequest, reply) =>
      sendOAuth(reply, 200, await tokenRequest(await context(req), oauthRequest(req))));
    scope.post('/auth/:tenant/introspect', limited(perMinute), async (req: TenantRequest, reply) =>
      sendOAuth(reply, 200, await introspect(await context(req), oauthRequest(req))));
    scope.post('/auth/:tenant/revoke', limited(perMinute), async (req: TenantRequest, reply) => {
      await revoke(await context(req), oauthRequest(req));
      return reply.code(200).header('Cache-Control', 'no-store').header('Pragma', 'no-cache').send();
    });
  });
}
