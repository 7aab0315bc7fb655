/**
 * The AuditEvents of the admin API (issue #6 §1, audit-event.md §2.2 "configuration changes"): each mutating action,
 * and each request the admin token refuses, is recorded — success or failure — before it is answered. Reads (listing
 * tenants and clients) are not. The CLI's path on the database (src/main.ts without a server) is not audited.
 */
import { tenantBase } from './host-routing.js';
import type { FastifyRequest } from 'fastify';
import { CLIENT_ID_SYSTEM, USER_ID_SYSTEM, patientEntity } from '../audit/event.js';
import { ADMIN_USER_SYSTEM, type AdminCode, BREAK_GLASS_SYSTEM, RETENTION_RULE_SYSTEM, ROLE_SYSTEM, SIGNING_KEY_SYSTEM, TENANT_SYSTEM, adminEvent, grantEntities, identified } from '../audit/security.js';
import { type Occurrence, failureOf } from '../auth/security-events.js';
import { decodeJwt } from '../auth/jws.js';
import type { Resource } from '../fhir/types.js';
import type { AdminIdentity } from '../oauth/admins.js';
import type { Deps } from '../interactions/context.js';
import { TENANT_SLUG, findTenant } from '../storage/tenants.js';

/** Who called the admin API, per request (set by the admin routes' authorization hook). */
export const adminIdentities = new WeakMap<FastifyRequest, AdminIdentity>();

/** What an admin action's AuditEvent names: the entities it changed and, for a minted token, its jti. */
export interface Described { entities: Record<string, unknown>[]; jti?: string }

export const tenantNamed = (slug: unknown): Described =>
  ({ entities: typeof slug === 'string' && TENANT_SLUG.test(slug) ? [identified(TENANT_SYSTEM, slug, '17')] : [] });
export const clientNamed = (id: unknown): Described =>
  ({ entities: typeof id === 'string' && /^[A-Za-z0-9_-]{1,128}$/.test(id) ? [identified(CLIENT_ID_SYSTEM, id, '13')] : [] });
export const breakGlassNamed = (id: string): Described => ({ entities: [identified(BREAK_GLASS_SYSTEM, id, '13')] });
export const roleNamed = (name: string): Described => ({ entities: [identified(ROLE_SYSTEM, name, '13')] });
export const retentionNamed = (name: string): Described => ({ entities: [identified(RETENTION_RULE_SYSTEM, name, '13')] });
export const userNamed = (id: string | undefined): Described => ({ entities: id ? [identified(USER_ID_SYSTEM, id, '11')] : [] });
export const adminNamed = (id: string | undefined): Described => ({ entities: id ? [identified(ADMIN_USER_SYSTEM, id, '11')] : [] });
export const keyNamed = (kid: string | undefined): Described => ({ entities: kid ? [identified(SIGNING_KEY_SYSTEM, kid, '13')] : [] });

/** The launch id is a one-use credential: only the patient it opens is recorded (once the body proved valid). */
export const launchNamed = (body: unknown): Described => {
  const patient = (body as { patient?: unknown } | undefined)?.patient;
  return { entities: typeof patient === 'string' ? [patientEntity(`Patient/${patient}`)] : [] };
};

/** The grant, scope and patient of a local token we just minted, and its jti (never the token). */
export function tokenNamed(accessToken: string | undefined): Described {
  if (!accessToken) return { entities: [] };
  const c = decodeJwt(accessToken).claims as { grant?: string; scope?: string; patient?: string; jti?: string };
  return { entities: grantEntities({ ...(c.grant ? { grantId: c.grant } : {}), ...(c.scope ? { scope: c.scope } : {}),
    ...(c.patient ? { patient: c.patient } : {}) }), ...(c.jti ? { jti: c.jti } : {}) };
}

/**
 * Records an admin AuditEvent in tenant `slug`, or in `default` when that tenant does not exist (a deleted tenant's
 * schema is gone with its events). When neither exists — `default` itself was deleted — there is nowhere to write.
 */
export async function recordAdmin(deps: Deps, req: FastifyRequest, slug: string, build: (at: Occurrence) => Resource): Promise<void> {
  const tenant = (await findTenant(deps.db, slug)) ?? (await findTenant(deps.db, 'default'));
  if (!tenant) {
    req.log.warn({ slug }, 'admin action not audited: neither its tenant nor tenant default exists');
    return;
  }
  const identity = adminIdentities.get(req);
  const operator = identity?.kind === 'global' ? { system: ADMIN_USER_SYSTEM, value: identity.id, display: identity.username }
    : identity?.kind === 'tenant' ? { system: USER_ID_SYSTEM, value: identity.id, display: `${identity.username} (${identity.tenant})` }
      : undefined;
  const at = { base: tenantBase(deps, req, tenant.slug), origin: { requestId: req.id, address: req.ip },
    recorded: deps.audit.now(), ...(operator ? { operator } : {}) };
  await deps.audit.record(tenant.schema, [build(at)]);
}

/** Who made an admin request, as the control schema's records name them: an administrator, or the admin token. */
export function operatorName(req: FastifyRequest): string {
  const identity = adminIdentities.get(req);
  return identity?.kind === 'global' ? `admin:${identity.username}`
    : identity?.kind === 'tenant' ? `tenant-admin:${identity.username}@${identity.tenant}` : 'admin-token';
}

/** Runs an admin action; its AuditEvent (success or failure) is durable before the answer. */
export async function audited<T>(deps: Deps, req: FastifyRequest, code: AdminCode, slug: string, run: () => Promise<T>,
  describe: (result: T | undefined) => Described): Promise<T> {
  let result: T;
  try {
    result = await run();
  } catch (e) {
    const d = describe(undefined);
    await recordAdmin(deps, req, slug, (at) => adminEvent(code, at, d.entities, failureOf(e)));
    throw e;
  }
  const d = describe(result);
  await recordAdmin(deps, req, slug, (at) => adminEvent(code, at, d.entities, undefined, d.jti));
  return result;
}

/** A request the admin token refused (401, or 403 while the admin API is disabled): recorded in tenant default. */
export function auditRefused(deps: Deps, req: FastifyRequest, e: unknown): Promise<void> {
  const f = failureOf(e);
  const message = `${f.message} (${req.method} ${req.url.split('?')[0]!.slice(0, 200)})`;
  return recordAdmin(deps, req, 'default', (at) => adminEvent('admin-refused', at, [], { ...f, message }));
}
