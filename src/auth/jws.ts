/**
 * Compact JWS (RFC 7515) for JWTs (RFC 7519): Hearth signs its own tokens with RS256 and verifies client assertions
 * signed with RS384 or ES384 (SMART client-confidential-asymmetric). `none` and HMAC are never accepted.
 * Parsing, signing and verifying are jose's (decodeProtectedHeader, decodeJwt, CompactSign, compactVerify); this file
 * fixes the algorithms and key types Hearth accepts and turns jose's errors into ours.
 */
import crypto from 'node:crypto';
import { CompactSign, compactVerify, decodeJwt as decodeClaims, decodeProtectedHeader } from 'jose';

export type JwsAlg = 'RS256' | 'RS384' | 'ES384';

export interface JwtHeader { alg: string; typ?: string; kid?: string; jku?: string }
export type JwtClaims = Record<string, unknown>;

export interface DecodedJwt { header: JwtHeader; claims: JwtClaims; token: string }

/** The key type each algorithm needs (a kid naming a key of another type never matches). */
export const KEY_TYPE: Record<JwsAlg, 'RSA' | 'EC'> = { RS256: 'RSA', RS384: 'RSA', ES384: 'EC' };

export class JwtError extends Error {
  override name = 'JwtError';
}

/** jose's parse of one part (a JSON object, else it throws), its errors made ours. */
function parsePart<T>(parse: () => unknown, what: string): T {
  try {
    return parse() as T;
  } catch {
    throw new JwtError(`The JWT ${what} is not a JSON object`);
  }
}

/** Splits and parses a compact JWS without verifying it. */
export function decodeJwt(token: string): DecodedJwt {
  const parts = token.split('.');
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]*$/.test(p))) throw new JwtError('Malformed JWT');
  return { header: parsePart<JwtHeader>(() => decodeProtectedHeader(token), 'header'),
    claims: parsePart<JwtClaims>(() => decodeClaims(token), 'claims'), token };
}

export function isJwsAlg(alg: unknown): alg is JwsAlg {
  return alg === 'RS256' || alg === 'RS384' || alg === 'ES384';
}

export async function signJwt(claims: JwtClaims, key: crypto.KeyObject, kid: string, alg: JwsAlg = 'RS256'): Promise<string> {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
    .setProtectedHeader({ alg, typ: 'JWT', kid }).sign(key);
}

/**
 * Tokens whose signature verified, with the key object and algorithm that verified them: the same bytes under the same
 * key verify again, so a bearer token sent on every request is checked once (jose's WebCrypto verify costs ~97 µs a
 * call on this machine, node:crypto's synchronous one 22 µs; a hit costs a Map lookup). Oldest first out.
 */
const VERIFIED = new Map<string, { key: crypto.KeyObject; alg: JwsAlg }>();
const VERIFIED_MAX = 10_000;

/**
 * True when the signature over the decoded token verifies with key under alg — only alg: jose is told the one
 * algorithm, so a header naming another (none, HS256 with the public key as secret) fails.
 */
export async function verifySignature(jwt: DecodedJwt, key: crypto.KeyObject, alg: JwsAlg): Promise<boolean> {
  if (key.type !== 'public' || key.asymmetricKeyType !== (KEY_TYPE[alg] === 'RSA' ? 'rsa' : 'ec')) return false;
  if (alg === 'ES384' && key.asymmetricKeyDetails?.namedCurve !== 'secp384r1') return false;
  const known = VERIFIED.get(jwt.token);
  if (known?.key === key && known.alg === alg) return true;
  try {
    await compactVerify(jwt.token, key, { algorithms: [alg] });
  } catch {
    return false;
  }
  if (VERIFIED.size >= VERIFIED_MAX) VERIFIED.delete(VERIFIED.keys().next().value!);
  VERIFIED.set(jwt.token, { key, alg });
  return true;
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
