/**
 * The operator's HTTP API under /admin, guarded by the admin bearer token (HEARTH_ADMIN_TOKEN, or the token `serve`
 * writes to the data directory): tenants, SMART clients and users, EHR launches, local access tokens, key rotation
 * (issue #4 §6–§7). The actions are exported so that the CLI runs the very same code when no server is running.
 */
import { subscriptionStats } from '../subscriptions/stats.js';
import { tenantBase, tenantHostsOf } from './host-routing.js';
import crypto from 'node:crypto';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type Client, createClient, deleteClient, listClients } from '../oauth/clients.js';
import { authChanged } from '../auth/grant-cache.js';
import { type LaunchContext, createLaunch } from '../auth/grants.js';
import { parseScopes } from '../auth/scopes.js';
import { ACCESS_TOKEN_TTL_S, type AuthServices, issuerFor, mintLocalToken } from '../auth/tokens.js';
import { createUser } from '../oauth/users.js';
import { type AdminIdentity, adminLogin, adminLogout, adminSession, createAdmin, deleteAdmin, listAdmins, readAdmin,
  setAdminDisabled, unlockAdmin } from '../oauth/admins.js';
import { deleteRole, listRoles, putRole, readRole, tenantRoleChecks } from '../oauth/roles-admin.js';
import { checkText, listBreakGlass, reviewBreakGlass } from '../auth/break-glass.js';
import { getConsentDefault, setConsentDefault } from '../oauth/consent-setting.js';
import { getLifetimes, lifetimesView, setLifetimes } from '../oauth/lifetimes.js';
import { type UserQuery, deleteUser, listUsers, readUser, resetTotp, setDisabled, startPasswordReset, unlockUser,
  updateUser } from '../oauth/user-admin.js';
import type { Db } from '../db/db.js';
import { badRequest, breakGlassNotFound, loginThrottled, clientNotFound, forbidden, tenantSlugRequired, unauthorized, unknownTenant } from '../errors.js';
import type { Deps } from '../interactions/context.js';
import { type Tenant, createTenant, deleteTenant, findTenant, listTenantDeletions, listTenants, schemaFor, setSuspended, setTenantDetails } from '../storage/tenants.js';
import type { AdminCode } from '../audit/security.js';
import { adminIdentities, adminNamed, audited, operatorName, auditRefused, breakGlassNamed, clientNamed, keyNamed, launchNamed, roleNamed, tenantNamed, tokenNamed, userNamed } from './admin-audit.js';
import { getRetention, setRetention } from '../audit/retention.js';
import { registerDataLifecycleRoutes } from './admin-data.js';
import { type Body, jsonObject, onlyFields } from './admin-input.js';

function tokensEqual(a: string, b: string): boolean {
  const ha = crypto.createHash('sha256').update(a).digest();
  const hb = crypto.createHash('sha256').update(b).digest();
  return crypto.timingSafeEqual(ha, hb);
}

/** The bootstrap admin token (automation), or an administrator's session token (oauth/admins.ts); 401 otherwise. */
async function authorize(deps: Deps, req: FastifyRequest): Promise<AdminIdentity> {
  const expected = deps.config.adminToken;
  const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  if (m && expected && tokensEqual(m[1]!, expected)) return { kind: 'bootstrap' };
  const session = m ? await adminSession(deps.db, m[1]!, deps.auth.now()) : undefined;
  if (session) return session;
  if (!m) throw unauthorized('A bearer token is required: HEARTH_ADMIN_TOKEN, or an administrator\'s from POST /admin/login');
  throw unauthorized('The bearer token is not valid');
}

/**
 * A tenant administrator reaches only their tenant's own endpoints (/admin/tenants/<theirs>/…), never the tenant
 * itself (deletion), the list of tenants, the signing keys or the global administrators: 403.
 */
