/**
 * The operator commands of the CLI (ARCHITECTURE §10; issue #4 §6–§7, #16): user, admin, role and break-glass, and the
 * runner every tenant and operator command shares — one admin API call to the server answering at HEARTH_ADMIN_URL,
 * or, with no server there, the same action (src/http/admin.ts) on the database directly (a PGlite data directory can
 * be open in one process only).
 */
import fs from 'node:fs';
import path from 'node:path';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { type Config, adminUrl, loadConfig } from './config.js';
import { loadAllMigrations, migrateAll } from './app.js';
import { KeyStore } from './auth/keys.js';
import type { AuthServices } from './auth/tokens.js';
import type { Db } from './db/db.js';
import { DataDirLockedError, openDb } from './db/open.js';
import { keyOptions } from './db/vault.js';
import { type Definitions, loadDefinitions } from './fhir/definitions.js';
import { type AdminTarget, USER_ACTIONS, passwordResetLink, registerUser, userQuery } from './http/admin.js';
import { deleteUser, listUsers, readUser, updateUser } from './oauth/user-admin.js';
import { createAdmin, deleteAdmin, listAdmins, readAdmin, setAdminDisabled, unlockAdmin } from './oauth/admins.js';
import { deleteRole, listRoles, putRole, readRole, tenantRoleChecks } from './oauth/roles-admin.js';
import { TenantSearchParameters } from './storage/search-parameters.js';
import { checkText, listBreakGlass, reviewBreakGlass } from './auth/break-glass.js';
import { createSearchRegistry } from './search/registry.js';
import { findTenant } from './storage/tenants.js';
import { breakGlassNotFound, unknownTenant } from './errors.js';

export const ADMIN_TOKEN_FILE = 'admin-token';

export class UsageError extends Error {}

export async function withDb<T>(fn: (db: Db, config: Config) => Promise<T>, config = loadConfig()): Promise<T> {
  const db = await openDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolSize: 2, ...keyOptions(config) });
  try {
    await db.keyring.verify(db);
    await migrateAll(db, loadAllMigrations());
    await db.keyring.verify(db);
    return await fn(db, config);
  } finally {
    await db.close();
  }
}

// ---- operator commands: one admin API call each, or the same action on the database ----

export type Json = Record<string, unknown>;
interface Direct { db: Db; auth: AuthServices; config: Config }
interface AdminCall { method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'; path: string; body?: Json; direct: (d: Direct) => Promise<unknown> }

/** True when a Hearth server answers /health at url (anything else never sees the admin token). */
async function serverAnswers(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) });
    return res.ok && ((await res.json()) as { status?: unknown }).status === 'ok';
  } catch {
    return false;
  }
}

function adminToken(config: Config): string {
  if (config.adminToken) return config.adminToken;
  const file = path.join(config.dataDir, ADMIN_TOKEN_FILE);
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    throw new Error(`A server answers at ${adminUrl()}, but there is no admin token: set HEARTH_ADMIN_TOKEN, or HEARTH_DATA_DIR `
      + `to the server's data directory (${file} was not found)`);
  }
}

async function callServer(config: Config, url: string, call: AdminCall): Promise<unknown> {
  const res = await fetch(`${url}${call.path}`, { method: call.method,
    headers: { authorization: `Bearer ${adminToken(config)}`, ...(call.body ? { 'content-type': 'application/json' } : {}) },
    ...(call.body ? { body: JSON.stringify(call.body) } : {}) });
  const text = await res.text();
  let body: { issue?: { diagnostics?: string }[] } | undefined;
  try {
    body = text ? JSON.parse(text) as typeof body : undefined;
  } catch {
    throw new Error(`${url} answered ${res.status} with something that is not JSON: is HEARTH_ADMIN_URL a Hearth server?`);
  }
  // A 401 here means our admin token is not that server's: say which settings name the right one.
  const hint = res.status === 401 ? ' (set HEARTH_ADMIN_TOKEN to its admin token, or HEARTH_DATA_DIR to its data directory)' : '';
  if (!res.ok) throw new Error(`${url} answered ${res.status}: ${body?.issue?.[0]?.diagnostics ?? text}${hint}`);
  return body;
}

export async function runAdmin(call: AdminCall): Promise<Json> {
  const config = loadConfig();
  const url = adminUrl();
  if (await serverAnswers(url)) return (await callServer(config, url, call) ?? {}) as Json;
  try {
    return await withDb((db) => call.direct({ db, config, auth: { keys: new KeyStore(db, config.keySecret), now: () => new Date() } }),
      config) as Json;
  } catch (e) {
    if (!(e instanceof DataDirLockedError)) throw e;
    throw new Error(`${e.message}, but no Hearth server answers at ${url}: set HEARTH_ADMIN_URL to the running server `
      + '(this command then goes through its admin API), or stop it');
  }
}

