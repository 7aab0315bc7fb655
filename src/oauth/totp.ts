/**
 * TOTP second factor — RFC 6238 over HOTP (RFC 4226): HMAC-SHA1, 30-second steps, 6 digits, base32 secrets
 * (RFC 4648 §6, unpadded) as authenticator apps expect them (Key Uri Format: otpauth://totp/…).
 */
import crypto from 'node:crypto';

const STEP_SECONDS = 30;
const DIGITS = 6;
const SECRET_BYTES = 20;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

export function base32Encode(data: Buffer): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of data) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

/** Decodes base32, ignoring case, spaces and padding; undefined when a character is not in the alphabet. */
export function base32Decode(text: string): Buffer | undefined {
  const clean = text.replace(/[\s=]/g, '').toUpperCase();
  const bytes: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of clean) {
    const index = ALPHABET.indexOf(ch);
    if (index < 0) return undefined;
    value = ((value << 5) | index) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      bytes.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(bytes);
}

/** A new random 160-bit secret (RFC 4226 §4 recommends 160 bits), base32 encoded. */
export function generateTotpSecret(): string {
  return base32Encode(crypto.randomBytes(SECRET_BYTES));
}

/** HOTP (RFC 4226 §5.3): HMAC-SHA1 of the counter, dynamic truncation, DIGITS decimal digits. */
function hotp(key: Buffer, counter: number): string {
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const mac = crypto.createHmac('sha1', key).update(message).digest();
  const offset = mac[mac.length - 1]! & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** DIGITS).padStart(DIGITS, '0');
}

const stepAt = (at: Date): number => Math.floor(at.getTime() / 1000 / STEP_SECONDS);

export function totpCode(secret: string, at: Date): string {
  const key = base32Decode(secret);
  if (!key || key.length === 0) throw new Error('TOTP secret is not base32');
  return hotp(key, stepAt(at));
}

/** True when code is the code of the step at `at` or of the step before or after it (clock drift, RFC 6238 §5.2). */
export function verifyTotp(secret: string, code: string, at: Date): boolean {
  const key = base32Decode(secret);
  const given = code.replace(/\s/g, '');
  if (!key || key.length === 0 || !/^\d{6}$/.test(given)) return false;
  let ok = false;
  for (const drift of [-1, 0, 1]) {
    // Every candidate is compared, each in constant time, so the answer's timing does not tell which step matched.
    ok = crypto.timingSafeEqual(Buffer.from(hotp(key, stepAt(at) + drift)), Buffer.from(given)) || ok;
  }
  return ok;
}

/** The enrolment URI an authenticator app scans as a QR code (Google Authenticator Key Uri Format). */
export function otpauthUri(secret: string, account: string, issuer: string): string {
  const label = `${encodeURIComponent(issuer)}:${encodeURIComponent(account)}`;
  const query = new URLSearchParams({ secret, issuer, algorithm: 'SHA1', digits: String(DIGITS), period: String(STEP_SECONDS) });
  return `otpauth://totp/${label}?${query.toString().replace(/\+/g, '%20')}`;
}
