/** The FHIR REST edge: /fhir/{tenant}/… → FhirRequest → dispatch → response — http://hl7.org/fhir/R4/http.html */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { invalidToken, unknownTenant } from '../errors.js';
import type { Context, Deps, FhirRequest, Params } from '../interactions/context.js';
import { dispatch } from '../interactions/dispatch.js';
import { type Tenant, findTenant } from '../storage/tenants.js';
import { checkContentType, negotiate } from './content.js';
import { sendResult } from './render.js';
import { Access, type Principal } from '../auth/access.js';
import { authenticateTenant } from '../auth/bearer.js';

const header = (req: FastifyRequest, name: string): string | undefined => {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
};

/** Query parameters in their original order with repeats kept (Fastify's parsed object loses both). */
export function rawQuery(url: string): Params {
  const q = url.indexOf('?');
  return q < 0 ? [] : [...new URLSearchParams(url.slice(q + 1)).entries()];
}

export function publicBase(deps: Deps, req: FastifyRequest): string {
  return deps.config.baseUrl ?? `${req.protocol}://${req.host}`;
}

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
  const found = await authenticateTenant(deps, slug, base, authorization);
  if (!found) throw unknownTenant(slug);
  return found;
}

export function registerFhirRoutes(app: FastifyInstance, deps: Deps): void {
  const handler = async (req: FastifyRequest<{ Params: { tenant: string; '*'?: string } }>, reply: import('fastify').FastifyReply) => {
    const fhirReq = toFhirRequest(req, req.params['*'] ?? '');
    negotiate(header(req, 'accept'), fhirReq.query.filter(([k]) => k === '_format').pop()?.[1]);
    if (req.body !== undefined) checkContentType(fhirReq.headers.contentType);
    const slug = req.params.tenant;
    const base = `${publicBase(deps, req)}/fhir/${slug}`;
    const { tenant, principal } = await tenantAndPrincipal(deps, slug, base, fhirReq, header(req, 'authorization'));
    const search = await deps.tenantSearch.registryFor(deps.db, tenant.schema);
    const ctx: Context = { tenant, base, search };
    if (principal) ctx.access = new Access(principal, tenant.schema, search, deps.defs, base);
    return sendResult(deps, reply, fhirReq, await dispatch(deps, ctx, fhirReq));
  };
  const methods = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
  for (const url of ['/fhir/:tenant', '/fhir/:tenant/*']) {
    app.route({ method: [...methods], url, handler, exposeHeadRoute: false });
  }
}
