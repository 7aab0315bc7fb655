/**
 * Grants, authorization codes, refresh tokens and EHR launches in the tenant schema. Every secret handed to a
 * client is random (256 bits) and stored only as its SHA-256 hash.
 */
import crypto from 'node:crypto';
import type { Queryable } from '../db/db.js';
import { ident, sql } from '../db/sql.js';
import { authChanged } from './grant-cache.js';

/** Launch context returned with the token (smart-app-launch.md §6) and kept with the grant. */
export interface LaunchContext {
  patient?: string;
  encounter?: string;
  fhirContext?: { reference?: string; canonical?: string; identifier?: unknown; type?: string; role?: string }[];
  need_patient_banner?: boolean;
  smart_style_url?: string;
  intent?: string;
  /** The logged-in user's FHIR resource as a relative reference ('Practitioner/1'). */
  fhirUser?: string;
}

export interface Grant {
  id: string;
  clientId: string;
  userId?: string;
  sessionHash?: string;
  scope: string;
  context: LaunchContext;
  createdAt: Date;
  revokedAt?: Date;
}

interface GrantRow {
  id: string; client_id: string; user_id: string | null; session_hash: string | null; scope: string;
  context: LaunchContext; created_at: Date; revoked_at: Date | null;
}

export const newSecret = (): string => crypto.randomBytes(32).toString('base64url');
export const hashSecret = (secret: string): string => crypto.createHash('sha256').update(secret).digest('base64url');

const t = (schema: string, name: string) => sql`${ident(schema)}.${ident(name)}`;

const toGrant = (r: GrantRow): Grant => ({
  id: r.id, clientId: r.client_id, scope: r.scope, context: r.context, createdAt: new Date(r.created_at),
  ...(r.user_id ? { userId: r.user_id } : {}), ...(r.session_hash ? { sessionHash: r.session_hash } : {}),
  ...(r.revoked_at ? { revokedAt: new Date(r.revoked_at) } : {}),
});

export async function createGrant(db: Queryable, schema: string, g: Omit<Grant, 'id' | 'createdAt' | 'revokedAt'>,
  at: Date): Promise<Grant> {
  const id = crypto.randomUUID();
  await db.query(sql`INSERT INTO ${t(schema, 'auth_grant')} (id, client_id, user_id, session_hash, scope, context, created_at)
    VALUES (${id}, ${g.clientId}, ${g.userId ?? null}, ${g.sessionHash ?? null}, ${g.scope}, ${JSON.stringify(g.context)}::jsonb, ${at})`);
  return { ...g, id, createdAt: at };
}

export async function findGrant(db: Queryable, schema: string, id: string): Promise<Grant | undefined> {
  if (!/^[0-9a-f-]{36}$/.test(id)) return undefined;
  const rows = await db.query<GrantRow>(sql`SELECT id, client_id, user_id, session_hash, scope, context, created_at, revoked_at
    FROM ${t(schema, 'auth_grant')} WHERE id = ${id}`);
  return rows[0] && toGrant(rows[0]);
}

/** True when the grant exists and is not revoked: the per-request check behind every access token. */
export async function grantActive(db: Queryable, schema: string, id: string): Promise<boolean> {
  if (!/^[0-9a-f-]{36}$/.test(id)) return false;
  const rows = await db.query<{ ok: boolean }>(sql`SELECT revoked_at IS NULL AS ok FROM ${t(schema, 'auth_grant')} WHERE id = ${id}`);
  return rows[0]?.ok === true;
}

/** Revokes a grant: its access tokens stop working at once and its refresh token is invalid. */
export async function revokeGrant(db: Queryable, schema: string, id: string, at: Date): Promise<void> {
  await db.query(sql`UPDATE ${t(schema, 'auth_grant')} SET revoked_at = ${at}, refresh_hash = NULL
    WHERE id = ${id} AND revoked_at IS NULL`);
  authChanged(schema);
}

/** Ends an authorization-server session: online_access grants made in it are revoked (smart-app-launch.md §5.9). */
export async function endSession(db: Queryable, schema: string, sessionHash: string, at: Date): Promise<void> {
  await db.query(sql`UPDATE ${t(schema, 'auth_session')} SET ended_at = ${at} WHERE token_hash = ${sessionHash} AND ended_at IS NULL`);
  await db.query(sql`UPDATE ${t(schema, 'auth_grant')} SET revoked_at = ${at}, refresh_hash = NULL
    WHERE session_hash = ${sessionHash} AND revoked_at IS NULL AND ' ' || scope || ' ' NOT LIKE '% offline_access %'`);
  authChanged(schema);
}

/** Gives the grant a (new) refresh token; a previous one moves to the rotated list (reuse → revoke). */
export async function issueRefreshToken(db: Queryable, schema: string, grantId: string, expiresAt: Date): Promise<string> {
  const token = newSecret();
  await db.query(sql`INSERT INTO ${t(schema, 'auth_refresh_rotated')} (token_hash, grant_id)
    SELECT refresh_hash, id FROM ${t(schema, 'auth_grant')} WHERE id = ${grantId} AND refresh_hash IS NOT NULL
    ON CONFLICT DO NOTHING`);
  await db.query(sql`UPDATE ${t(schema, 'auth_grant')} SET refresh_hash = ${hashSecret(token)}, refresh_expires_at = ${expiresAt}
    WHERE id = ${grantId}`);
  return token;
}

