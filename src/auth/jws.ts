/**
 * Compact JWS (RFC 7515) for JWTs (RFC 7519) over node:crypto: Hearth signs its own tokens with RS256 and verifies
 * client assertions signed with RS384 or ES384 (SMART client-confidential-asymmetric). `none` and HMAC are never
 * accepted.
 */
import crypto from 'node:crypto';

export type JwsAlg = 'RS256' | 'RS384' | 'ES384';

export interface JwtHeader { alg: string; typ?: string; kid?: string; jku?: string }
export type JwtClaims = Record<string, unknown>;

export interface DecodedJwt { header: JwtHeader; claims: JwtClaims; signingInput: string; signature: Buffer }

const HASH: Record<JwsAlg, string> = { RS256: 'sha256', RS384: 'sha384', ES384: 'sha384' };
/** The key type each algorithm needs (a kid naming a key of another type never matches). */
export const KEY_TYPE: Record<JwsAlg, 'RSA' | 'EC'> = { RS256: 'RSA', RS384: 'RSA', ES384: 'EC' };

export class JwtError extends Error {
  override name = 'JwtError';
}

const b64url = (data: Buffer | string): string => Buffer.from(data).toString('base64url');

function parsePart<T>(part: string, what: string): T {
  try {
    const value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as unknown;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error();
    return value as T;
  } catch {
    throw new JwtError(`The JWT ${what} is not a JSON object`);
  }
}

/** Splits and parses a compact JWS without verifying it. */
export function decodeJwt(token: string): DecodedJwt {
  const parts = token.split('.');
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]*$/.test(p))) throw new JwtError('Malformed JWT');
  const [h, c, s] = parts as [string, string, string];
  return { header: parsePart<JwtHeader>(h, 'header'), claims: parsePart<JwtClaims>(c, 'claims'),
    signingInput: `${h}.${c}`, signature: Buffer.from(s, 'base64url') };
}

export function isJwsAlg(alg: unknown): alg is JwsAlg {
  return alg === 'RS256' || alg === 'RS384' || alg === 'ES384';
}

export function signJwt(claims: JwtClaims, key: crypto.KeyObject, kid: string, alg: JwsAlg = 'RS256'): string {
  const input = `${b64url(JSON.stringify({ alg, typ: 'JWT', kid }))}.${b64url(JSON.stringify(claims))}`;
  const signature = crypto.sign(HASH[alg], Buffer.from(input), alg === 'ES384' ? { key, dsaEncoding: 'ieee-p1363' } : key);
  return `${input}.${b64url(signature)}`;
}

/** True when the signature over the decoded token verifies with key under alg. */
export function verifySignature(jwt: DecodedJwt, key: crypto.KeyObject, alg: JwsAlg): boolean {
  if (key.type !== 'public' || key.asymmetricKeyType !== (KEY_TYPE[alg] === 'RSA' ? 'rsa' : 'ec')) return false;
  if (alg === 'ES384' && key.asymmetricKeyDetails?.namedCurve !== 'secp384r1') return false;
  try {
    return crypto.verify(HASH[alg], Buffer.from(jwt.signingInput), alg === 'ES384' ? { key, dsaEncoding: 'ieee-p1363' } : key,
      jwt.signature);
  } catch {
    return false;
  }
}

/** A public key from a JWK; undefined when the JWK is not a usable RSA or EC public key. */
export function publicKeyFromJwk(jwk: Record<string, unknown>): crypto.KeyObject | undefined {
  try {
    const { kty, n, e, crv, x, y } = jwk;
    const clean = kty === 'RSA' ? { kty, n, e } : kty === 'EC' ? { kty, crv, x, y } : undefined;
    if (!clean) return undefined;
    return crypto.createPublicKey({ key: clean as crypto.JsonWebKey, format: 'jwk' });
  } catch {
    return undefined;
  }
}

/** Seconds since the epoch. */
export const epochSeconds = (at: Date): number => Math.floor(at.getTime() / 1000);
