/**
 * Browser sessions at the authorization server (ARCHITECTURE §7) and their cookies: the cookie carries 32 random
 * bytes, auth_session only their SHA-256 hash. A session lasts the tenant's session_hours (default 8) and, when it sets
 * session_idle_minutes, ends after that long unused (lifetimes.ts); logging out ends it and revokes its online_access
 * grants (smart-app-launch.md §5.9, via endSession).
 */
import crypto from 'node:crypto';
import type { Queryable } from '../db/db.js';
import { ident, sql } from '../db/sql.js';
import { endSession, hashSecret, newSecret } from '../auth/grants.js';
import { getLifetimes } from './lifetimes.js';

export const SESSION_COOKIE = 'hearth_session';
/** Binds pending authorization requests to the browser that started them (login CSRF, stolen request links). */
export const BROWSER_COOKIE = 'hearth_browser';

export interface Session {
  /** SHA-256 of the cookie value: what grants and authorization requests refer to. */
  hash: string;
  userId: string;
  expiresAt: Date;
}

const t = (schema: string, name: string) => sql`${ident(schema)}.${ident(name)}`;

/** Cookie values we issue are 43 base64url characters; anything else is not looked up. */
const TOKEN = /^[A-Za-z0-9_-]{43}$/;

export async function createSession(db: Queryable, schema: string, userId: string, at: Date): Promise<{ token: string; session: Session }> {
  const token = newSecret();
  const { sessionHours } = await getLifetimes(db, schema);
  const session: Session = { hash: hashSecret(token), userId, expiresAt: new Date(at.getTime() + sessionHours * 3_600_000) };
  await db.query(sql`INSERT INTO ${t(schema, 'auth_session')} (token_hash, user_id, created_at, expires_at, last_seen_at)
    VALUES (${session.hash}, ${userId}, ${at}, ${session.expiresAt}, ${at})`);
  return { token, session };
}

/**
 * The live session behind a cookie value, marked as used now; undefined when unknown, ended, expired, or idle longer
 * than the tenant allows.
 */
export async function findSession(db: Queryable, schema: string, token: string | undefined, at: Date): Promise<Session | undefined> {
  if (!token || !TOKEN.test(token)) return undefined;
  const rows = await db.query<{ token_hash: string; user_id: string; expires_at: Date }>(sql`UPDATE ${t(schema, 'auth_session')} s
    SET last_seen_at = ${at} FROM ${t(schema, 'auth_setting')} l
    WHERE s.token_hash = ${hashSecret(token)} AND s.ended_at IS NULL AND s.expires_at > ${at}
      AND (l.session_idle_minutes = 0
        OR coalesce(s.last_seen_at, s.created_at) > ${at}::timestamptz - make_interval(mins => l.session_idle_minutes))
    RETURNING s.token_hash, s.user_id, s.expires_at`);
  const row = rows[0];
  return row && { hash: row.token_hash, userId: row.user_id, expiresAt: new Date(row.expires_at) };
}

/** Ends the session behind a cookie value (if any) and revokes its online_access grants; the session it ended. */
export async function logout(db: Queryable, schema: string, token: string | undefined, at: Date): Promise<Session | undefined> {
  const session = await findSession(db, schema, token, at);
  if (!session) return undefined;
  await endSession(db, schema, session.hash, at);
  return session;
}

/** A fresh browser-binding value (kept in a cookie; pending requests store its hash). */
export const newBrowserId = (): string => newSecret();

/** The hash a pending request stores for its browser, or undefined for a malformed cookie. */
export const browserHash = (value: string | undefined): string | undefined =>
  value && TOKEN.test(value) ? hashSecret(value) : undefined;

/** Cookie header → values (RFC 6265 §5.4); the values we issue are base64url, so no decoding is needed. */
export function parseCookies(header: string | undefined): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) out[part.slice(0, eq).trim()] ??= part.slice(eq + 1).trim();
  }
  return out;
}

export interface CookieOptions { path: string; secure: boolean; maxAge?: number }

/** A host-only, HttpOnly, SameSite=Lax cookie (Secure when the public base is https); Max-Age=0 deletes it. */
export const serializeCookie = (name: string, value: string, o: CookieOptions): string =>
  `${name}=${value}; Path=${o.path}; HttpOnly; SameSite=Lax${o.secure ? '; Secure' : ''}${o.maxAge !== undefined ? `; Max-Age=${o.maxAge}` : ''}`;

/** Constant-time comparison of two strings (CSRF tokens, hashes). */
export function sameSecret(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return false;
  const ha = crypto.createHash('sha256').update(a).digest();
  const hb = crypto.createHash('sha256').update(b).digest();
  return crypto.timingSafeEqual(ha, hb);
}
