/**
 * People who log in at a tenant's authorization server (smart-app-launch.md §4; ARCHITECTURE §7): scrypt password
 * hashes, an optional TOTP second factor (RFC 6238) and a timed lockout after repeated failures. A disabled account
 * (user-admin.ts) cannot sign in.
 */
import { USERNAME } from '../auth/security-events.js';
import crypto from 'node:crypto';
import type { Queryable } from '../db/db.js';
import { type Sql, ident, sql } from '../db/sql.js';
import { badRequest, userExists } from '../errors.js';
import { hashPassword, verifyPassword } from './passwords.js';
import { generateTotpSecret, otpauthUri, verifyTotp } from './totp.js';
import { checkUserRoles } from './roles-admin.js';

export interface User {
  id: string;
  username: string;
  /** The user's FHIR resource as a relative reference: 'Patient/1', 'Practitioner/2' … */
  fhirUser: string;
  /** True when a TOTP code is required at login. */
  totp: boolean;
  /** The user's roles (roles-admin.ts); absent for an unmanaged user. */
  roles?: string[];
}

export type AuthResult = { ok: true; user: User } | { ok: false; reason: 'invalid' | 'locked' | 'totp-required' };

/** Project decision (issue #4 §6): five consecutive failures lock the account for fifteen minutes. */
export const MAX_FAILED_LOGINS = 5;
export const LOCKOUT_MS = 15 * 60 * 1000;

export const FHIR_USER = /^(Patient|Practitioner|PractitionerRole|RelatedPerson|Person)\/[A-Za-z0-9\-.]{1,64}$/;
export const MIN_PASSWORD_LENGTH = 10;
const MAX_PASSWORD_LENGTH = 1024;
/** The issuer authenticator apps show next to the code. */
export const TOTP_ISSUER = 'Hearth';

interface UserRow { id: string; username: string; fhir_user: string; totp_secret: string | null; password_hash: string }

const users = (schema: string) => sql`${ident(schema)}.auth_user`;
const toUser = (r: UserRow): User => ({ id: r.id, username: r.username, fhirUser: r.fhir_user, totp: r.totp_secret !== null });

interface NewUser { username: string; password: string; fhirUser: string; totp: boolean; roles: unknown }

/** The password rule of every account (users, administrators): 400 naming `password` otherwise. */
export function checkPassword(password: unknown): asserts password is string {
  if (typeof password !== 'string' || password.length < MIN_PASSWORD_LENGTH || password.length > MAX_PASSWORD_LENGTH) {
    throw badRequest(`password must be at least ${MIN_PASSWORD_LENGTH} characters (at most ${MAX_PASSWORD_LENGTH})`, ['password']);
  }
}

/** The username rule of every user write (create here, update in user-admin.ts). */
export function checkUsername(username: unknown): asserts username is string {
  if (typeof username !== 'string' || !USERNAME.test(username)) {
    throw badRequest('username must be 1–64 characters of letters, digits and . _ @ -', ['username']);
  }
}

/** The fhirUser rule of every user write. */
export function checkFhirUser(fhirUser: unknown): asserts fhirUser is string {
  if (typeof fhirUser !== 'string' || !FHIR_USER.test(fhirUser)) {
    throw badRequest('fhirUser must be a relative reference to a Patient, Practitioner, PractitionerRole, RelatedPerson '
      + 'or Person, e.g. "Practitioner/123"', ['fhirUser']);
  }
}

function parseNewUser(input: unknown): NewUser {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw badRequest('The user must be a JSON object {"username", "password", "fhirUser", "totp"?, "roles"?}');
  }
  const { username, password, fhirUser, totp, roles, ...rest } = input as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) throw badRequest(`Unknown user field(s): ${unknown.join(', ')}`);
  checkUsername(username);
  checkPassword(password);
  checkFhirUser(fhirUser);
  if (totp !== undefined && typeof totp !== 'boolean') throw badRequest('totp must be true or false', ['totp']);
  return { username, password, fhirUser, totp: totp === true, roles: roles ?? null };
}

/** Creates a user; with totp, the new secret and its otpauth URI are returned once for enrolment. 409 on a taken name. */
export async function createUser(db: Queryable, schema: string, input: unknown):
  Promise<{ user: User; totpSecret?: string; otpauthUri?: string }> {
  const u = parseNewUser(input);
  const roles = await checkUserRoles(db, schema, u.roles);
  const id = crypto.randomUUID();
  const totpSecret = u.totp ? generateTotpSecret() : undefined;
  const rows = await db.query<{ id: string }>(sql`INSERT INTO ${users(schema)} (id, username, password_hash, fhir_user, totp_secret, roles)
    VALUES (${id}, ${u.username}, ${await hashPassword(u.password)}, ${u.fhirUser}, ${totpSecret ?? null}, ${roles})
    ON CONFLICT (username) DO NOTHING RETURNING id`);
  if (rows.length === 0) throw userExists(u.username);
  const user: User = { id, username: u.username, fhirUser: u.fhirUser, totp: u.totp, ...(roles ? { roles } : {}) };
  return totpSecret ? { user, totpSecret, otpauthUri: otpauthUri(totpSecret, u.username, TOTP_ISSUER) } : { user };
}