function confine(identity: AdminIdentity, req: FastifyRequest): void {
  if (identity.kind !== 'tenant') return;
  const path = req.url.split('?')[0]!;
  const m = /^\/admin\/tenants\/([^/]+)\/./.exec(path);
  if (path === '/admin/logout') return;
  if (!m || decodeURIComponent(m[1]!) !== identity.tenant) {
    throw forbidden(`A tenant administrator administers tenant ${identity.tenant} only`);
  }
  if (/\/(suspend|activate|offboard)$/.test(path)) throw forbidden('Only global administrators suspend, reactivate or offboard a tenant');
}

/** The tenant's audit settings; a body `{ "retention_months": n }` changes the retention period (issue #6 §7). */
export async function auditSettings(t: AdminTarget, body: unknown): Promise<{ retention_months: number }> {
  if (body !== undefined) {
    const b = jsonObject(body);
    onlyFields(b, ['retention_months']);
    const months = b.retention_months;
    if (typeof months !== 'number' || !Number.isInteger(months) || months < 1 || months > 1200) {
      throw badRequest('retention_months must be a whole number of months from 1 to 1200');
    }
    await setRetention(t.db, t.tenant, months);
  }
  return { retention_months: await getRetention(t.db, t.tenant) };
}

/** The tenant's token and session lifetimes; a body changes the fields it names (issue #16 §5, oauth/lifetimes.ts). */
export async function lifetimeSettings(t: AdminTarget, body: unknown) {
  return lifetimesView(body === undefined ? await getLifetimes(t.db, t.tenant.schema) : await setLifetimes(t.db, t.tenant.schema, body));
}

/** The tenant's consent default (issue #16 §3); a body {"default"} changes it. */
export async function consentSettings(t: AdminTarget, body: unknown) {
  const value = body === undefined ? await getConsentDefault(t.db, t.tenant.schema) : await setConsentDefault(t.db, t.tenant.schema, body);
  return { default: value };
}

/** A tenant as the admin API shows it (and the CLI prints it). */
export const tenantView = (t: Tenant) => ({ slug: t.slug, schema: t.schema, createdAt: t.createdAt?.toISOString(),
  status: t.suspendedAt ? 'suspended' : 'active', ...(t.displayName !== undefined ? { displayName: t.displayName } : {}),
  ...(t.contact !== undefined ? { contact: t.contact } : {}), ...(t.host !== undefined ? { host: t.host } : {}),
  ...(t.suspendedAt ? { suspendedAt: t.suspendedAt.toISOString(), suspendedReason: t.suspendedReason } : {}) });

/** Suspends a tenant: {"reason"} (3–1000 characters of text) is required and kept (issue #17 §5). */
export async function suspendTenant(db: Db, slug: string, body: unknown, at: Date) {
  const reason = checkText((body as { reason?: unknown } | null)?.reason, 'reason');
  const tenant = await setSuspended(db, slug, reason, at);
  authChanged(tenant.schema);
  return tenantView(tenant);
}

/** {"displayName"?, "contact"?}: text up to 200 characters, or null to clear. */
export async function updateTenantDetails(db: Db, slug: string, body: unknown) {
  const b = jsonObject(body);
  onlyFields(b, ['displayName', 'contact', 'host']);
  const details: { displayName?: string | null; contact?: string | null; host?: string | null } = {};
  if (b.host !== undefined) details.host = checkHost(b.host);
  for (const field of ['displayName', 'contact'] as const) {
    const v = b[field];
    if (v === undefined) continue;
    if (v !== null && (typeof v !== 'string' || v.length > 200 || [...v].some((c) => c.charCodeAt(0) < 32 || c.charCodeAt(0) === 127))) {
      throw badRequest(`${field} must be text of at most 200 characters, or null`, [field]);
    }
    details[field] = v as string | null;
  }
  if (Object.keys(details).length === 0) throw badRequest('Give displayName, contact and/or host');
  return tenantView(await setTenantDetails(db, slug, details));
}

const HOST = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*(:[0-9]{1,5})?$/;

