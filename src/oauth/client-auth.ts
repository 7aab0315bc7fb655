/**
 * OAuth client authentication at the token, introspection and revocation endpoints: public clients (client_id),
 * client_secret_basic / client_secret_post (RFC 6749 §2.3.1) and private_key_jwt (RFC 7523 §2.2, SMART
 * client-confidential-asymmetric) — https://hl7.org/fhir/smart-app-launch/client-confidential-asymmetric.html
 * Any failure is 401 invalid_client (smart-app-launch.md §7.7).
 */
import type { Queryable } from '../db/db.js';
import { type Client, checkClientSecret, findClient } from './clients.js';
import { rememberJti } from '../auth/grants.js';
import { type DecodedJwt, type JwsAlg, KEY_TYPE, decodeJwt, epochSeconds, publicKeyFromJwk, verifySignature } from '../auth/jws.js';

export const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** Assertion algorithms we accept (smart-app-launch.md §7.3): never none, HS* or RS256. */
export const ASSERTION_ALGS: readonly JwsAlg[] = ['RS384', 'ES384'];
/** exp may lie at most this far ahead (§7.4), plus the clock skew the request allows. */
const MAX_LIFETIME_S = 300;

/** Client JWKS documents fetched from a registered jwks_uri (§2.3). */
const FETCH_TIMEOUT_MS = 5000;
/** A kid missing from a cached JWKS triggers a refetch, but not more often than this (client key rotation). */
const REFETCH_INTERVAL_MS = 10_000;
const MAX_JWKS_BYTES = 256 * 1024;
const MAX_CACHE_S = 24 * 3600;

/** An RFC 6749 §5.2 error: rendered as `{error, error_description}` JSON, never as an OperationOutcome. */
export class OAuthError extends Error {
  override name = 'OAuthError';
  constructor(readonly status: number, readonly error: string, description: string,
    readonly headers: Record<string, string> = {}) {
    super(description);
  }
}

export const invalidRequest = (d: string) => new OAuthError(400, 'invalid_request', d);

/** The form parameters of an OAuth request; a repeated parameter is refused (RFC 6749 §3.2). */
export type Form = ReadonlyMap<string, string>;

export function toForm(body: unknown): Form {
  if (!Array.isArray(body)) throw invalidRequest('Send the parameters as application/x-www-form-urlencoded');
  const form = new Map<string, string>();
  for (const [k, v] of body as [string, string][]) {
    if (form.has(k)) throw invalidRequest(`The parameter '${k}' is repeated`);
    form.set(k, v);
  }
  return form;
}

export type ClientAuthMethod = 'none' | 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';
export interface AuthenticatedClient { client: Client; method: ClientAuthMethod }

/** Where and how a request reached an endpoint that authenticates clients. */
export interface ClientAuthRequest {
  db: Queryable;
  schema: string;
  now: Date;
  form: Form;
  authorization?: string;
  /** Accepted `aud` values of a client assertion: the token endpoint URL, exactly (§7.4). */
  audiences: readonly string[];
  /**
   * Seconds of clock skew allowed on every time claim of a client assertion (HEARTH_ASSERTION_CLOCK_SKEW_SECONDS):
   * clients sign exp = round(now) + 300, half a second or a clock a little ahead of ours (issue #22 §6).
   */
  clockSkewS: number;
  jwks: JwksFetcher;
}

const basicFailure = (d: string) => new OAuthError(401, 'invalid_client', d, { 'WWW-Authenticate': 'Basic realm="hearth"' });
const failure = (d: string) => new OAuthError(401, 'invalid_client', d);

/** RFC 6749 §2.3.1: client_id and secret are form-urlencoded before base64. */
function parseBasic(header: string): { id: string; secret: string } | undefined {
  const m = /^Basic\s+([A-Za-z0-9+/]+=*)\s*$/i.exec(header);
  if (!m) return undefined;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) return undefined;
  const decode = (s: string) => {
    try {
      return decodeURIComponent(s.replace(/\+/g, ' '));
    } catch {
      return s;
    }
  };
  return { id: decode(text.slice(0, colon)), secret: decode(text.slice(colon + 1)) };
}

const CLAIMED_ID = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * The client_id a request claims (form, Basic user name, or assertion issuer), before anything is verified: what the
 * AuditEvent of a refused request names. Never the secret or the assertion itself; undefined for anything malformed.
 */
export function claimedClientId(form: Form, authorization: string | undefined): string | undefined {
  let id = form.get('client_id');
  if (id === undefined && authorization !== undefined && /^Basic\s/i.test(authorization)) id = parseBasic(authorization)?.id;
  const assertion = form.get('client_assertion');
  if (id === undefined && assertion !== undefined) {
    try {
      const iss = decodeJwt(assertion).claims.iss;
      if (typeof iss === 'string') id = iss;
    } catch {
      // not a JWT: no claimed client
    }
  }
  return id !== undefined && CLAIMED_ID.test(id) ? id : undefined;
}