export async function findUser(db: Queryable, schema: string, id: string): Promise<User | undefined> {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) return undefined;
  const rows = await db.query<UserRow>(sql`SELECT id, username, fhir_user, totp_secret, password_hash
    FROM ${users(schema)} WHERE id = ${id}`);
  return rows[0] && toUser(rows[0]);
}

/** A hash of nobody's password: unknown usernames spend the same scrypt time as known ones. */
let decoy: Promise<string> | undefined;
const decoyHash = () => (decoy ??= hashPassword(crypto.randomBytes(16).toString('hex')));

/**
 * Counts this attempt as a failure before the password is checked, locking the account when it is the fifth, so
 * that parallel guesses cannot all slip in while the first is still being verified. A lock that has run out starts
 * a fresh count. No row → unknown user, or locked.
 */
async function reserveAttempt(db: Queryable, table: Sql, username: string, at: Date): Promise<UserRow | undefined> {
  const until = new Date(at.getTime() + LOCKOUT_MS);
  const rows = await db.query<UserRow>(sql`UPDATE ${table} SET
      failed_logins = CASE WHEN locked_until IS NOT NULL THEN 1 ELSE failed_logins + 1 END,
      locked_until = CASE WHEN locked_until IS NULL AND failed_logins + 1 >= ${MAX_FAILED_LOGINS} THEN ${until}::timestamptz END
    WHERE username = ${username} AND disabled_at IS NULL AND (locked_until IS NULL OR locked_until <= ${at})
    RETURNING id, username, fhir_user, totp_secret, password_hash`);
  return rows[0];
}

/** Takes back a reserved failure (right password, TOTP code still to come): it was not a failed login. */
async function releaseAttempt(db: Queryable, table: Sql, id: string): Promise<void> {
  await db.query(sql`UPDATE ${table} SET failed_logins = GREATEST(failed_logins - 1, 0),
      locked_until = CASE WHEN failed_logins - 1 < ${MAX_FAILED_LOGINS} THEN NULL ELSE locked_until END
    WHERE id = ${id}`);
}

/**
 * Checks a login. Five consecutive failures (wrong password, or wrong TOTP code) lock the account for LOCKOUT_MS;
 * while locked the answer is 'locked' and the password is not checked. Success resets the count. A TOTP user who
 * gives the right password but no code gets 'totp-required', which is not counted.
 */
export function authenticate(db: Queryable, schema: string, username: string, password: string,
  totpCode: string | undefined, at: Date): Promise<AuthResult> {
  return authenticateIn(db, users(schema), username, password, totpCode, at);
}

/**
 * authenticate against a table of the same login columns (id, username, password_hash, fhir_user, totp_secret,
 * failed_logins, locked_until, disabled_at): a tenant's users, or the control plane's administrators.
 */
export async function authenticateIn(db: Queryable, table: Sql, username: string, password: string,
  totpCode: string | undefined, at: Date): Promise<AuthResult> {
  const row = USERNAME.test(username) ? await reserveAttempt(db, table, username, at) : undefined;
  if (!row) {
    // A disabled account answers as an unknown one (user-admin.ts).
    const exists = USERNAME.test(username) && (await db.query(sql`SELECT 1 FROM ${table}
      WHERE username = ${username} AND disabled_at IS NULL`)).length > 0;
    if (exists) return { ok: false, reason: 'locked' };
    await verifyPassword(password, await decoyHash());
    return { ok: false, reason: 'invalid' };
  }
  if (!(await verifyPassword(password, row.password_hash))) return { ok: false, reason: 'invalid' };
  if (row.totp_secret !== null) {
    if (totpCode === undefined || totpCode.trim() === '') {
      await releaseAttempt(db, table, row.id);
      return { ok: false, reason: 'totp-required' };
    }
    if (!verifyTotp(row.totp_secret, totpCode, at)) return { ok: false, reason: 'invalid' };
  }
  await db.query(sql`UPDATE ${table} SET failed_logins = 0, locked_until = NULL WHERE id = ${row.id}`);
  return { ok: true, user: toUser(row) };
}