/** A tenant's host name: a lower-case DNS name with an optional port (as clients send it in Host), or null for none. */
function checkHost(value: unknown): string | null {
  if (value === null) return null;
  if (typeof value !== 'string' || value.length > 253 || !HOST.test(value.toLowerCase())) {
    throw badRequest('host must be a host name such as acme.example.org (optionally with :port), or null', ['host']);
  }
  return value.toLowerCase();
}

/** What an admin action on one tenant needs; the HTTP routes and the CLI's database path both build one. */
export interface AdminTarget {
  db: Db;
  auth: AuthServices;
  tenant: Tenant;
  /** The tenant's absolute FHIR base: the aud of tokens, the iss of launches. */
  fhirBase: string;
  isType: (type: string) => boolean;
}

const authMethod = (c: Client) => (c.jwks || c.jwksUri ? 'private_key_jwt' : c.hasSecret ? 'client_secret_basic' : 'none');

/** A client as the admin API shows it (RFC 7591 member names); the secret only in the answer that created it. */
export const clientView = (c: Client, clientSecret?: string) => ({
  client_id: c.clientId, ...(clientSecret ? { client_secret: clientSecret } : {}), name: c.name, type: c.type,
  redirect_uris: c.redirectUris, scope: c.scope, token_endpoint_auth_method: authMethod(c),
  ...(c.jwks ? { jwks: c.jwks } : {}), ...(c.jwksUri ? { jwks_uri: c.jwksUri } : {}), ...(c.launchUri ? { launch_uri: c.launchUri } : {}),
});

export async function registerClient(t: AdminTarget, body: unknown) {
  const { client, clientSecret } = await createClient(t.db, t.tenant.schema, body);
  return clientView(client, clientSecret);
}

export async function registerUser(t: AdminTarget, body: unknown) {
  const { user, totpSecret, otpauthUri } = await createUser(t.db, t.tenant.schema, body);
  return { id: user.id, username: user.username, fhirUser: user.fhirUser,
    ...(totpSecret ? { totp_secret: totpSecret, otpauth_uri: otpauthUri } : {}) };
}

const ID = /^[A-Za-z0-9\-.]{1,64}$/;
const REFERENCE = /^[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}$/;

function resourceId(value: unknown, field: string): string {
  if (typeof value !== 'string' || !ID.test(value)) throw badRequest(`${field} must be a resource id (1–64 of A-Z a-z 0-9 - .)`, [field]);
  return value;
}

type FhirContextItem = NonNullable<LaunchContext['fhirContext']>[number];

/** fhirContext items (smart-app-launch.md §6.2): a reference, canonical or identifier, optionally a type and role. */
function fhirContextItem(value: unknown, i: number): FhirContextItem {
  const where = [`fhirContext[${i}]`];
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badRequest(`fhirContext[${i}] must be an object`, where);
  const item = value as Body;
  onlyFields(item, ['reference', 'canonical', 'identifier', 'type', 'role']);
  if (item.reference !== undefined && (typeof item.reference !== 'string' || !REFERENCE.test(item.reference))) {
    throw badRequest(`fhirContext[${i}].reference must be a relative reference such as "ImagingStudy/123"`, where);
  }
  if (item.canonical !== undefined && (typeof item.canonical !== 'string' || item.canonical === '')) {
    throw badRequest(`fhirContext[${i}].canonical must be a canonical URL`, where);
  }
  if (item.identifier !== undefined && (typeof item.identifier !== 'object' || item.identifier === null)) {
    throw badRequest(`fhirContext[${i}].identifier must be an Identifier object`, where);
  }
  if (item.reference === undefined && item.canonical === undefined && item.identifier === undefined) {
    throw badRequest(`fhirContext[${i}] needs a reference, canonical or identifier`, where);
  }
  for (const k of ['type', 'role'] as const) {
    if (item[k] !== undefined && (typeof item[k] !== 'string' || item[k] === '')) {
      throw badRequest(`fhirContext[${i}].${k} must be a non-empty string`, where);
    }
  }
  return item as FhirContextItem;
}

