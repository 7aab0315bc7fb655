/**
 * User administration (issue #16 §2): list, read, update, disable and enable, unlock, password reset by one-time code,
 * second-factor reset and delete. Disabling, deleting or resetting a password ends the user's sign-in sessions and
 * revokes every grant made for them, so their tokens stop working on the next request (grant-cache.ts learns of it
 * through the auth_grant trigger of migration 011). The admin API (http/admin.ts) and the CLI call these.
 */
import type { Queryable } from '../db/db.js';
import { type Sql, ident, sql } from '../db/sql.js';
import { badRequest, userExists, userNotFound } from '../errors.js';
import { authChanged } from '../auth/grant-cache.js';
import { hashSecret, newSecret } from '../auth/grants.js';
import { MIN_PASSWORD_LENGTH, TOTP_ISSUER, checkFhirUser, checkUsername } from './users.js';
import { hashPassword } from './passwords.js';
import { generateTotpSecret, otpauthUri } from './totp.js';
import { checkUserRoles } from './roles-admin.js';

/** How long a password reset code can be redeemed. */
export const RESET_TTL_MS = 24 * 60 * 60 * 1000;
const MAX_PAGE = 200;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A user as administrators see them: never a password hash, TOTP secret or reset code. */
export interface UserView {
  id: string; username: string; fhirUser: string; totp: boolean; status: 'active' | 'disabled' | 'locked';
  /** null: an unmanaged user (the app's scopes alone). */
  roles: string[] | null;
  failedLogins: number; lockedUntil?: string; disabledAt?: string; createdAt: string; updatedAt: string;
}

interface Row { id: string; username: string; fhir_user: string; totp: boolean; roles: string[] | null; failed_logins: number; locked_until: Date | null;
  disabled_at: Date | null; created_at: Date; updated_at: Date }

const users = (schema: string) => sql`${ident(schema)}.auth_user`;
const COLUMNS = sql`id, username, fhir_user, totp_secret IS NOT NULL AS totp, roles, failed_logins, locked_until, disabled_at, created_at,
  updated_at`;

function view(r: Row, at: Date): UserView {
  const locked = r.locked_until !== null && new Date(r.locked_until) > at;
  return { id: r.id, username: r.username, fhirUser: r.fhir_user, totp: r.totp, roles: r.roles,
    status: r.disabled_at !== null ? 'disabled' : locked ? 'locked' : 'active', failedLogins: r.failed_logins,
    ...(locked ? { lockedUntil: new Date(r.locked_until!).toISOString() } : {}),
    ...(r.disabled_at !== null ? { disabledAt: new Date(r.disabled_at).toISOString() } : {}),
    createdAt: new Date(r.created_at).toISOString(), updatedAt: new Date(r.updated_at).toISOString() };
}

export interface UserQuery { username?: string; fhirUser?: string; status?: string; role?: string; count?: string; after?: string }

/** A page of users in username order, filtered; `next` is the `after` of the following page. */
export async function listUsers(db: Queryable, schema: string, q: UserQuery, at: Date): Promise<{ users: UserView[]; next?: string }> {
  const count = q.count === undefined ? 50 : Number(q.count);
  if (!Number.isInteger(count) || count < 1 || count > MAX_PAGE) throw badRequest(`count must be a whole number from 1 to ${MAX_PAGE}`, ['count']);
  if (q.status !== undefined && !['active', 'disabled', 'locked'].includes(q.status)) {
    throw badRequest('status must be active, disabled or locked', ['status']);
  }
  const where: Sql[] = [sql`true`];
  if (q.username) where.push(sql`username LIKE ${`${q.username.replace(/[\\%_]/g, (c) => `\\${c}`)}%`}`);
  if (q.fhirUser) where.push(sql`fhir_user = ${q.fhirUser}`);
  if (q.role) where.push(sql`${q.role} = ANY(roles)`);
  if (q.after) where.push(sql`username > ${q.after}`);
  if (q.status === 'disabled') where.push(sql`disabled_at IS NOT NULL`);
  if (q.status === 'locked') where.push(sql`disabled_at IS NULL AND locked_until > ${at}`);
  if (q.status === 'active') where.push(sql`disabled_at IS NULL AND (locked_until IS NULL OR locked_until <= ${at})`);
  const conditions = where.reduce((a, b) => sql`${a} AND ${b}`);
  const rows = await db.query<Row>(sql`SELECT ${COLUMNS} FROM ${users(schema)} WHERE ${conditions}
    ORDER BY username LIMIT ${count + 1}`);
  const page = rows.slice(0, count).map((r) => view(r, at));
  return rows.length > count ? { users: page, next: page[page.length - 1]!.username } : { users: page };
}

async function row(db: Queryable, schema: string, id: string): Promise<Row> {
  const rows = UUID.test(id) ? await db.query<Row>(sql`SELECT ${COLUMNS} FROM ${users(schema)} WHERE id = ${id}`) : [];
  if (!rows[0]) throw userNotFound(id);
  return rows[0];
}

export const readUser = async (db: Queryable, schema: string, id: string, at: Date): Promise<UserView> => view(await row(db, schema, id), at);

