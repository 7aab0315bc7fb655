/**
 * Token signing keys in the control schema (ARCHITECTURE §7): RSA-2048 RS256 keys, the newest active one signs,
 * every key not yet past its grace period is published at the JWKS endpoint. Private keys are encrypted at rest with
 * AES-256-GCM when HEARTH_KEY_SECRET is set.
 */
import crypto from 'node:crypto';
import type { Queryable } from '../db/db.js';
import { CONTROL_SCHEMA } from '../db/migrate.js';
import { ident, sql } from '../db/sql.js';

export interface SigningKey { kid: string; key: crypto.KeyObject }
export interface PublicJwk { kty: string; kid: string; alg: string; use: 'sig'; n: string; e: string }

interface KeyRow { kid: string; public_jwk: PublicJwk; private_key: string; created_at: Date; retired_at: Date | null }

/** Retired keys stay published this long: longer than any token they signed can live (access 1 h, id 1 h). */
export const RETIRED_KEY_GRACE_MS = 24 * 3600 * 1000;
const ENC_PREFIX = 'aes-256-gcm:';

function secretKey(secret: string): Buffer {
  return crypto.createHash('sha256').update(`hearth-signing-key:${secret}`).digest();
}

export function sealPrivateKey(pem: string, secret: string | undefined): string {
  if (!secret) return pem;
  const iv = crypto.randomBytes(12);
  const cipher = crypto.createCipheriv('aes-256-gcm', secretKey(secret), iv);
  const data = Buffer.concat([cipher.update(pem, 'utf8'), cipher.final()]);
  return `${ENC_PREFIX}${iv.toString('base64url')}:${cipher.getAuthTag().toString('base64url')}:${data.toString('base64url')}`;
}

export function openPrivateKey(stored: string, secret: string | undefined): string {
  if (!stored.startsWith(ENC_PREFIX)) return stored;
  if (!secret) throw new Error('The signing keys are encrypted: set HEARTH_KEY_SECRET to the value they were created with');
  const [iv, tag, data] = stored.slice(ENC_PREFIX.length).split(':') as [string, string, string];
  const decipher = crypto.createDecipheriv('aes-256-gcm', secretKey(secret), Buffer.from(iv, 'base64url'));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  try {
    return Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString('utf8');
  } catch {
    throw new Error('HEARTH_KEY_SECRET does not decrypt the signing keys');
  }
}

const table = sql`${ident(CONTROL_SCHEMA)}.signing_key`;

/** Loads keys lazily and caches them; a kid it has not seen makes it look again (another node rotated). */
export class KeyStore {
  private signing?: SigningKey;
  private published = new Map<string, { jwk: PublicJwk; key: crypto.KeyObject }>();
  private loaded = false;
  private loadedAt = 0;

  constructor(private readonly db: Queryable, private readonly secret: string | undefined,
    private readonly now: () => Date = () => new Date()) {}

  private async load(): Promise<void> {
    const cutoff = new Date(this.now().getTime() - RETIRED_KEY_GRACE_MS);
    const rows = await this.db.query<KeyRow>(sql`SELECT kid, public_jwk, private_key, created_at, retired_at FROM ${table}
      WHERE retired_at IS NULL OR retired_at > ${cutoff} ORDER BY created_at DESC, kid`);
    this.published = new Map(rows.map((r) => [r.kid, { jwk: r.public_jwk, key: crypto.createPublicKey({ key: r.public_jwk as unknown as crypto.JsonWebKey, format: 'jwk' }) }]));
    const active = rows.find((r) => r.retired_at === null);
    this.signing = active && { kid: active.kid, key: crypto.createPrivateKey(openPrivateKey(active.private_key, this.secret)) };
    this.loaded = true;
    this.loadedAt = Date.now();
  }

  /** The key that signs new tokens; the first call on an empty table creates one. */
  async signingKey(): Promise<SigningKey> {
    if (!this.loaded) await this.load();
    if (!this.signing) {
      await this.rotate();
    }
    return this.signing!;
  }

  /** Creates a new signing key and retires the previous ones (still published for the grace period). */
  async rotate(): Promise<string> {
    const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const kid = crypto.randomBytes(12).toString('base64url');
    const { n, e } = publicKey.export({ format: 'jwk' });
    const jwk: PublicJwk = { kty: 'RSA', kid, alg: 'RS256', use: 'sig', n: n!, e: e! };
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const at = this.now();
    await this.db.query(sql`UPDATE ${table} SET retired_at = ${at} WHERE retired_at IS NULL`);
    await this.db.query(sql`INSERT INTO ${table} (kid, alg, public_jwk, private_key, created_at)
      VALUES (${kid}, 'RS256', ${JSON.stringify(jwk)}::jsonb, ${sealPrivateKey(pem, this.secret)}, ${at})`);
    await this.load();
    return kid;
  }

  /** The public key for a kid from a token header, reloading once when it is not known here. */
  async publicKey(kid: string): Promise<crypto.KeyObject | undefined> {
    // An unknown kid reloads at most once a second (a key rotated on another node, or a forged header).
    if (!this.loaded || (!this.published.has(kid) && Date.now() - this.loadedAt > 1000)) await this.load();
    return this.published.get(kid)?.key;
  }

  async jwks(): Promise<{ keys: PublicJwk[] }> {
    await this.signingKey();
    await this.load();
    return { keys: [...this.published.values()].map((p) => p.jwk) };
  }
}