/** The same tenant target the admin routes build; the FHIR base is the configured or local origin. */
export function onTenant(slug: string, action: (t: AdminTarget, body: unknown) => Promise<unknown>, body?: Json) {
  let defs: Definitions | undefined;
  return async ({ db, auth, config }: Direct) => {
    const tenant = await findTenant(db, slug);
    if (!tenant) throw unknownTenant(slug);
    const fhirBase = `${config.baseUrl ?? `http://localhost:${config.port}`}/fhir/${tenant.slug}`;
    return action({ db, auth, tenant, fhirBase, isType: (type) => (defs ??= loadDefinitions()).isResourceType(type) }, body);
  };
}

export const tenantPath = (slug: string, rest: string) => `/admin/tenants/${encodeURIComponent(slug)}/${rest}`;
const TENANT = { tenant: { type: 'string', default: 'default' } } as const;

export function flags<O extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: O, positionals = 0) {
  try {
    const parsed = parseArgs({ args, options: { ...TENANT, ...options }, strict: true, allowPositionals: positionals > 0 });
    if (parsed.positionals.length !== positionals) throw new Error(`expected ${positionals} argument(s)`);
    return { ...parsed, values: parsed.values as typeof parsed.values & { tenant: string } };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

export function required<T>(value: T | undefined, flag: string): T {
  if (value === undefined) throw new UsageError(`--${flag} is required`);
  return value;
}

export const print = (pairs: [string, unknown][]) => {
  for (const [k, v] of pairs) if (v !== undefined) process.stdout.write(`${k} ${String(v)}\n`);
};

export async function readStdin(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) text += String(chunk);
  return text.replace(/\r?\n$/, '');
}

async function userCreate(args: string[]) {
  const { values: v } = flags(args, { username: { type: 'string' }, 'fhir-user': { type: 'string' },
    password: { type: 'string' }, 'password-stdin': { type: 'boolean' }, totp: { type: 'boolean' }, roles: { type: 'string' } });
  if ((v.password === undefined) === (v['password-stdin'] !== true)) throw new UsageError('give --password or --password-stdin');
  const body = { username: required(v.username, 'username'), fhirUser: required(v['fhir-user'], 'fhir-user'),
    password: v.password ?? await readStdin(), totp: v.totp === true, ...(v.roles !== undefined ? { roles: list(v.roles) } : {}) };
  const out = await runAdmin({ method: 'POST', path: tenantPath(v.tenant, 'users'), body, direct: onTenant(v.tenant, registerUser, body) });
  print([['id', out.id], ['username', out.username], ['fhirUser', out.fhirUser], ['totp_secret', out.totp_secret],
    ['otpauth_uri', out.otpauth_uri]]);
}

const printUser = (u: Json) => process.stdout.write(`${[u.id, u.username, u.fhirUser, u.status, u.totp ? 'totp' : '-',
  Array.isArray(u.roles) ? (u.roles.join(',') || '(no roles)') : '(unmanaged)'].join('\t')}\n`);

/** A comma-separated list flag ('' → an empty list). */
export const list = (value: string): string[] => value.split(',').map((x) => x.trim()).filter((x) => x !== '');

async function userList(args: string[]) {
  const { values: v } = flags(args, { username: { type: 'string' }, 'fhir-user': { type: 'string' }, status: { type: 'string' },
    count: { type: 'string' }, after: { type: 'string' } });
  const query: Record<string, string> = {};
  for (const [k, flag] of [['username', 'username'], ['fhirUser', 'fhir-user'], ['status', 'status'], ['count', 'count'], ['after', 'after']] as const) {
    const value = v[flag];
    if (value !== undefined) query[k] = value;
  }
  const qs = new URLSearchParams(query).toString();
  const out = await runAdmin({ method: 'GET', path: tenantPath(v.tenant, `users${qs ? `?${qs}` : ''}`),
    direct: onTenant(v.tenant, (t) => listUsers(t.db, t.tenant.schema, userQuery(query), t.auth.now())) });
  for (const u of out.users as Json[]) printUser(u);
  if (out.next) process.stdout.write(`next: --after ${String(out.next)}\n`);
}

/** hearth user create|list|show|update|disable|enable|unlock|password-reset|totp-reset|delete (issue #16 §2). */
export async function user(args: string[]) {
  const [sub, ...rest] = args;
  if (sub === 'create') return userCreate(rest);
  if (sub === 'list') return userList(rest);
  const single: NonNullable<ParseArgsConfig['options']> = sub === 'update'
    ? { username: { type: 'string' }, 'fhir-user': { type: 'string' }, roles: { type: 'string' } } : {};
  const known = ['show', 'update', 'delete', 'password-reset', ...Object.keys(USER_ACTIONS)];
  if (sub === undefined || !known.includes(sub)) throw new UsageError();
  const { values: v, positionals } = flags(rest, single, 1);
  const id = positionals[0]!;
  const path = tenantPath(v.tenant, `users/${encodeURIComponent(id)}`);
  if (sub === 'show') {
    printUser(await runAdmin({ method: 'GET', path, direct: onTenant(v.tenant, (t) => readUser(t.db, t.tenant.schema, id, t.auth.now())) }));
  } else if (sub === 'update') {
    const u = v as { username?: string; 'fhir-user'?: string; roles?: string };
    const body = { ...(u.username ? { username: u.username } : {}), ...(u['fhir-user'] ? { fhirUser: u['fhir-user'] } : {}),
      ...(u.roles !== undefined ? { roles: list(u.roles) } : {}) };
    if (Object.keys(body).length === 0) throw new UsageError('give --username, --fhir-user and/or --roles');
    printUser(await runAdmin({ method: 'PATCH', path, body,
      direct: onTenant(v.tenant, (t) => updateUser(t.db, t.tenant.schema, id, body, t.auth.now())) }));
  } else if (sub === 'delete') {
    await runAdmin({ method: 'DELETE', path, direct: onTenant(v.tenant, async (t) => {
      await deleteUser(t.db, t.tenant.schema, id, t.auth.now());
      return {};
    }) });
    process.stdout.write(`deleted user ${id}\n`);
  } else if (sub === 'password-reset') {
    const out = await runAdmin({ method: 'POST', path: `${path}/password-reset`, direct: onTenant(v.tenant, (t) => passwordResetLink(t, id)) });
    print([['reset_url', out.reset_url], ['expires_at', out.expires_at]]);
  } else {
    const action = USER_ACTIONS[sub as keyof typeof USER_ACTIONS];
    const out = await runAdmin({ method: 'POST', path: `${path}/${sub}`, direct: onTenant(v.tenant, (t) => action(t, id)) });
    if (sub === 'totp-reset') print([['totp_secret', out.totp_secret], ['otpauth_uri', out.otpauth_uri]]);
    else printUser(out);
  }
}

const printAdmin = (a: Json) => process.stdout.write(`${[a.id, a.username, a.status, a.totp ? 'totp' : '-'].join('\t')}\n`);

/** hearth admin create|list|show|disable|enable|unlock|delete (issue #16 §2): the global administrators. */
export async function admin(args: string[]) {
  const [sub, ...rest] = args;
  const now = () => new Date();
  if (sub === 'create') {
    const { values: v } = flags(rest, { username: { type: 'string' }, password: { type: 'string' }, 'password-stdin': { type: 'boolean' },
      totp: { type: 'boolean' } });
    if ((v.password === undefined) === (v['password-stdin'] !== true)) throw new UsageError('give --password or --password-stdin');
    const body = { username: required(v.username, 'username'), password: v.password ?? await readStdin(), totp: v.totp === true };
    const out = await runAdmin({ method: 'POST', path: '/admin/admins', body, direct: ({ db }) => createAdmin(db, body, now()) });
    printAdmin(out.admin as Json);
    print([['totp_secret', out.totp_secret], ['otpauth_uri', out.otpauth_uri]]);
  } else if (sub === 'list') {
    flags(rest, {});
    const out = await runAdmin({ method: 'GET', path: '/admin/admins', direct: async ({ db }) => ({ administrators: await listAdmins(db, now()) }) });
    for (const a of out.administrators as Json[]) printAdmin(a);
  } else if (sub !== undefined && ['show', 'disable', 'enable', 'unlock', 'delete'].includes(sub)) {
    const id = flags(rest, {}, 1).positionals[0]!;
    const path = `/admin/admins/${encodeURIComponent(id)}`;
    const direct: Record<string, (db: Db) => Promise<unknown>> = { show: (db) => readAdmin(db, id, now()),
      disable: (db) => setAdminDisabled(db, id, true, now()), enable: (db) => setAdminDisabled(db, id, false, now()),
      unlock: (db) => unlockAdmin(db, id, now()), delete: (db) => deleteAdmin(db, id, now()) };
    const method = sub === 'show' ? 'GET' : sub === 'delete' ? 'DELETE' : 'POST';
    printAdmin(await runAdmin({ method, path: ['show', 'delete'].includes(sub) ? path : `${path}/${sub}`, direct: ({ db }) => direct[sub]!(db) }));
  } else {
    throw new UsageError();
  }
}

const printRole = (r: Json) => process.stdout.write(`${[r.name, r.scopes, Array.isArray(r.relationship)
  ? `related: ${r.relationship.join(',')}` : 'every patient', r.description].join('\t')}\n`);

/** hearth role list|show|set|delete (issue #16 §1): a tenant's roles, through the admin API or on the database. */
export async function role(args: string[]) {
  const [sub, ...rest] = args;
  if (sub === 'list') {
    const { values: v } = flags(rest, {});
    const out = await runAdmin({ method: 'GET', path: tenantPath(v.tenant, 'roles'),
      direct: onTenant(v.tenant, async (t) => ({ roles: await listRoles(t.db, t.tenant.schema) })) });
    for (const r of out.roles as Json[]) printRole(r);
    return;
  }
  if (sub !== 'show' && sub !== 'set' && sub !== 'delete') throw new UsageError();
  const options: NonNullable<ParseArgsConfig['options']> = sub === 'set'
    ? { scopes: { type: 'string' }, relationship: { type: 'string' }, description: { type: 'string' }, purpose: { type: 'string' } } : {};
  const { values: v, positionals } = flags(rest, options, 1);
  const name = positionals[0]!;
  const path = tenantPath(v.tenant, `roles/${encodeURIComponent(name)}`);
  if (sub === 'show') {
    printRole(await runAdmin({ method: 'GET', path, direct: onTenant(v.tenant, (t) => readRole(t.db, t.tenant.schema, name)) }));
  } else if (sub === 'delete') {
    await runAdmin({ method: 'DELETE', path, direct: onTenant(v.tenant, async (t) => { await deleteRole(t.db, t.tenant.schema, name); return {}; }) });
    process.stdout.write(`deleted role ${name}\n`);
  } else {
    const o = v as { scopes?: string; relationship?: string; description?: string; purpose?: string };
    const body = { scopes: required(o.scopes, 'scopes'), relationship: o.relationship !== undefined ? list(o.relationship) : null,
      ...(o.description !== undefined ? { description: o.description } : {}), ...(o.purpose !== undefined ? { purpose: list(o.purpose) } : {}) };
    printRole(await runAdmin({ method: 'PUT', path, body, direct: onTenant(v.tenant, async (t) => {
      const defs = loadDefinitions();
      const checks = await tenantRoleChecks(t.db, t.tenant.schema, defs, new TenantSearchParameters(defs, createSearchRegistry(defs)), t.fhirBase);
      return putRole(t.db, t.tenant.schema, name, body, checks, t.auth.now());
    }) }));
  }
}

/** hearth break-glass list|review (issue #16 §4): the sessions auditors review, through the admin API or on the database. */
export async function breakGlass(args: string[]) {
  const [sub, ...rest] = args;
  if (sub === 'list') {
    const { values: v } = flags(rest, { status: { type: 'string' } });
    const status = (v as { status?: string }).status;
    const out = await runAdmin({ method: 'GET', path: tenantPath(v.tenant, `break-glass${status ? `?status=${encodeURIComponent(status)}` : ''}`),
      direct: onTenant(v.tenant, async (t) => ({ sessions: await listBreakGlass(t.db, t.tenant.schema, status, t.auth.now()) })) });
    for (const b of out.sessions as Json[]) {
      process.stdout.write(`${[b.id, b.username, `Patient/${String(b.patient)}`, b.startedAt, b.expiresAt, b.reviewedAt ?? 'unreviewed', b.reason].join('\t')}\n`);
    }
  } else if (sub === 'review') {
    const { values: v, positionals } = flags(rest, { note: { type: 'string' } }, 1);
    const id = positionals[0]!;
    const body = { note: required((v as { note?: string }).note, 'note') };
    const out = await runAdmin({ method: 'POST', path: tenantPath(v.tenant, `break-glass/${encodeURIComponent(id)}/review`), body,
      direct: onTenant(v.tenant, async (t) => {
        const reviewed = await reviewBreakGlass(t.db, t.tenant.schema, id, checkText(body.note, 'note'), t.auth.now());
        if (!reviewed) throw breakGlassNotFound(id);
        return reviewed;
      }) });
    process.stdout.write(`reviewed ${String(out.id)}\n`);
  } else {
    throw new UsageError();
  }
}