/** Changes a user's username and/or fhirUser (the fields given); 409 when the username is taken. */
export async function updateUser(db: Queryable, schema: string, id: string, body: unknown, at: Date): Promise<UserView> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('The body must be a JSON object {"username"?, "fhirUser"?, "roles"?}');
  const { username, fhirUser, roles, ...rest } = body as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) throw badRequest(`Unknown user field(s): ${unknown.join(', ')} (known: username, fhirUser, roles)`);
  if (username !== undefined) checkUsername(username);
  if (fhirUser !== undefined) checkFhirUser(fhirUser);
  await row(db, schema, id);
  const newRoles = roles === undefined ? undefined : await checkUserRoles(db, schema, roles);
  if (username !== undefined) {
    const taken = await db.query(sql`SELECT 1 FROM ${users(schema)} WHERE username = ${username} AND id <> ${id}`);
    if (taken.length > 0) throw userExists(username);
  }
  const rows = await db.query<Row>(sql`UPDATE ${users(schema)} SET username = coalesce(${username ?? null}, username),
      fhir_user = coalesce(${fhirUser ?? null}, fhir_user), updated_at = ${at}${newRoles === undefined ? sql`` : sql`, roles = ${newRoles}`}
    WHERE id = ${id} RETURNING ${COLUMNS}`);
  if (newRoles !== undefined) authChanged(schema);
  return view(rows[0]!, at);
}

/**
 * Ends the user's sign-in sessions and revokes their grants: every access and refresh token made for them stops
 * working at once (`fhirUser` changes do not do this: a token's fhirUser is the one it was issued with).
 */
async function signOut(db: Queryable, schema: string, id: string, at: Date): Promise<void> {
  const s = ident(schema);
  await db.query(sql`UPDATE ${s}.auth_session SET ended_at = ${at} WHERE user_id = ${id} AND ended_at IS NULL`);
  await db.query(sql`UPDATE ${s}.auth_grant SET revoked_at = ${at} WHERE user_id = ${id} AND revoked_at IS NULL`);
  authChanged(schema);
}

/** Disables (the user cannot sign in; their tokens are revoked) or enables the account. */
export async function setDisabled(db: Queryable, schema: string, id: string, disabled: boolean, at: Date): Promise<UserView> {
  await row(db, schema, id);
  const rows = await db.query<Row>(sql`UPDATE ${users(schema)} SET updated_at = ${at},
      disabled_at = ${disabled ? sql`coalesce(disabled_at, ${at}::timestamptz)` : sql`NULL`}
    WHERE id = ${id} RETURNING ${COLUMNS}`);
  if (disabled) await signOut(db, schema, id, at);
  return view(rows[0]!, at);
}

/** Lifts a lockout after failed logins (and clears the count). */
export async function unlockUser(db: Queryable, schema: string, id: string, at: Date): Promise<UserView> {
  await row(db, schema, id);
  const rows = await db.query<Row>(sql`UPDATE ${users(schema)} SET failed_logins = 0, locked_until = NULL, updated_at = ${at}
    WHERE id = ${id} RETURNING ${COLUMNS}`);
  return view(rows[0]!, at);
}

/**
 * A one-time password reset code, valid RESET_TTL_MS (only its hash is stored; asking again replaces it). The user
 * redeems it at the reset page with a new password. The current password keeps working until then.
 */
export async function startPasswordReset(db: Queryable, schema: string, id: string, at: Date): Promise<{ code: string; expiresAt: Date }> {
  await row(db, schema, id);
  const code = newSecret();
  const expiresAt = new Date(at.getTime() + RESET_TTL_MS);
  await db.query(sql`UPDATE ${users(schema)} SET reset_hash = ${hashSecret(code)}, reset_expires_at = ${expiresAt}, updated_at = ${at}
    WHERE id = ${id}`);
  return { code, expiresAt };
}

/**
 * Redeems a reset code: sets the new password, clears a lockout, signs the user out everywhere. The user's id, or
 * undefined for an unknown, used or expired code (and for a disabled account).
 */
export async function redeemPasswordReset(db: Queryable, schema: string, code: string, password: string, at: Date):
  Promise<string | undefined> {
  if (password.length < MIN_PASSWORD_LENGTH || password.length > 1024) {
    throw badRequest(`The password must be at least ${MIN_PASSWORD_LENGTH} characters (at most 1024)`, ['password']);
  }
  const hash = await hashPassword(password);
  const rows = await db.query<{ id: string }>(sql`UPDATE ${users(schema)} SET password_hash = ${hash}, reset_hash = NULL,
      reset_expires_at = NULL, failed_logins = 0, locked_until = NULL, updated_at = ${at}
    WHERE reset_hash = ${hashSecret(code)} AND reset_expires_at > ${at} AND disabled_at IS NULL RETURNING id`);
  const id = rows[0]?.id;
  if (id) await signOut(db, schema, id, at);
  return id;
}

/** A new TOTP secret (the old one stops working), returned once for enrolment. */
export async function resetTotp(db: Queryable, schema: string, id: string, at: Date):
  Promise<{ totp_secret: string; otpauth_uri: string }> {
  const user = await row(db, schema, id);
  const secret = generateTotpSecret();
  await db.query(sql`UPDATE ${users(schema)} SET totp_secret = ${secret}, updated_at = ${at} WHERE id = ${id}`);
  return { totp_secret: secret, otpauth_uri: otpauthUri(secret, user.username, TOTP_ISSUER) };
}

/** Deletes the account; its sessions go with it (ON DELETE CASCADE) and its grants are revoked. */
export async function deleteUser(db: Queryable, schema: string, id: string, at: Date): Promise<void> {
  await row(db, schema, id);
  await signOut(db, schema, id, at);
  await db.query(sql`DELETE FROM ${users(schema)} WHERE id = ${id}`);
}