/**
 * The client the request authenticates as, by exactly one method. Throws OAuthError 401 invalid_client when the
 * credentials are wrong or missing; 400 invalid_request when several methods are mixed.
 */
export async function authenticateClient(r: ClientAuthRequest): Promise<AuthenticatedClient> {
  const basic = r.authorization !== undefined && /^Basic\s/i.test(r.authorization);
  const assertion = r.form.get('client_assertion');
  const postSecret = r.form.get('client_secret');
  if ([basic, assertion !== undefined, postSecret !== undefined].filter(Boolean).length > 1) {
    throw invalidRequest('Use exactly one client authentication method');
  }
  if (basic) return { client: await bySecretBasic(r), method: 'client_secret_basic' };
  if (assertion !== undefined) return { client: await byAssertion(r, assertion), method: 'private_key_jwt' };
  const clientId = r.form.get('client_id');
  if (clientId === undefined || clientId === '') throw failure('Client authentication is required');
  const client = await findClient(r.db, r.schema, clientId);
  if (postSecret !== undefined) {
    if (!client || !client.hasSecret || !(await checkClientSecret(r.db, r.schema, clientId, postSecret))) {
      throw failure('The client credentials are not valid');
    }
    return { client, method: 'client_secret_post' };
  }
  // Only public clients may identify themselves without proving it.
  if (!client || client.type !== 'public') throw failure('The client is unknown or must authenticate');
  return { client, method: 'none' };
}

async function bySecretBasic(r: ClientAuthRequest): Promise<Client> {
  const creds = parseBasic(r.authorization!);
  if (!creds) throw basicFailure('The Basic credentials are malformed');
  const formId = r.form.get('client_id');
  if (formId !== undefined && formId !== creds.id) throw basicFailure('client_id differs from the Basic credentials');
  const client = await findClient(r.db, r.schema, creds.id);
  if (!client || !client.hasSecret || !(await checkClientSecret(r.db, r.schema, creds.id, creds.secret))) {
    throw basicFailure('The client credentials are not valid');
  }
  return client;
}

const nonEmpty = (v: unknown): v is string => typeof v === 'string' && v !== '';

/** RFC 7523 §3 and smart-app-launch.md §7.3–7.6, in the order that spends no work on forgeries. */
async function byAssertion(r: ClientAuthRequest, assertion: string): Promise<Client> {
  if (r.form.get('client_assertion_type') !== JWT_BEARER) throw failure(`client_assertion_type must be ${JWT_BEARER}`);
  let jwt: DecodedJwt;
  try {
    jwt = decodeJwt(assertion);
  } catch {
    throw failure('The client assertion is not a JWT');
  }
  const { header, claims } = jwt;
  const alg = ASSERTION_ALGS.find((a) => a === header.alg);
  if (!alg) throw failure(`The client assertion must be signed with ${ASSERTION_ALGS.join(' or ')}`);
  if (!nonEmpty(header.kid)) throw failure('The client assertion header must name its key (kid)');
  if (typeof header.typ !== 'string' || header.typ.toUpperCase() !== 'JWT') throw failure('The client assertion typ must be JWT');
  const { iss, sub, aud, exp, jti, nbf, iat } = claims;
  if (!nonEmpty(iss) || iss !== sub) throw failure('The client assertion iss and sub must both be the client_id');
  const formId = r.form.get('client_id');
  if (formId !== undefined && formId !== iss) throw failure('client_id differs from the client assertion issuer');
  const audOk = (a: unknown) => typeof a === 'string' && r.audiences.includes(a);
  if (!(Array.isArray(aud) ? aud.some(audOk) : audOk(aud))) throw failure('The client assertion aud must be the token endpoint URL');
  const now = epochSeconds(r.now);
  const skew = r.clockSkewS;
  if (typeof exp !== 'number' || !Number.isFinite(exp)) throw failure('The client assertion needs a numeric exp');
  if (exp + skew <= now) throw failure('The client assertion has expired');
  if (exp > now + MAX_LIFETIME_S + skew) throw failure('The client assertion exp lies more than 5 minutes ahead');
  if (typeof nbf === 'number' && nbf - skew > now) throw failure('The client assertion is not valid yet (nbf)');
  if (typeof iat === 'number' && iat - skew > now) throw failure('The client assertion was issued in the future (iat)');
  if (!nonEmpty(jti) || jti.length > 255) throw failure('The client assertion needs a jti');
  const client = await findClient(r.db, r.schema, iss);
  if (!client || (client.type !== 'backend' && client.type !== 'confidential') || (!client.jwks && !client.jwksUri)) {
    throw failure('The client is unknown or has no registered keys');
  }
  const key = await selectKey(r, client, header.kid, header.jku, alg);
  if (!(await verifySignature(jwt, key, alg))) throw failure('The client assertion signature is not valid');
  // Recorded only once the signature holds, so that nobody else can burn a client's jti values (§7.5).
  // Remembered for as long as the assertion could still pass; a replay names the cause so that a client that reuses
  // one assertion learns it needs a fresh jti per token request (RFC 7523 §3 item 7, issue #22 §5).
  if (!(await rememberJti(r.db, r.schema, iss, jti, new Date((exp + skew) * 1000), r.now))) {
    throw failure('jti already used: sign a new client assertion with a fresh jti for every token request');
  }
  return client;
}

