/**
 * The people who administer Hearth through the admin API (issue #16 §2; README "Administrators"). Global
 * administrators — the control plane's "super admins" — live in the control schema, sign in with their own name,
 * password and optional TOTP (the login rules of a tenant's users: scrypt, lockout after five failures, disable), and
 * act on every tenant under their own audited identity. A tenant's users who hold its `admin` role sign in too and
 * administer only their tenant. Either gets a bearer token for the admin API: a random secret whose hash is kept in
 * admin_session, ending after eight hours, after thirty idle minutes, at logout, or when the person is disabled,
 * deleted or (for a tenant administrator) loses the role. The bootstrap HEARTH_ADMIN_TOKEN stays for automation.
 */
import crypto from 'node:crypto';
import { hashSecret, newSecret } from '../auth/grants.js';
import type { Queryable } from '../db/db.js';
import { CONTROL_SCHEMA } from '../db/migrate.js';
import { ident, sql } from '../db/sql.js';
import { adminNotFound, badRequest, forbidden, unauthorized, userExists } from '../errors.js';
import { TENANT_SLUG, schemaFor } from '../storage/tenants.js';
import { hashPassword } from './passwords.js';
import { generateTotpSecret, otpauthUri } from './totp.js';
import { TOTP_ISSUER, authenticate, authenticateIn, checkPassword, checkUsername } from './users.js';

/** The tenant role whose holders administer their tenant. */
export const TENANT_ADMIN_ROLE = 'admin';
export const ADMIN_SESSION_HOURS = 8;
export const ADMIN_IDLE_MINUTES = 30;

/** Who is calling the admin API. */
export type AdminIdentity =
  | { kind: 'bootstrap' }
  | { kind: 'global'; id: string; username: string }
  | { kind: 'tenant'; tenant: string; id: string; username: string };

export interface AdminView {
  id: string; username: string; totp: boolean; status: 'active' | 'disabled' | 'locked'; failedLogins: number;
  lockedUntil?: string; createdAt: string; updatedAt: string;
}

interface Row {
  id: string; username: string; totp: boolean; failed_logins: number; locked_until: Date | null; disabled_at: Date | null;
  created_at: Date; updated_at: Date;
}

const admins = sql`${ident(CONTROL_SCHEMA)}.admin_user`;
const sessions = sql`${ident(CONTROL_SCHEMA)}.admin_session`;
const COLUMNS = sql`id, username, totp_secret IS NOT NULL AS totp, failed_logins, locked_until, disabled_at, created_at, updated_at`;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function view(r: Row, at: Date): AdminView {
  const locked = r.locked_until !== null && new Date(r.locked_until) > at;
  return { id: r.id, username: r.username, totp: r.totp,
    status: r.disabled_at !== null ? 'disabled' : locked ? 'locked' : 'active', failedLogins: r.failed_logins,
    ...(locked ? { lockedUntil: new Date(r.locked_until!).toISOString() } : {}),
    createdAt: new Date(r.created_at).toISOString(), updatedAt: new Date(r.updated_at).toISOString() };
}

/** {username, password, totp?}; with totp the secret and its otpauth URI are returned once. 409 on a taken name. */
export async function createAdmin(db: Queryable, body: unknown, at: Date): Promise<{ admin: AdminView; totp_secret?: string; otpauth_uri?: string }> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('The body must be {"username", "password", "totp"?}');
  const { username, password, totp, ...rest } = body as Record<string, unknown>;
  if (Object.keys(rest).length > 0) throw badRequest(`Unknown field(s): ${Object.keys(rest).join(', ')}`);
  checkUsername(username);
  checkPassword(password);
  if (totp !== undefined && typeof totp !== 'boolean') throw badRequest('totp must be true or false', ['totp']);
  const secret = totp === true ? generateTotpSecret() : undefined;
  const rows = await db.query<Row>(sql`INSERT INTO ${admins} (id, username, password_hash, totp_secret, created_at, updated_at)
    VALUES (${crypto.randomUUID()}, ${username}, ${await hashPassword(password)}, ${secret ?? null}, ${at}, ${at})
    ON CONFLICT (username) DO NOTHING RETURNING ${COLUMNS}`);
  if (!rows[0]) throw userExists(username);
  return { admin: view(rows[0], at), ...(secret ? { totp_secret: secret, otpauth_uri: otpauthUri(secret, username, `${TOTP_ISSUER} admin`) } : {}) };
}

export async function listAdmins(db: Queryable, at: Date): Promise<AdminView[]> {
  return (await db.query<Row>(sql`SELECT ${COLUMNS} FROM ${admins} ORDER BY username`)).map((r) => view(r, at));
}

async function one(db: Queryable, id: string, at: Date): Promise<AdminView> {
  const rows = UUID.test(id) ? await db.query<Row>(sql`SELECT ${COLUMNS} FROM ${admins} WHERE id = ${id}`) : [];
  if (!rows[0]) throw adminNotFound(id);
  return view(rows[0], at);
}

export const readAdmin = one;

/** Disables (sessions end at once) or enables an administrator. */
export async function setAdminDisabled(db: Queryable, id: string, disabled: boolean, at: Date): Promise<AdminView> {
  await one(db, id, at);
  await db.query(sql`UPDATE ${admins} SET updated_at = ${at},
    disabled_at = ${disabled ? sql`coalesce(disabled_at, ${at}::timestamptz)` : sql`NULL`} WHERE id = ${id}`);
  if (disabled) await db.query(sql`UPDATE ${sessions} SET ended_at = ${at} WHERE admin_id = ${id} AND ended_at IS NULL`);
  return one(db, id, at);
}

