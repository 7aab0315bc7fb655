/** Tenant administration over HTTP, guarded by HEARTH_ADMIN_TOKEN (until SMART lands, issue #2 §5). */
import crypto from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { FhirError, forbidden, unauthorized } from '../errors.js';
import type { Deps } from '../interactions/context.js';
import { type Tenant, createTenant, deleteTenant, listTenants } from '../storage/tenants.js';

function tokensEqual(a: string, b: string): boolean {
  const ha = crypto.createHash('sha256').update(a).digest();
  const hb = crypto.createHash('sha256').update(b).digest();
  return crypto.timingSafeEqual(ha, hb);
}

function authorize(deps: Deps, req: FastifyRequest): void {
  const expected = deps.config.adminToken;
  if (!expected) throw forbidden('The admin API is disabled: set HEARTH_ADMIN_TOKEN to enable it');
  const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  if (!m) throw unauthorized('A bearer token is required');
  if (!tokensEqual(m[1]!, expected)) throw unauthorized('The bearer token is not valid');
}

const view = (t: Tenant) => ({ slug: t.slug, schema: t.schema, createdAt: t.createdAt?.toISOString() });

export function registerAdminRoutes(app: FastifyInstance, deps: Deps): void {
  app.addHook('onRequest', async (req) => {
    if (req.url.startsWith('/admin/') || req.url === '/admin') authorize(deps, req);
  });
  app.get('/admin/tenants', async () => ({ tenants: (await listTenants(deps.db)).map(view) }));
  app.post('/admin/tenants', async (req, reply) => {
    const slug = (req.body as { slug?: unknown } | undefined)?.slug;
    if (typeof slug !== 'string') throw new FhirError(400, 'required', 'The body must be {"slug": "<tenant>"}');
    const tenant = await createTenant(deps.db, slug, deps.migrations.tenant);
    return reply.code(201).header('Location', `/admin/tenants/${tenant.slug}`).send(view(tenant));
  });
  app.delete<{ Params: { slug: string } }>('/admin/tenants/:slug', async (req, reply) => {
    await deleteTenant(deps.db, req.params.slug);
    return reply.code(204).send();
  });
}