/** Exactly one registered key matching kid, of the key type alg needs (§7.6). */
async function selectKey(r: ClientAuthRequest, client: Client, kid: string, jku: string | undefined, alg: JwsAlg) {
  if (jku !== undefined && jku !== client.jwksUri) throw failure('The jku header is not the registered JWKS URL');
  let keys: Jwk[];
  if (client.jwks && jku === undefined) {
    keys = client.jwks.keys;
  } else {
    try {
      keys = await r.jwks.keysFor(client.jwksUri!, kid);
    } catch (e) {
      throw failure(`The client's JWKS could not be fetched: ${(e as Error).message}`);
    }
  }
  const matching = keys.filter((k) => k.kid === kid);
  if (matching.length !== 1) throw failure(matching.length === 0 ? 'No registered key has this kid' : 'Several registered keys share this kid');
  const jwk = matching[0]!;
  if (jwk.kty !== KEY_TYPE[alg] || (jwk.alg !== undefined && jwk.alg !== alg)
    || (jwk.use !== undefined && jwk.use !== 'sig')) {
    throw failure('The key named by kid does not fit the assertion algorithm');
  }
  const key = publicKeyFromJwk(jwk);
  if (!key) throw failure('The key named by kid is not a usable public key');
  return key;
}

export type Jwk = Record<string, unknown>;
interface CachedJwks { keys: Jwk[]; fetchedAt: number; expiresAt: number }

/** Seconds a response may be cached: its Cache-Control max-age less its Age, never longer (§2.3); 0 = do not cache. */
function cacheSeconds(cacheControl: string | null, age: string | null): number {
  const cc = (cacheControl ?? '').toLowerCase();
  if (/(^|[,\s])(no-store|no-cache)\b/.test(cc)) return 0;
  const m = /(^|[,\s])max-age\s*=\s*"?(\d+)/.exec(cc);
  if (!m) return 0;
  return Math.max(0, Math.min(MAX_CACHE_S, Number(m[2]) - (Number(age) || 0)));
}

/** jwks_uri must be https; plain http only to this machine (development and tests). */
function checkJwksUri(uri: string): URL {
  const url = new URL(uri);
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) throw new Error('the JWKS URL must use https');
  return url;
}

/**
 * Fetches and caches the JWKS of clients registered with a jwks_uri: 5 s timeout, cached as long as the response's
 * Cache-Control allows, one refetch for an unknown kid at most every 10 s, concurrent fetches of one URL shared.
 */
export class JwksFetcher {
  private readonly cache = new Map<string, CachedJwks>();
  private readonly pending = new Map<string, Promise<CachedJwks>>();

  constructor(private readonly now: () => Date) {}

  async keysFor(uri: string, kid: string): Promise<Jwk[]> {
    const at = this.now().getTime();
    const hit = this.cache.get(uri);
    if (hit && hit.expiresAt > at && (hit.keys.some((k) => k.kid === kid) || at - hit.fetchedAt < REFETCH_INTERVAL_MS)) {
      return hit.keys;
    }
    let pending = this.pending.get(uri);
    if (!pending) {
      pending = this.load(uri).finally(() => this.pending.delete(uri));
      this.pending.set(uri, pending);
    }
    return (await pending).keys;
  }

  private async load(uri: string): Promise<CachedJwks> {
    const res = await fetch(checkJwksUri(uri), { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), redirect: 'error',
      headers: { accept: 'application/jwk-set+json, application/json' } });
    if (res.status !== 200) throw new Error(`the JWKS URL answered ${res.status}`);
    const text = await res.text();
    if (text.length > MAX_JWKS_BYTES) throw new Error('the JWKS is too large');
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      throw new Error('the JWKS is not JSON');
    }
    const keys = (doc as { keys?: unknown } | null)?.keys;
    if (!Array.isArray(keys) || keys.some((k) => typeof k !== 'object' || k === null || Array.isArray(k))) {
      throw new Error('the JWKS has no keys array');
    }
    const fetchedAt = this.now().getTime();
    const entry = { keys: keys as Jwk[], fetchedAt,
      expiresAt: fetchedAt + cacheSeconds(res.headers.get('cache-control'), res.headers.get('age')) * 1000 };
    this.cache.set(uri, entry);
    return entry;
  }
}
