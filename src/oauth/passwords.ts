/**
 * Password hashes for authorization-server users (ARCHITECTURE §7): scrypt (RFC 7914) over node:crypto with a random
 * salt, stored self-describing as `scrypt$N$r$p$salt$hash` (base64url) so the cost can be raised without a migration.
 */
import crypto from 'node:crypto';

/** Cost parameters for new hashes: N = 2^15, r = 8, p = 1 — 32 MiB and roughly 50–100 ms per hash. */
const COST = { N: 2 ** 15, r: 8, p: 1 };
const SALT_BYTES = 16;
const KEY_BYTES = 32;
/** Refuse stored parameters beyond this: a tampered row must not make one login allocate gigabytes. */
const MAX_N = 2 ** 20;

/** scrypt needs 128·N·r bytes; node's default cap (32 MiB) is exactly that for our cost, so leave headroom. */
const maxmem = (N: number, r: number) => 128 * N * r + 16 * 1024 * 1024;

function scrypt(password: string, salt: Buffer, N: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    crypto.scrypt(password.normalize('NFC'), salt, KEY_BYTES, { N, r, p, maxmem: maxmem(N, r) },
      (err, key) => (err ? reject(err) : resolve(key)));
  });
}

export async function hashPassword(password: string): Promise<string> {
  const salt = crypto.randomBytes(SALT_BYTES);
  const key = await scrypt(password, salt, COST.N, COST.r, COST.p);
  return ['scrypt', COST.N, COST.r, COST.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

/** True when password matches the stored hash; a malformed hash never matches. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  const valid = (n: number, max: number) => Number.isInteger(n) && n >= 1 && n <= max;
  if (!valid(N, MAX_N) || (N & (N - 1)) !== 0 || !valid(r, 32) || !valid(p, 16)) return false;
  const salt = Buffer.from(parts[4]!, 'base64url');
  const expected = Buffer.from(parts[5]!, 'base64url');
  if (salt.length === 0 || expected.length !== KEY_BYTES) return false;
  const actual = await scrypt(password, salt, N, r, p);
  return crypto.timingSafeEqual(actual, expected);
}
