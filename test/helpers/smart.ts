/**
 * SMART test helpers: client key pairs, signed client assertions (RFC 7523) made with node:crypto, client registration
 * through the admin API, form posts to the OAuth endpoints, and grants + codes made directly (what /authorize does).
 */
import crypto from 'node:crypto';
import { type LaunchContext, createCode, createGrant } from '../../src/auth/grants.js';
import { findTenant } from '../../src/storage/tenants.js';
import { PUBLIC_ORIGIN, type Reply, type TestServer } from './server.js';

export const ADMIN_TOKEN = 'test-admin-token-0123456789';
export const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export interface ClientKey {
  alg: 'RS384' | 'ES384' | 'RS256';
  kid: string;
  privateKey: crypto.KeyObject;
  /** The public JWK as a client registers it. */
  jwk: Record<string, unknown>;
}

export function makeKey(alg: 'RS384' | 'ES384', kid = `${alg.toLowerCase()}-${crypto.randomBytes(4).toString('hex')}`): ClientKey {
  const { privateKey, publicKey } = alg === 'ES384'
    ? crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' })
    : crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { alg, kid, privateKey, jwk: { ...publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' } };
}

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** A compact JWS over any header (including alg none and HS256, for negative tests). */
export function signJws(header: Record<string, unknown>, claims: Record<string, unknown>, key?: crypto.KeyObject | string): string {
  const input = `${b64(header)}.${b64(claims)}`;
  const alg = header.alg;
  let sig = Buffer.alloc(0);
  if (alg === 'HS256') sig = crypto.createHmac('sha256', key as string).update(input).digest();
  else if (alg === 'ES384') sig = crypto.sign('sha384', Buffer.from(input), { key: key as crypto.KeyObject, dsaEncoding: 'ieee-p1363' });
  else if (alg === 'RS384') sig = crypto.sign('sha384', Buffer.from(input), key as crypto.KeyObject);
  else if (alg === 'RS256') sig = crypto.sign('sha256', Buffer.from(input), key as crypto.KeyObject);
  return `${input}.${sig.toString('base64url')}`;
}

export const tokenEndpoint = (s: TestServer, slug = s.slug) => `${PUBLIC_ORIGIN}/auth/${slug}/token`;

export interface AssertionOptions {
  header?: Record<string, unknown>;
  claims?: Record<string, unknown>;
  /** Seconds since the epoch the assertion is made at (default: the server's injected clock). */
  now?: number;
  key?: crypto.KeyObject | string;
}

/** A valid client assertion for clientId at the tenant's token endpoint, with overrides (undefined removes a field). */
export function assertion(s: TestServer, clientId: string, key: ClientKey, o: AssertionOptions = {}): string {
  const now = o.now ?? Math.floor(s.deps.auth.now().getTime() / 1000);
  const header = clean({ alg: key.alg, kid: key.kid, typ: 'JWT', ...o.header });
  const claims = clean({ iss: clientId, sub: clientId, aud: tokenEndpoint(s), exp: now + 240, jti: crypto.randomUUID(), ...o.claims });
  return signJws(header, claims, o.key ?? key.privateKey);
}

function clean(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

/** POST a form to /auth/<slug>/<endpoint>. */
export async function postForm(s: TestServer, endpoint: string, fields: Record<string, string>,
  headers: Record<string, string> = {}, slug = s.slug): Promise<Reply> {
  return await s.app.inject({ method: 'POST', url: `/auth/${slug}/${endpoint}`,
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    payload: new URLSearchParams(fields).toString() }) as Reply;
}

export const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

/** Registers a client through the admin API; answers { client_id, client_secret? }. */
export async function registerClient(s: TestServer, body: Record<string, unknown>, slug = s.slug):
  Promise<{ client_id: string; client_secret?: string }> {
  const res = await s.request('POST', `/admin/tenants/${slug}/clients`, { body, headers: {
    authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' } });
  if (res.statusCode !== 201) throw new Error(`client registration failed: ${res.statusCode} ${res.body}`);
  return res.json();
}

/** A PKCE pair (RFC 7636 S256). */
export function pkce(): { verifier: string; challenge: string } {
  const verifier = crypto.randomBytes(32).toString('base64url');
  return { verifier, challenge: crypto.createHash('sha256').update(verifier).digest('base64url') };
}

export interface CodeOptions {
  clientId: string;
  scope: string;
  redirectUri: string;
  context?: LaunchContext;
  userId?: string;
  sessionHash?: string;
  nonce?: string;
  /** Code lifetime in ms from the server clock (default 60 s). */
  ttlMs?: number;
}

/** What /authorize leaves behind after consent: a grant and a code bound to client, redirect_uri and PKCE challenge. */
export async function makeCode(s: TestServer, o: CodeOptions): Promise<{ code: string; verifier: string; grantId: string }> {
  const tenant = (await findTenant(s.deps.db, s.slug))!;
  const now = s.deps.auth.now();
  const grant = await createGrant(s.deps.db, tenant.schema, { clientId: o.clientId, scope: o.scope, context: o.context ?? {},
    userId: o.userId ?? crypto.randomUUID(), ...(o.sessionHash ? { sessionHash: o.sessionHash } : {}) }, now);
  const { verifier, challenge } = pkce();
  const code = await createCode(s.deps.db, tenant.schema, { grantId: grant.id, clientId: o.clientId, redirectUri: o.redirectUri,
    codeChallenge: challenge, ...(o.nonce ? { nonce: o.nonce } : {}) }, new Date(now.getTime() + (o.ttlMs ?? 60_000)));
  return { code, verifier, grantId: grant.id };
}

/** Decodes a JWT's claims without verifying (the tests verify signatures where that is the point). */
export function claimsOf(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

/** Replaces the server clock with a fixed, movable one; restored at teardown. */
export function fixClock(t: { teardown(fn: () => unknown): void }, s: TestServer, at: Date) {
  const original = s.deps.auth.now;
  let current = at.getTime();
  s.deps.auth.now = () => new Date(current);
  t.teardown(() => { s.deps.auth.now = original; });
  return { advance: (ms: number) => { current += ms; }, epoch: () => Math.floor(current / 1000) };
}