function launchContext(body: Body): LaunchContext {
  onlyFields(body, ['patient', 'encounter', 'fhirContext', 'need_patient_banner']);
  const context: LaunchContext = { patient: resourceId(body.patient, 'patient') };
  if (body.encounter !== undefined) context.encounter = resourceId(body.encounter, 'encounter');
  if (body.fhirContext !== undefined) {
    if (!Array.isArray(body.fhirContext)) throw badRequest('fhirContext must be an array', ['fhirContext']);
    context.fhirContext = body.fhirContext.map(fhirContextItem);
  }
  if (body.need_patient_banner !== undefined) {
    if (typeof body.need_patient_banner !== 'boolean') throw badRequest('need_patient_banner must be true or false', ['need_patient_banner']);
    context.need_patient_banner = body.need_patient_banner;
  }
  return context;
}

/** An EHR launch id (single use, five minutes) and the iss the app is opened with (smart-app-launch.md §3.1). */
export async function openLaunch(t: AdminTarget, body: unknown) {
  const launch = await createLaunch(t.db, t.tenant.schema, launchContext(jsonObject(body)), t.auth.now());
  return { launch, iss: t.fhirBase };
}

/** A token of the built-in local admin client (issue #4 §7): at most an hour, resource scopes required. */
export async function issueLocalToken(t: AdminTarget, body: unknown) {
  const b = jsonObject(body);
  onlyFields(b, ['scope', 'expires_in', 'patient']);
  if (typeof b.scope !== 'string' || b.scope.trim() === '') throw badRequest('scope is required, e.g. "system/*.read"', ['scope']);
  const parsed = parseScopes(b.scope, t.isType);
  if (parsed.dropped.length > 0) throw badRequest(`Unknown or malformed scope(s): ${parsed.dropped.join(' ')}`, ['scope']);
  if (parsed.rules.length === 0) throw badRequest('scope needs at least one resource scope, e.g. "system/*.read"', ['scope']);
  const ttl = b.expires_in ?? ACCESS_TOKEN_TTL_S;
  if (!Number.isInteger(ttl) || (ttl as number) < 1 || (ttl as number) > ACCESS_TOKEN_TTL_S) {
    throw badRequest(`expires_in must be a whole number of seconds from 1 to ${ACCESS_TOKEN_TTL_S}`, ['expires_in']);
  }
  const patient = b.patient === undefined ? undefined : resourceId(b.patient, 'patient');
  if (!patient && parsed.rules.some((r) => r.level === 'patient')) {
    throw badRequest('patient/ scopes need a patient: give "patient" (or use system/ or user/ scopes)', ['patient']);
  }
  const scope = [...parsed.rules.map((r) => r.text), ...parsed.other].join(' ');
  const { token, expiresIn } = await mintLocalToken(t.db, t.auth, t.tenant, t.fhirBase, scope, ttl as number,
    patient ? { patient } : {});
  return { access_token: token, token_type: 'Bearer', expires_in: expiresIn, scope };
}

type SlugParams = { Params: { slug: string } };
type UserParams = { Params: { slug: string; id: string } };
type RoleParams = { Params: { slug: string; name: string } };

const USER_QUERY = ['username', 'fhirUser', 'status', 'role', 'count', 'after'];

/** The list filters: known names only, each at most once. */
export function userQuery(query: unknown): UserQuery {
  const q = (query ?? {}) as Record<string, unknown>;
  onlyFields(q, USER_QUERY);
  for (const [k, v] of Object.entries(q)) if (typeof v !== 'string') throw badRequest(`${k} may be given once`, [k]);
  return q as UserQuery;
}

