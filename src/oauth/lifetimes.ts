/**
 * A tenant's token and session lifetimes (issue #16 §5; migration 015): how long access tokens of users' grants live,
 * offline refresh tokens, and sign-in sessions at the authorization server — at most `sessionHours`, and ended after
 * `sessionIdleMinutes` without use when that is not 0 (the session timeout the backends Hearth replaces promise).
 * Backend-service tokens keep the 5 minutes SMART recommends; online refresh tokens end with their session.
 */
import type { Queryable } from '../db/db.js';
import { ident, sql } from '../db/sql.js';
import { badRequest } from '../errors.js';

export interface Lifetimes { accessTokenSeconds: number; refreshTokenDays: number; sessionHours: number; sessionIdleMinutes: number;
  /** How long a break-the-glass session lasts (issue #16 §4). */
  breakGlassMinutes: number }

export const DEFAULT_LIFETIMES: Lifetimes = { accessTokenSeconds: 3600, refreshTokenDays: 90, sessionHours: 8, sessionIdleMinutes: 0,
  breakGlassMinutes: 60 };

/** The admin API's names, and the bounds the table checks too. */
const FIELDS = {
  access_token_seconds: { key: 'accessTokenSeconds', min: 60, max: 86400 },
  refresh_token_days: { key: 'refreshTokenDays', min: 1, max: 3650 },
  session_hours: { key: 'sessionHours', min: 1, max: 720 },
  session_idle_minutes: { key: 'sessionIdleMinutes', min: 0, max: 43200 },
  break_glass_minutes: { key: 'breakGlassMinutes', min: 5, max: 1440 },
} as const;
type Field = keyof typeof FIELDS;

interface Row { access_token_seconds: number; refresh_token_days: number; session_hours: number; session_idle_minutes: number;
  break_glass_minutes: number }

export async function getLifetimes(db: Queryable, schema: string): Promise<Lifetimes> {
  const rows = await db.query<Row>(sql`SELECT access_token_seconds, refresh_token_days, session_hours, session_idle_minutes,
    break_glass_minutes FROM ${ident(schema)}.auth_setting`);
  const r = rows[0];
  return r ? { accessTokenSeconds: r.access_token_seconds, refreshTokenDays: r.refresh_token_days, sessionHours: r.session_hours,
    sessionIdleMinutes: r.session_idle_minutes, breakGlassMinutes: r.break_glass_minutes } : DEFAULT_LIFETIMES;
}

/** The lifetimes as the admin API shows them (snake_case, like its other documents). */
export const lifetimesView = (l: Lifetimes): Record<Field, number> => ({ access_token_seconds: l.accessTokenSeconds,
  refresh_token_days: l.refreshTokenDays, session_hours: l.sessionHours, session_idle_minutes: l.sessionIdleMinutes,
  break_glass_minutes: l.breakGlassMinutes });

/** Changes the fields given (the others stay); 400 naming a field out of its bounds or unknown. New tokens and
 * sessions get them; a live session's idle limit applies from its next use. */
export async function setLifetimes(db: Queryable, schema: string, body: unknown): Promise<Lifetimes> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('The body must be a JSON object');
  const changes = Object.entries(body as Record<string, unknown>);
  if (changes.length === 0) throw badRequest(`Give at least one of ${Object.keys(FIELDS).join(', ')}`);
  const next = { ...(await getLifetimes(db, schema)) };
  for (const [name, value] of changes) {
    const f = FIELDS[name as Field] as (typeof FIELDS)[Field] | undefined;
    if (!f || !Object.hasOwn(FIELDS, name)) throw badRequest(`Unknown field ${name} (known: ${Object.keys(FIELDS).join(', ')})`, [name]);
    if (typeof value !== 'number' || !Number.isInteger(value) || value < f.min || value > f.max) {
      throw badRequest(`${name} must be a whole number from ${f.min} to ${f.max}`, [name]);
    }
    next[f.key] = value;
  }
  await db.query(sql`UPDATE ${ident(schema)}.auth_setting SET access_token_seconds = ${next.accessTokenSeconds},
    refresh_token_days = ${next.refreshTokenDays}, session_hours = ${next.sessionHours}, session_idle_minutes = ${next.sessionIdleMinutes},
    break_glass_minutes = ${next.breakGlassMinutes}`);
  return next;
}
