/**
 * Registered SMART apps of a tenant — https://hl7.org/fhir/smart-app-launch/app-launch.html#register-app-with-ehr
 * (smart-app-launch.md §2): public apps, confidential apps (client_secret_basic, or private_key_jwt with a JWKS)
 * and backend services (private_key_jwt, pre-authorized system/ scopes).
 */
import crypto from 'node:crypto';
import type { Queryable } from '../db/db.js';
import { ident, sql } from '../db/sql.js';
import { badRequest } from '../errors.js';
import { authChanged } from '../auth/grant-cache.js';
import { hashSecret, newSecret } from '../auth/grants.js';
import { publicKeyFromJwk } from '../auth/jws.js';
import { CONTEXT_SCOPES, parseRule } from '../auth/scopes.js';

export type ClientType = 'public' | 'confidential' | 'backend';

export interface Jwks { keys: Record<string, unknown>[] }

export interface Client {
  clientId: string;
  name: string;
  type: ClientType;
  /** Exact redirect URIs (compared character for character at /authorize). */
  redirectUris: string[];
  /** The most this client may be granted, space-separated. */
  scope: string;
  /** Registered public keys (asymmetric client authentication). */
  jwks?: Jwks;
  /** Where the client publishes its public keys (asymmetric client authentication). */
  jwksUri?: string;
  launchUri?: string;
  /** True for confidential symmetric clients (client_secret_basic). */
  hasSecret: boolean;
}

interface ClientRow {
  client_id: string; name: string; type: ClientType; secret_hash: string | null; redirect_uris: string[]; scope: string;
  jwks: Jwks | null; jwks_uri: string | null; launch_uri: string | null;
}

const TYPES: readonly ClientType[] = ['public', 'confidential', 'backend'];
const FIELDS = new Set(['name', 'type', 'redirect_uris', 'scope', 'jwks', 'jwks_uri', 'launch_uri']);
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
const MIN_RSA_BITS = 2048;
/** Hosts where a plain-http jwks_uri is accepted: the traffic never leaves the machine (development, tests). */
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);
const MAX_NAME = 200;
const MAX_SCOPE = 4096;

const clients = (schema: string) => sql`${ident(schema)}.auth_client`;

const toClient = (r: ClientRow): Client => ({
  clientId: r.client_id, name: r.name, type: r.type, redirectUris: r.redirect_uris ?? [], scope: r.scope,
  ...(r.jwks ? { jwks: r.jwks } : {}), ...(r.jwks_uri ? { jwksUri: r.jwks_uri } : {}),
  ...(r.launch_uri ? { launchUri: r.launch_uri } : {}), hasSecret: r.secret_hash !== null,
});

function httpUrl(value: unknown, field: string): URL {
  if (typeof value !== 'string' || value.trim() === '') throw badRequest(`${field} must be an absolute http(s) URL`, [field]);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw badRequest(`${field} '${value}' is not an absolute URL`, [field]);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw badRequest(`${field} '${value}' must use http or https`, [field]);
  if (value.includes('#')) throw badRequest(`${field} '${value}' must not have a fragment`, [field]);
  return url;
}

/** The URL exactly as given (it is compared character for character later), once checked. */
function urlText(value: unknown, field: string): string {
  httpUrl(value, field);
  return value as string;
}

function redirectUris(value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw badRequest('redirect_uris must be an array of absolute URLs', ['redirect_uris']);
  return [...new Set(value.map((uri) => urlText(uri, 'redirect_uris')))];
}