/** Lifts a lockout after failed logins. */
export async function unlockAdmin(db: Queryable, id: string, at: Date): Promise<AdminView> {
  await one(db, id, at);
  await db.query(sql`UPDATE ${admins} SET failed_logins = 0, locked_until = NULL, updated_at = ${at} WHERE id = ${id}`);
  return one(db, id, at);
}

/** Deletes an administrator (their sessions go with them). */
export async function deleteAdmin(db: Queryable, id: string, at: Date): Promise<AdminView> {
  const admin = await one(db, id, at);
  await db.query(sql`DELETE FROM ${admins} WHERE id = ${id}`);
  return admin;
}

/** True when the tenant's user exists, is enabled and holds the tenant's admin role. */
async function tenantAdmin(db: Queryable, slug: string, userId: string): Promise<boolean> {
  const rows = await db.query(sql`SELECT 1 FROM ${ident(schemaFor(slug))}.auth_user
    WHERE id = ${userId} AND disabled_at IS NULL AND ${TENANT_ADMIN_ROLE} = ANY(roles)`);
  return rows.length === 1;
}

/**
 * {username, password, totp?, tenant?}: a global administrator, or with `tenant` that tenant's user holding its admin
 * role. 401 for a wrong name, password or code, a locked or disabled account (one message: no account oracle); 403
 * for a tenant user without the admin role.
 */
export async function adminLogin(db: Queryable, body: unknown, at: Date):
  Promise<{ token: string; identity: Exclude<AdminIdentity, { kind: 'bootstrap' }>; expiresAt: Date }> {
  const b = (typeof body === 'object' && body !== null && !Array.isArray(body) ? body : {}) as Record<string, unknown>;
  const { username, password, totp, tenant } = b;
  if (typeof username !== 'string' || typeof password !== 'string' || (totp !== undefined && typeof totp !== 'string')
    || (tenant !== undefined && (typeof tenant !== 'string' || !TENANT_SLUG.test(tenant)))) {
    throw badRequest('The body must be {"username", "password", "totp"?, "tenant"?}');
  }
  let result;
  try {
    result = tenant === undefined ? await authenticateIn(db, admins, username, password, totp, at)
      : await authenticate(db, schemaFor(tenant), username, password, totp, at);
  } catch (e) {
    if (['3F000', '42P01'].includes((e as { code?: string }).code ?? '')) result = { ok: false as const, reason: 'invalid' as const };
    else throw e;
  }
  if (!result.ok) {
    throw unauthorized(result.reason === 'totp-required' ? 'A TOTP code is required' : 'The username, password or code is not valid, or the account is locked');
  }
  const { id } = result.user;
  if (tenant !== undefined && !(await tenantAdmin(db, tenant, id))) throw forbidden(`Only users holding the ${TENANT_ADMIN_ROLE} role administer a tenant`);
  const token = newSecret();
  const expiresAt = new Date(at.getTime() + ADMIN_SESSION_HOURS * 3600_000);
  // Sessions over for a day are of no further use: each login sweeps them.
  const dayAgo = new Date(at.getTime() - 86_400_000);
  await db.query(sql`DELETE FROM ${sessions} WHERE expires_at < ${dayAgo} OR ended_at < ${dayAgo} OR last_used_at < ${dayAgo}`);
  await db.query(sql`INSERT INTO ${sessions} (token_hash, admin_id, tenant_slug, tenant_user, username, created_at, last_used_at, expires_at)
    VALUES (${hashSecret(token)}, ${tenant === undefined ? id : null}, ${tenant ?? null}, ${tenant === undefined ? null : id}, ${username},
      ${at}, ${at}, ${expiresAt})`);
  const identity = tenant === undefined ? { kind: 'global' as const, id, username } : { kind: 'tenant' as const, tenant, id, username };
  return { token, identity, expiresAt };
}

/**
 * The identity behind an admin session token, or undefined when there is none live: ended, past its end, idle too
 * long, or its person disabled, deleted or no longer a tenant administrator. A live session's idle clock restarts.
 */
export async function adminSession(db: Queryable, token: string, at: Date): Promise<Exclude<AdminIdentity, { kind: 'bootstrap' }> | undefined> {
  const idleSince = new Date(at.getTime() - ADMIN_IDLE_MINUTES * 60_000);
  const rows = await db.query<{ admin_id: string | null; tenant_slug: string | null; tenant_user: string | null; username: string }>(sql`
    UPDATE ${sessions} s SET last_used_at = ${at}
    WHERE token_hash = ${hashSecret(token)} AND ended_at IS NULL AND expires_at > ${at} AND last_used_at > ${idleSince}
      AND (admin_id IS NULL OR EXISTS (SELECT 1 FROM ${admins} a WHERE a.id = s.admin_id AND a.disabled_at IS NULL))
    RETURNING admin_id, tenant_slug, tenant_user, username`);
  const r = rows[0];
  if (!r) return undefined;
  if (r.admin_id) return { kind: 'global', id: r.admin_id, username: r.username };
  try {
    if (!(await tenantAdmin(db, r.tenant_slug!, r.tenant_user!))) return undefined;
  } catch {
    return undefined; // the tenant is gone
  }
  return { kind: 'tenant', tenant: r.tenant_slug!, id: r.tenant_user!, username: r.username };
}

/** Ends the session of token (logout); true when there was a live one. */
export async function adminLogout(db: Queryable, token: string, at: Date): Promise<boolean> {
  const rows = await db.query(sql`UPDATE ${sessions} SET ended_at = ${at} WHERE token_hash = ${hashSecret(token)} AND ended_at IS NULL
    RETURNING token_hash`);
  return rows.length === 1;
}
