/**
 * Break-the-glass sessions (issue #16 §4; README "Access model"): a user holding a role with `breakGlass` opens
 * emergency access to one patient with `POST [base]/Patient/[id]/$break-the-glass` and a reason. For the tenant's
 * `break_glass_minutes` (default 60) that patient counts as related to the user — for the rules of their
 * break-the-glass roles only, so the roles' scopes still bound what is reached — and every request of the user is
 * audited with purpose of use BTG. Auditors list the sessions awaiting review and mark them reviewed (admin API).
 */
import crypto from 'node:crypto';
import type { Queryable } from '../db/db.js';
import { type Sql, ident, sql } from '../db/sql.js';
import { badRequest } from '../errors.js';
import { authChanged } from './grant-cache.js';

export interface BreakGlassSession {
  id: string; userId: string; username?: string; patient: string; reason: string; startedAt: string; expiresAt: string;
  reviewedAt?: string; reviewNote?: string;
}

interface Row { id: string; user_id: string; username?: string; patient: string; reason: string; started_at: Date; expires_at: Date;
  reviewed_at: Date | null; review_note: string | null }

const view = (r: Row): BreakGlassSession => ({ id: r.id, userId: r.user_id, ...(r.username ? { username: r.username } : {}),
  patient: r.patient, reason: r.reason, startedAt: new Date(r.started_at).toISOString(), expiresAt: new Date(r.expires_at).toISOString(),
  ...(r.reviewed_at ? { reviewedAt: new Date(r.reviewed_at).toISOString() } : {}), ...(r.review_note ? { reviewNote: r.review_note } : {}) });

/** A reason or note: words a reviewer reads, 3–1000 characters, no control characters. */
export function checkText(value: unknown, name: string): string {
  const control = typeof value === 'string' && [...value].some((c) => { const n = c.charCodeAt(0); return (n < 32 && n !== 9 && n !== 10) || n === 127; });
  if (typeof value !== 'string' || value.trim().length < 3 || value.length > 1000 || control) {
    throw badRequest(`${name} must be 3 to 1000 characters of text`, [name]);
  }
  return value.trim();
}

/** Opens a session for the user on Patient/patient, lasting the tenant's break_glass_minutes. */
export async function startBreakGlass(db: Queryable, schema: string, userId: string, patient: string, reason: string,
  at: Date): Promise<BreakGlassSession> {
  const s = ident(schema);
  const rows = await db.query<Row>(sql`INSERT INTO ${s}.auth_break_glass (id, user_id, patient, reason, started_at, expires_at)
    SELECT ${crypto.randomUUID()}, ${userId}, ${patient}, ${reason}, ${at}::timestamptz,
      ${at}::timestamptz + make_interval(mins => st.break_glass_minutes) FROM ${s}.auth_setting st RETURNING *`);
  authChanged(schema);
  return view(rows[0]!);
}

/** Sessions, newest first: `unreviewed` (awaiting review), `active` (not expired) or all. */
export async function listBreakGlass(db: Queryable, schema: string, status: string | undefined, at: Date): Promise<BreakGlassSession[]> {
  if (status !== undefined && !['unreviewed', 'active', 'all'].includes(status)) {
    throw badRequest('status must be unreviewed, active or all', ['status']);
  }
  const s = ident(schema);
  const where: Sql = status === 'active' ? sql`b.expires_at > ${at}` : status === 'all' ? sql`true` : sql`b.reviewed_at IS NULL`;
  const rows = await db.query<Row>(sql`SELECT b.*, u.username FROM ${s}.auth_break_glass b JOIN ${s}.auth_user u ON u.id = b.user_id
    WHERE ${where} ORDER BY b.started_at DESC LIMIT 1000`);
  return rows.map(view);
}

/** Marks a session reviewed with the reviewer's note; undefined when there is no such session. */
export async function reviewBreakGlass(db: Queryable, schema: string, id: string, note: string, at: Date): Promise<BreakGlassSession | undefined> {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id)) return undefined;
  const s = ident(schema);
  const rows = await db.query<Row>(sql`UPDATE ${s}.auth_break_glass b SET reviewed_at = ${at}, review_note = ${note}
    FROM ${s}.auth_user u WHERE b.id = ${id} AND u.id = b.user_id RETURNING b.*, u.username`);
  return rows[0] && view(rows[0]);
}