/** A one-time password reset link for the user to open (the code is in it; shown only in this answer). */
export async function passwordResetLink(t: AdminTarget, id: string) {
  const { code, expiresAt } = await startPasswordReset(t.db, t.tenant.schema, id, t.auth.now());
  return { reset_url: `${issuerFor(t.fhirBase)}/password-reset?code=${code}`, expires_at: expiresAt.toISOString() };
}

/** The user-changing admin actions, by the path segment after /users/<id>/ (their audit codes match). */
export const USER_ACTIONS = {
  disable: (t: AdminTarget, id: string) => setDisabled(t.db, t.tenant.schema, id, true, t.auth.now()),
  enable: (t: AdminTarget, id: string) => setDisabled(t.db, t.tenant.schema, id, false, t.auth.now()),
  unlock: (t: AdminTarget, id: string) => unlockUser(t.db, t.tenant.schema, id, t.auth.now()),
  'totp-reset': (t: AdminTarget, id: string) => resetTotp(t.db, t.tenant.schema, id, t.auth.now()),
} as const;

export function registerAdminRoutes(app: FastifyInstance, deps: Deps): void {
  app.addHook('onRequest', async (req) => {
    if (!req.url.startsWith('/admin/') && req.url !== '/admin') return;
    if (req.url.split('?')[0] === '/admin/login') return; // the way in: checks its own credentials
    try {
      const identity = await authorize(deps, req);
      adminIdentities.set(req, identity);
      confine(identity, req);
    } catch (e) {
      await auditRefused(deps, req, e);
      throw e;
    }
  });
  registerAdministrators(app, deps);
  const target = async (req: FastifyRequest<SlugParams>): Promise<AdminTarget> => {
    const tenant = await findTenant(deps.db, req.params.slug);
    if (!tenant) throw unknownTenant(req.params.slug);
    return { db: deps.db, auth: deps.auth, tenant, fhirBase: tenantBase(deps, req, tenant.slug),
      isType: (type) => deps.defs.isResourceType(type) };
  };

  app.get('/admin/tenants', async () => ({ tenants: (await listTenants(deps.db)).map(tenantView) }));
  // Tenants come and go: their events are kept in tenant default.
  app.post('/admin/tenants', async (req, reply) => {
    const slug = (req.body as { slug?: unknown } | undefined)?.slug;
    const tenant = await audited(deps, req, 'tenant-create', 'default', () => {
      if (typeof slug !== 'string') throw tenantSlugRequired();
      return createTenant(deps.db, slug, deps.migrations.tenant);
    }, () => tenantNamed(slug));
    return reply.code(201).header('Location', `/admin/tenants/${tenant.slug}`).send(tenantView(tenant));
  });
  app.get<SlugParams>('/admin/tenants/:slug', async (req) => tenantView((await target(req)).tenant));
  // Tenant deletions as the control schema keeps them (the tenant's own trail went with it): who, when, from where.
  app.get('/admin/tenant-deletions', async () => ({ deletions: await listTenantDeletions(deps.db) }));
  app.patch<SlugParams>('/admin/tenants/:slug', async (req) => audited(deps, req, 'tenant-update', req.params.slug, async () => {
    const view = await updateTenantDetails(deps.db, req.params.slug, req.body);
    await tenantHostsOf(deps).refresh(); // this node routes by the new host name at once, the others within 5 s
    return view;
  }, () => tenantNamed(req.params.slug)));
  app.post<SlugParams>('/admin/tenants/:slug/suspend', async (req) => audited(deps, req, 'tenant-suspend', req.params.slug,
    () => suspendTenant(deps.db, req.params.slug, req.body, deps.auth.now()), () => tenantNamed(req.params.slug)));
  app.post<SlugParams>('/admin/tenants/:slug/activate', async (req) => audited(deps, req, 'tenant-activate', req.params.slug,
    async () => {
      const tenant = await setSuspended(deps.db, req.params.slug, null, deps.auth.now());
      authChanged(tenant.schema);
      return tenantView(tenant);
    }, () => tenantNamed(req.params.slug)));
  app.delete<SlugParams & { Querystring: { confirm?: string } }>('/admin/tenants/:slug', async (req, reply) => {
    await audited(deps, req, 'tenant-delete', 'default', async () => {
      // Dropping a tenant drops its data: the request repeats the slug, as the CLI asks it typed (issue #17 §5).
      if (req.query.confirm !== req.params.slug) {
        throw badRequest(`Deleting a tenant drops all its data: repeat its slug as ?confirm=${req.params.slug}`, ['confirm']);
      }
      await deleteTenant(deps.db, req.params.slug, { operator: operatorName(req), address: req.ip, requestId: String(req.id) });
      authChanged(schemaFor(req.params.slug));
    }, () => tenantNamed(req.params.slug));
    return reply.code(204).send();
  });

  app.post<SlugParams>('/admin/tenants/:slug/clients', async (req, reply) => reply.code(201).send(await audited(deps, req,
    'client-create', req.params.slug, async () => registerClient(await target(req), req.body), (r) => clientNamed(r?.client_id))));
  app.get<SlugParams>('/admin/tenants/:slug/clients', async (req) => {
    const t = await target(req);
    return { clients: (await listClients(t.db, t.tenant.schema)).map((c) => clientView(c)) };
  });
  app.delete<{ Params: { slug: string; id: string } }>('/admin/tenants/:slug/clients/:id', async (req, reply) => {
    await audited(deps, req, 'client-delete', req.params.slug, async () => {
      const t = await target(req);
      if (!(await deleteClient(t.db, t.tenant.schema, req.params.id))) throw clientNotFound(req.params.id);
    }, () => clientNamed(req.params.id));
    return reply.code(204).send();
  });
  app.post<SlugParams>('/admin/tenants/:slug/users', async (req, reply) => reply.code(201).send(await audited(deps, req,
    'user-create', req.params.slug, async () => registerUser(await target(req), req.body),
    (r) => userNamed(r?.id))));
  app.get<SlugParams>('/admin/tenants/:slug/users', async (req) => {
    const t = await target(req);
    return listUsers(t.db, t.tenant.schema, userQuery(req.query), t.auth.now());
  });
  app.get<UserParams>('/admin/tenants/:slug/users/:id', async (req) => {
    const t = await target(req);
    return readUser(t.db, t.tenant.schema, req.params.id, t.auth.now());
  });
  app.patch<UserParams>('/admin/tenants/:slug/users/:id', async (req) => audited(deps, req, 'user-update', req.params.slug,
    async () => { const t = await target(req); return updateUser(t.db, t.tenant.schema, req.params.id, req.body, t.auth.now()); },
    () => userNamed(req.params.id)));
  for (const [name, run] of Object.entries(USER_ACTIONS)) {
    app.post<UserParams>(`/admin/tenants/:slug/users/:id/${name}`, async (req, reply) => reply.header('Cache-Control', 'no-store')
      .send(await audited(deps, req, `user-${name}` as AdminCode, req.params.slug, async () => run(await target(req), req.params.id),
        () => userNamed(req.params.id))));
  }
  app.post<UserParams>('/admin/tenants/:slug/users/:id/password-reset', async (req, reply) => reply.header('Cache-Control', 'no-store')
    .send(await audited(deps, req, 'user-password-reset', req.params.slug,
      async () => passwordResetLink(await target(req), req.params.id), () => userNamed(req.params.id))));
  app.delete<UserParams>('/admin/tenants/:slug/users/:id', async (req, reply) => {
    await audited(deps, req, 'user-delete', req.params.slug, async () => {
      const t = await target(req);
      await deleteUser(t.db, t.tenant.schema, req.params.id, t.auth.now());
    }, () => userNamed(req.params.id));
    return reply.code(204).send();
  });
  app.get<SlugParams>('/admin/tenants/:slug/subscriptions', async (req) => {
    const t = await target(req);
    return { subscriptions: await subscriptionStats(t.db, t.tenant.schema) };
  });
  app.get<SlugParams>('/admin/tenants/:slug/roles', async (req) => {
    const t = await target(req);
    return { roles: await listRoles(t.db, t.tenant.schema) };
  });
  app.get<RoleParams>('/admin/tenants/:slug/roles/:name', async (req) => {
    const t = await target(req);
    return readRole(t.db, t.tenant.schema, req.params.name);
  });
  app.put<RoleParams>('/admin/tenants/:slug/roles/:name', async (req) => audited(deps, req, 'role-update', req.params.slug,
    async () => { const t = await target(req); return putRole(t.db, t.tenant.schema, req.params.name, req.body, await tenantRoleChecks(t.db, t.tenant.schema, deps.defs, deps.tenantSearch, t.fhirBase), t.auth.now()); },
    () => roleNamed(req.params.name)));
  app.delete<RoleParams>('/admin/tenants/:slug/roles/:name', async (req, reply) => {
    await audited(deps, req, 'role-delete', req.params.slug, async () => {
      const t = await target(req);
      await deleteRole(t.db, t.tenant.schema, req.params.name);
    }, () => roleNamed(req.params.name));
    return reply.code(204).send();
  });
  app.get<SlugParams>('/admin/tenants/:slug/break-glass', async (req) => {
    const t = await target(req);
    const q = (req.query ?? {}) as Record<string, unknown>;
    onlyFields(q, ['status']);
    if (q.status !== undefined && typeof q.status !== 'string') throw badRequest('status may be given once', ['status']);
    return { sessions: await listBreakGlass(t.db, t.tenant.schema, q.status as string | undefined, t.auth.now()) };
  });
  app.post<{ Params: { slug: string; id: string } }>('/admin/tenants/:slug/break-glass/:id/review', async (req) => audited(deps, req,
    'break-glass-review', req.params.slug, async () => {
      const t = await target(req);
      const note = checkText((req.body as { note?: unknown } | undefined)?.note, 'note');
      const reviewed = await reviewBreakGlass(t.db, t.tenant.schema, req.params.id, note, t.auth.now());
      if (!reviewed) throw breakGlassNotFound(req.params.id);
      return reviewed;
    }, () => breakGlassNamed(req.params.id)));
  app.post<SlugParams>('/admin/tenants/:slug/launches', async (req, reply) => reply.code(201).send(await audited(deps, req,
    'launch-create', req.params.slug, async () => openLaunch(await target(req), req.body), (r) => launchNamed(r ? req.body : undefined))));
  app.post<SlugParams>('/admin/tenants/:slug/tokens', async (req, reply) => reply.header('Cache-Control', 'no-store').send(
    await audited(deps, req, 'local-token', req.params.slug, async () => issueLocalToken(await target(req), req.body),
      (r) => tokenNamed(r?.access_token))));
  app.get<SlugParams>('/admin/tenants/:slug/lifetimes', async (req) => lifetimeSettings(await target(req), undefined));
  app.put<SlugParams>('/admin/tenants/:slug/lifetimes', async (req) => audited(deps, req, 'auth-lifetimes', req.params.slug,
    async () => lifetimeSettings(await target(req), req.body ?? {}), () => tenantNamed(req.params.slug)));
  app.get<SlugParams>('/admin/tenants/:slug/consent', async (req) => consentSettings(await target(req), undefined));
  app.put<SlugParams>('/admin/tenants/:slug/consent', async (req) => audited(deps, req, 'consent-default', req.params.slug,
    async () => consentSettings(await target(req), req.body ?? {}), () => tenantNamed(req.params.slug)));
  registerDataLifecycleRoutes(app, deps, target);
  app.get<SlugParams>('/admin/tenants/:slug/audit', async (req) => auditSettings(await target(req), undefined));
  app.put<SlugParams>('/admin/tenants/:slug/audit', async (req) => audited(deps, req, 'audit-retention', req.params.slug,
    async () => auditSettings(await target(req), jsonObject(req.body)), () => tenantNamed(req.params.slug)));
  // Signing keys are the server's, not a tenant's: recorded in tenant default.
  app.post('/admin/keys/rotate', async (req) => ({ kid: await audited(deps, req, 'key-rotate', 'default', () => deps.auth.keys.rotate(),
    keyNamed) }));
}

