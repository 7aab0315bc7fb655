/** The FHIR REST edge: /fhir/{tenant}/… → FhirRequest → dispatch → response — http://hl7.org/fhir/R4/http.html */
import { publicBase, tenantBase } from './host-routing.js';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type FhirError, invalidToken, tenantSuspended, unknownTenant } from '../errors.js';
import type { Context, Deps } from '../interactions/context.js';
import type { Params } from '../fhir/types.js';
import type { FhirRequest } from '../fhir/request.js';
import { dispatch } from '../interactions/dispatch.js';
import { type Tenant, findTenant } from '../storage/tenants.js';
import { checkContentType, negotiate } from './content.js';
import { sendResult } from './render.js';
import { Access, type Principal } from '../auth/access.js';
import { authenticateTenant } from '../auth/bearer.js';
import { ApiLimits } from './api-limits.js';
import type { Actor, RequestInfo } from '../audit/event.js';
import { type AuditScope, refusedRequest } from '../audit/trail.js';

const header = (req: FastifyRequest, name: string): string | undefined => {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
};

/** Query parameters in their original order with repeats kept (Fastify's parsed object loses both). */
export function rawQuery(url: string): Params {
  const q = url.indexOf('?');
  return q < 0 ? [] : [...new URLSearchParams(url.slice(q + 1)).entries()];
}

export { publicBase };

function toFhirRequest(req: FastifyRequest, path: string): FhirRequest {
  const headers: FhirRequest['headers'] = {};
  const map = { ifMatch: 'if-match', ifNoneMatch: 'if-none-match', ifModifiedSince: 'if-modified-since',
    ifNoneExist: 'if-none-exist', prefer: 'prefer', contentType: 'content-type' } as const;
  for (const [k, h] of Object.entries(map)) {
    const v = header(req, h);
    if (v !== undefined) headers[k as keyof typeof map] = v;
  }
  return { method: req.method, path, query: rawQuery(req.url), headers, body: req.body };
}

/** Tenants are looked up per request (a primary-key read); the slug is validated before it reaches SQL. */
async function resolveTenant(deps: Deps, slug: string): Promise<Tenant> {
  const tenant = await findTenant(deps.db, slug);
  if (!tenant) throw unknownTenant(slug);
  if (tenant.suspendedAt) throw tenantSuspended(slug);
  return tenant;
}

/** GET [base]/metadata is public (smart-app-launch.md §1.7). */
const isPublic = (r: FhirRequest): boolean => (r.method === 'GET' || r.method === 'HEAD') && r.path.replace(/\/+$/, '') === 'metadata';

/**
 * Everything but the CapabilityStatement needs a token (smart-app-launch.md §9.1), checked before any data: the token
 * is verified, then the tenant and the token's grant are read in one round trip. An unknown tenant is 404.
 */
async function tenantAndPrincipal(deps: Deps, slug: string, base: string, req: FhirRequest, authorization: string | undefined):
  Promise<{ tenant: Tenant; principal?: Principal }> {
  if (isPublic(req)) return { tenant: await resolveTenant(deps, slug) };
  if (authorization === undefined) {
    await resolveTenant(deps, slug);
    throw invalidToken('An access token is required', false);
  }
  // Related patients are read up front for requests that may write, and for $export (the job keeps the kick-off's).
  const readOnly = (req.method === 'GET' || req.method === 'HEAD') && !/\$export$/.test(req.path);
  const found = await authenticateTenant(deps, slug, base, authorization, readOnly);
  if (!found) throw unknownTenant(slug);
  return found;
}

/** The request as BALP records it: the absolute URL as received, and a POST _search form or $export body. */
function requestInfo(deps: Deps, req: FastifyRequest, fhirReq: FhirRequest): RequestInfo {
  const info: RequestInfo = { requestId: req.id, address: req.ip, method: req.method, url: `${publicBase(deps, req)}${req.url}` };
  if (req.method === 'POST' && Array.isArray(req.body) && /(^|\/)_search$/.test(fhirReq.path)) {
    info.form = new URLSearchParams(req.body as [string, string][]).toString();
  } else if (req.method === 'POST' && /(^|\/)\$export$/.test(fhirReq.path) && req.body !== undefined) {
    info.form = JSON.stringify(req.body);
  }
  return info;
}

/** The audited identity of a verified token (never the token itself). */
export const actorOf = (p: Principal | undefined): Actor => (p ? { clientId: p.clientId, subject: p.subject,
  ...(p.fhirUser ? { fhirUser: p.fhirUser } : {}), ...(p.jti ? { jti: p.jti } : {}), ...(p.glass ? { breakGlass: true } : {}) } : {});

/** A request refused before dispatch (401, unknown content type …) is audited in its tenant, when there is one. */
async function auditRefused(deps: Deps, slug: string, base: string, audit: AuditScope, fhirReq: FhirRequest, e: unknown) {
  const tenant = await findTenant(deps.db, slug).catch(() => undefined);
  if (tenant) await refusedRequest(deps, { tenant, base, search: deps.search }, audit, fhirReq, e);
}

export function registerFhirRoutes(app: FastifyInstance, deps: Deps): void {
  const limits = new ApiLimits(deps.config.apiClientRateLimit, deps.config.apiUserRateLimit);
  const handler = async (req: FastifyRequest<{ Params: { tenant: string; '*'?: string } }>, reply: import('fastify').FastifyReply) => {
    const fhirReq = toFhirRequest(req, req.params['*'] ?? '');
    const slug = req.params.tenant;
    const base = tenantBase(deps, req, slug);
    const audit: AuditScope = { request: requestInfo(deps, req, fhirReq), actor: {} };
    let ctx: Context;
    let throttled: FhirError | undefined;
    try {
      negotiate(header(req, 'accept'), fhirReq.query.filter(([k]) => k === '_format').pop()?.[1]);
      if (req.body !== undefined) checkContentType(fhirReq.headers.contentType, /(^|\/)_search$/.test(fhirReq.path));
      const { tenant, principal } = await tenantAndPrincipal(deps, slug, base, fhirReq, header(req, 'authorization'));
      audit.actor = actorOf(principal);
      const refusal = principal ? await limits.take(tenant.slug, principal) : undefined;
      // The first refusal of a window is audited (thrown here), the others only answered (below).
      if (refusal?.audit) throw refusal.error;
      throttled = refusal?.error;
      const search = await deps.tenantSearch.registryFor(deps.db, tenant.schema);
      ctx = { tenant, base, search, audit };
      if (principal) {
        const consent = await deps.auth.consents?.viewFor(deps.db, tenant.schema, principal, deps.auth.now());
        ctx.access = new Access(principal, tenant.schema, search, deps.defs, base, consent);
        if (consent) audit.actor = { ...audit.actor, consents: consent.decisions };
      }
    } catch (e) {
      if (!isPublic(fhirReq)) await auditRefused(deps, slug, base, audit, fhirReq, e);
      throw e;
    }
    if (throttled) throw throttled;
    return sendResult(deps, reply, fhirReq, await dispatch(deps, ctx, fhirReq));
  };
  const methods = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
  for (const url of ['/fhir/:tenant', '/fhir/:tenant/*']) {
    app.route({ method: [...methods], url, handler, exposeHeadRoute: false });
  }
}