/** A JWKS of public RSA or P-384 EC keys that node:crypto can load, each with a kid; no private members. */
function jwks(value: unknown): Jwks {
  const keys = (value as { keys?: unknown } | null)?.keys;
  if (typeof value !== 'object' || value === null || !Array.isArray(keys) || keys.length === 0) {
    throw badRequest('jwks must be a JWK Set {"keys": [...]} with at least one key', ['jwks']);
  }
  const seen = new Set<string>();
  keys.forEach((key: unknown, i) => {
    const where = [`jwks.keys[${i}]`];
    if (typeof key !== 'object' || key === null || Array.isArray(key)) throw badRequest(`jwks.keys[${i}] must be a JWK object`, where);
    const k = key as Record<string, unknown>;
    if (typeof k.kid !== 'string' || k.kid === '') throw badRequest(`jwks.keys[${i}] needs a kid`, where);
    const secret = PRIVATE_MEMBERS.filter((m) => m in k);
    if (secret.length > 0) {
      throw badRequest(`jwks.keys[${i}] (kid ${k.kid}) holds private key material (${secret.join(', ')}): register public keys only`, where);
    }
    if (k.kty === 'RSA') {
      if (typeof k.n !== 'string' || typeof k.e !== 'string') throw badRequest(`jwks.keys[${i}] (kid ${k.kid}): an RSA key needs n and e`, where);
    } else if (k.kty === 'EC') {
      if (k.crv !== 'P-384' || typeof k.x !== 'string' || typeof k.y !== 'string') {
        throw badRequest(`jwks.keys[${i}] (kid ${k.kid}): an EC key needs crv "P-384" (ES384), x and y`, where);
      }
    } else {
      throw badRequest(`jwks.keys[${i}] (kid ${k.kid}): kty must be RSA or EC`, where);
    }
    const publicKey = publicKeyFromJwk(k);
    if (!publicKey) throw badRequest(`jwks.keys[${i}] (kid ${k.kid}) is not a usable ${k.kty} public key`, where);
    const bits = publicKey.asymmetricKeyDetails?.modulusLength;
    if (k.kty === 'RSA' && (bits ?? 0) < MIN_RSA_BITS) {
      throw badRequest(`jwks.keys[${i}] (kid ${k.kid}): RSA keys must have at least ${MIN_RSA_BITS} bits`, where);
    }
    // The token endpoint needs exactly one key per kid and key type (smart-app-launch.md §7.6).
    if (seen.has(`${k.kty}:${k.kid}`)) throw badRequest(`jwks has two ${k.kty} keys with kid ${k.kid}`, where);
    seen.add(`${k.kty}:${k.kid}`);
  });
  return { keys: keys as Record<string, unknown>[] };
}

/** https, or http on a loopback host only: the keys decide who may act as this client, so they travel over TLS. */
function jwksUri(value: unknown): string {
  const text = urlText(value, 'jwks_uri');
  const url = new URL(text);
  if (url.protocol !== 'https:' && !LOOPBACK.has(url.hostname)) {
    throw badRequest('jwks_uri must use https (http is accepted only for localhost, 127.0.0.1 and [::1])', ['jwks_uri']);
  }
  return text;
}

/** Backend services are pre-authorized with system/ scopes only (smart-app-launch.md §2.4, §12). */
function checkBackendScope(scope: string): void {
  const tokens = scope.split(/\s+/).filter((s) => s !== '');
  if (tokens.length === 0) throw badRequest('A backend client needs its pre-authorized system/ scopes in scope', ['scope']);
  const bad = tokens.filter((s) => !(s.startsWith('system/') && (CONTEXT_SCOPES.has(s) || parseRule(s, () => true))));
  if (bad.length > 0) throw badRequest(`A backend client may hold only system/ scopes; not allowed: ${bad.join(' ')}`, ['scope']);
}

interface NewClient {
  name: string; type: ClientType; redirectUris: string[]; scope: string; jwks?: Jwks; jwksUri?: string; launchUri?: string;
}

function parseNewClient(input: unknown): NewClient {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw badRequest('The client must be a JSON object {"name", "type", "redirect_uris", "scope", "jwks" | "jwks_uri"}');
  }
  const body = input as Record<string, unknown>;
  const unknown = Object.keys(body).filter((k) => !FIELDS.has(k));
  if (unknown.length > 0) throw badRequest(`Unknown client field(s): ${unknown.join(', ')} (known: ${[...FIELDS].join(', ')})`);
  const name = typeof body.name === 'string' ? body.name.trim() : '';
  if (name === '' || name.length > MAX_NAME) throw badRequest(`name must be a non-empty string of at most ${MAX_NAME} characters`, ['name']);
  const type = body.type as ClientType;
  if (!TYPES.includes(type)) throw badRequest(`type must be one of ${TYPES.join(', ')}`, ['type']);
  if (body.scope !== undefined && typeof body.scope !== 'string') throw badRequest('scope must be a space-separated string', ['scope']);
  const scope = (body.scope ?? '').trim();
  // RFC 6749 §3.3: scope tokens are printable ASCII without double quotes and backslashes, separated by spaces.
  if (scope.length > MAX_SCOPE || !/^[\x20-\x7e]*$/.test(scope) || /["\\]/.test(scope)) {
    throw badRequest(`scope must be space-separated printable ASCII tokens without " or \\, at most ${MAX_SCOPE} characters`, ['scope']);
  }
  if (body.jwks !== undefined && body.jwks_uri !== undefined) throw badRequest('Give either jwks or jwks_uri, not both', ['jwks']);
  return {
    name, type, redirectUris: redirectUris(body.redirect_uris), scope,
    ...(body.jwks !== undefined ? { jwks: jwks(body.jwks) } : {}),
    ...(body.jwks_uri !== undefined ? { jwksUri: jwksUri(body.jwks_uri) } : {}),
    ...(body.launch_uri !== undefined ? { launchUri: urlText(body.launch_uri, 'launch_uri') } : {}),
  };
}