export type RefreshLookup = { grant: Grant } | { reused: true } | undefined;

/**
 * The live grant a refresh token belongs to. A rotated (already used) token revokes its grant and answers
 * `reused` (smart-app-launch.md §5.8); unknown, expired or revoked → undefined.
 */
export async function findByRefreshToken(db: Queryable, schema: string, token: string, at: Date): Promise<RefreshLookup> {
  const hash = hashSecret(token);
  const rows = await db.query<GrantRow & { refresh_expires_at: Date }>(sql`SELECT id, client_id, user_id, session_hash, scope,
    context, created_at, revoked_at, refresh_expires_at FROM ${t(schema, 'auth_grant')} WHERE refresh_hash = ${hash}`);
  const row = rows[0];
  if (row) {
    if (row.revoked_at || new Date(row.refresh_expires_at) <= at) return undefined;
    return { grant: toGrant(row) };
  }
  const rotated = await db.query<{ grant_id: string }>(sql`SELECT grant_id FROM ${t(schema, 'auth_refresh_rotated')} WHERE token_hash = ${hash}`);
  if (!rotated[0]) return undefined;
  await revokeGrant(db, schema, rotated[0].grant_id, at);
  return { reused: true };
}

export interface CodeBinding { grantId: string; clientId: string; redirectUri: string; codeChallenge: string; nonce?: string }

export async function createCode(db: Queryable, schema: string, b: CodeBinding, expiresAt: Date): Promise<string> {
  const code = newSecret();
  await db.query(sql`INSERT INTO ${t(schema, 'auth_code')} (code_hash, grant_id, client_id, redirect_uri, code_challenge, nonce, expires_at)
    VALUES (${hashSecret(code)}, ${b.grantId}, ${b.clientId}, ${b.redirectUri}, ${b.codeChallenge}, ${b.nonce ?? null}, ${expiresAt})`);
  return code;
}

export type CodeLookup = { binding: CodeBinding } | { error: 'unknown' | 'expired' | 'reused' };

/**
 * Marks a code used and answers what it was bound to. A second use revokes the grant it produced
 * (smart-app-launch.md §5.4).
 */
export async function redeemCode(db: Queryable, schema: string, code: string, at: Date): Promise<CodeLookup> {
  const rows = await db.query<{ grant_id: string; client_id: string; redirect_uri: string; code_challenge: string;
    nonce: string | null; expires_at: Date; used_at: Date | null }>(sql`UPDATE ${t(schema, 'auth_code')} c SET used_at = COALESCE(c.used_at, ${at})
    FROM (SELECT code_hash, used_at AS was_used FROM ${t(schema, 'auth_code')} WHERE code_hash = ${hashSecret(code)} FOR UPDATE) old
    WHERE c.code_hash = old.code_hash
    RETURNING c.grant_id, c.client_id, c.redirect_uri, c.code_challenge, c.nonce, c.expires_at, old.was_used AS used_at`);
  const row = rows[0];
  if (!row) return { error: 'unknown' };
  if (row.used_at) {
    await revokeGrant(db, schema, row.grant_id, at);
    return { error: 'reused' };
  }
  if (new Date(row.expires_at) <= at) return { error: 'expired' };
  return { binding: { grantId: row.grant_id, clientId: row.client_id, redirectUri: row.redirect_uri,
    codeChallenge: row.code_challenge, ...(row.nonce ? { nonce: row.nonce } : {}) } };
}

/** Project decision (smart-app-launch.md §3.1): a launch id lives five minutes and is used once. */
export const LAUNCH_TTL_MS = 5 * 60 * 1000;

export async function createLaunch(db: Queryable, schema: string, context: LaunchContext, at: Date): Promise<string> {
  const id = newSecret();
  await db.query(sql`INSERT INTO ${t(schema, 'auth_launch')} (id_hash, context, expires_at)
    VALUES (${hashSecret(id)}, ${JSON.stringify(context)}::jsonb, ${new Date(at.getTime() + LAUNCH_TTL_MS)})`);
  return id;
}

/** The launch's context, consumed (single use); undefined when unknown, expired or already used. */
export async function consumeLaunch(db: Queryable, schema: string, id: string, at: Date): Promise<LaunchContext | undefined> {
  const rows = await db.query<{ context: LaunchContext }>(sql`UPDATE ${t(schema, 'auth_launch')} SET used_at = ${at}
    WHERE id_hash = ${hashSecret(id)} AND used_at IS NULL AND expires_at > ${at} RETURNING context`);
  return rows[0]?.context;
}

/** Records a client assertion's jti; false when the same issuer used it before (replay, §7.5). */
export async function rememberJti(db: Queryable, schema: string, iss: string, jti: string, expiresAt: Date, at: Date): Promise<boolean> {
  await db.query(sql`DELETE FROM ${t(schema, 'auth_assertion_jti')} WHERE expires_at < ${at}`);
  const rows = await db.query(sql`INSERT INTO ${t(schema, 'auth_assertion_jti')} (iss, jti, expires_at)
    VALUES (${iss}, ${jti}, ${expiresAt}) ON CONFLICT DO NOTHING RETURNING jti`);
  return rows.length === 1;
}