/**
 * Signing in and out of the admin API, and the global administrators (issue #16 §2): only the bootstrap token or a
 * global administrator manages them. Login and logout are audited in the tenant they concern (global: default).
 */
function registerAdministrators(app: FastifyInstance, deps: Deps): void {
  // Logins per client IP and minute, as at the authorization server (HEARTH_LOGIN_RATE_LIMIT): each costs a scrypt.
  app.register(async (scope) => {
    await scope.register(rateLimit, { global: false, errorResponseBuilder: (_req, c) => loginThrottled(c.max, Math.ceil(c.ttl / 1000)) });
    scope.post('/admin/login', { config: { rateLimit: { max: deps.config.loginRateLimit, timeWindow: 60_000 } } }, async (req) => {
      const tenant = (req.body as { tenant?: unknown } | null)?.tenant;
      const slug = typeof tenant === 'string' ? tenant : 'default';
      return audited(deps, req, 'admin-login', slug, async () => {
        const { token, identity, expiresAt } = await adminLogin(deps.db, req.body, deps.auth.now());
        adminIdentities.set(req, identity);
        return { access_token: token, token_type: 'Bearer', expires_in: Math.round((expiresAt.getTime() - deps.auth.now().getTime()) / 1000),
          administrator: identity };
      }, () => ({ entities: [] }));
    });
  });
  app.post('/admin/logout', async (req) => {
    const identity = adminIdentities.get(req)!;
    const token = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')![1]!;
    return audited(deps, req, 'admin-logout', identity.kind === 'tenant' ? identity.tenant : 'default', async () => {
      if (identity.kind === 'bootstrap') throw badRequest('The bootstrap admin token has no session to end');
      await adminLogout(deps.db, token, deps.auth.now());
      return { ended: true };
    }, () => ({ entities: [] }));
  });
  const globalOnly = (req: FastifyRequest) => {
    if (adminIdentities.get(req)?.kind === 'tenant') throw forbidden('Only global administrators manage administrators');
  };
  app.get('/admin/admins', async (req) => { globalOnly(req); return { administrators: await listAdmins(deps.db, deps.auth.now()) }; });
  app.post('/admin/admins', async (req, reply) => {
    globalOnly(req);
    return reply.code(201).send(await audited(deps, req, 'admin-create', 'default', () => createAdmin(deps.db, req.body, deps.auth.now()),
      (r) => adminNamed(r?.admin.id)));
  });
  type AdminParams = { Params: { id: string } };
  app.get<AdminParams>('/admin/admins/:id', async (req) => { globalOnly(req); return readAdmin(deps.db, req.params.id, deps.auth.now()); });
  const changes = {
    disable: (id: string) => setAdminDisabled(deps.db, id, true, deps.auth.now()),
    enable: (id: string) => setAdminDisabled(deps.db, id, false, deps.auth.now()),
    unlock: (id: string) => unlockAdmin(deps.db, id, deps.auth.now()),
  };
  for (const [name, change] of Object.entries(changes)) {
    app.post<AdminParams>(`/admin/admins/:id/${name}`, async (req) => {
      globalOnly(req);
      return audited(deps, req, 'admin-update', 'default', () => change(req.params.id), () => adminNamed(req.params.id));
    });
  }
  app.delete<AdminParams>('/admin/admins/:id', async (req) => {
    globalOnly(req);
    return audited(deps, req, 'admin-delete', 'default', () => deleteAdmin(deps.db, req.params.id, deps.auth.now()), () => adminNamed(req.params.id));
  });
}