/** The registration rules of each client type (issue #4 §6). */
function checkType(c: NewClient): void {
  const asymmetric = c.jwks !== undefined || c.jwksUri !== undefined;
  if (c.type === 'public') {
    if (asymmetric) throw badRequest('A public client has no credentials: leave out jwks and jwks_uri (or use type confidential)', ['jwks']);
  }
  if (c.type !== 'backend' && c.redirectUris.length === 0) {
    throw badRequest(`A ${c.type} client needs at least one redirect_uris entry`, ['redirect_uris']);
  }
  if (c.type === 'backend') {
    if (!asymmetric) throw badRequest('A backend client authenticates with private_key_jwt: give jwks or jwks_uri', ['jwks']);
    if (c.redirectUris.length > 0) throw badRequest('A backend client has no redirect_uris (it uses client_credentials)', ['redirect_uris']);
    checkBackendScope(c.scope);
  }
}

/**
 * Registers a client. A confidential client without keys gets a random secret, returned here once and stored only
 * as its SHA-256 hash (a 256-bit random secret needs no slow hash).
 */
export async function createClient(db: Queryable, schema: string, input: unknown): Promise<{ client: Client; clientSecret?: string }> {
  const c = parseNewClient(input);
  checkType(c);
  const clientSecret = c.type === 'confidential' && !c.jwks && !c.jwksUri ? newSecret() : undefined;
  const clientId = crypto.randomBytes(16).toString('base64url');
  const rows = await db.query<ClientRow>(sql`INSERT INTO ${clients(schema)}
      (client_id, name, type, secret_hash, redirect_uris, scope, jwks, jwks_uri, launch_uri)
    VALUES (${clientId}, ${c.name}, ${c.type}, ${clientSecret ? hashSecret(clientSecret) : null}, ${c.redirectUris}::text[],
      ${c.scope}, ${c.jwks ? JSON.stringify(c.jwks) : null}::jsonb, ${c.jwksUri ?? null}, ${c.launchUri ?? null})
    RETURNING client_id, name, type, secret_hash, redirect_uris, scope, jwks, jwks_uri, launch_uri`);
  const client = toClient(rows[0]!);
  return clientSecret ? { client, clientSecret } : { client };
}

const CLIENT_ID = /^[A-Za-z0-9_-]{1,128}$/;

export async function findClient(db: Queryable, schema: string, clientId: string): Promise<Client | undefined> {
  if (!CLIENT_ID.test(clientId)) return undefined;
  const rows = await db.query<ClientRow>(sql`SELECT client_id, name, type, secret_hash, redirect_uris, scope, jwks, jwks_uri, launch_uri
    FROM ${clients(schema)} WHERE client_id = ${clientId}`);
  return rows[0] && toClient(rows[0]);
}

/** True when secret is the client's secret (client_secret_basic); the hashes are compared in constant time. */
export async function checkClientSecret(db: Queryable, schema: string, clientId: string, secret: string): Promise<boolean> {
  const rows = CLIENT_ID.test(clientId)
    ? await db.query<{ secret_hash: string | null }>(sql`SELECT secret_hash FROM ${clients(schema)} WHERE client_id = ${clientId}`)
    : [];
  const given = Buffer.from(hashSecret(secret));
  const stored = rows[0]?.secret_hash;
  // An unknown client or one without a secret still costs one comparison.
  const expected = Buffer.from(stored ?? hashSecret(crypto.randomBytes(32).toString('hex')));
  return expected.length === given.length && crypto.timingSafeEqual(expected, given) && typeof stored === 'string';
}

export async function listClients(db: Queryable, schema: string): Promise<Client[]> {
  const rows = await db.query<ClientRow>(sql`SELECT client_id, name, type, secret_hash, redirect_uris, scope, jwks, jwks_uri, launch_uri
    FROM ${clients(schema)} ORDER BY created_at, client_id`);
  return rows.map(toClient);
}

/** Deletes a client and revokes its grants, so its access and refresh tokens stop working at once. */
export async function deleteClient(db: Queryable, schema: string, clientId: string): Promise<boolean> {
  if (!CLIENT_ID.test(clientId)) return false;
  const rows = await db.query(sql`DELETE FROM ${clients(schema)} WHERE client_id = ${clientId} RETURNING client_id`);
  if (rows.length === 0) return false;
  await db.query(sql`UPDATE ${ident(schema)}.auth_grant SET revoked_at = now(), refresh_hash = NULL
    WHERE client_id = ${clientId} AND revoked_at IS NULL`);
  authChanged(schema);
  return true;
}
