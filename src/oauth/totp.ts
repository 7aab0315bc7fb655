/**
 * TOTP second factor — RFC 6238 over HOTP (RFC 4226): HMAC-SHA1, 30-second steps, 6 digits, base32 secrets
 * (RFC 4648 §6, unpadded) as authenticator apps expect them (Key Uri Format: otpauth://totp/…). The codes, their
 * check and the base32 coding are otpauth's; this file fixes the parameters and what input is accepted.
 */
import { Secret, TOTP } from 'otpauth';

const STEP_SECONDS = 30;
const DIGITS = 6;
const SECRET_BYTES = 20;
/** Steps either side of the current one a code may come from (clock drift, RFC 6238 §5.2). */
const WINDOW = 1;
const PARAMETERS = { algorithm: 'SHA1', digits: DIGITS, period: STEP_SECONDS } as const;

export function base32Encode(data: Buffer): string {
  return new Secret({ buffer: Uint8Array.from(data).buffer }).base32;
}

/** Decodes base32, ignoring case, spaces and padding; undefined when a character is not in the alphabet. */
export function base32Decode(text: string): Buffer | undefined {
  const key = secretOf(text);
  return key && Buffer.from(key.bytes);
}

/** The secret a base32 text encodes (whitespace and '=' anywhere are ignored); undefined when it is not base32. */
function secretOf(text: string): Secret | undefined {
  try {
    return Secret.fromBase32(text.replace(/[\s=]/g, ''));
  } catch {
    return undefined;
  }
}

/** A new random 160-bit secret (RFC 4226 §4 recommends 160 bits), base32 encoded. */
export function generateTotpSecret(): string {
  return new Secret({ size: SECRET_BYTES }).base32;
}

export function totpCode(secret: string, at: Date): string {
  const key = secretOf(secret);
  if (!key || key.bytes.length === 0) throw new Error('TOTP secret is not base32');
  return TOTP.generate({ secret: key, ...PARAMETERS, timestamp: at.getTime() });
}

/** True when code is the code of the step at `at` or of the step before or after it. */
export function verifyTotp(secret: string, code: string, at: Date): boolean {
  const key = secretOf(secret);
  const token = code.replace(/\s/g, '');
  if (!key || key.bytes.length === 0 || !/^\d{6}$/.test(token)) return false;
  return TOTP.validate({ token, secret: key, ...PARAMETERS, timestamp: at.getTime(), window: WINDOW }) !== null;
}

/**
 * The enrolment URI an authenticator app scans as a QR code (Google Authenticator Key Uri Format). Ours, not
 * otpauth's TOTP.toString(): that one puts issuer before secret, and test/auth/users.test.ts pins this order.
 */
export function otpauthUri(secret: string, account: string, issuer: string): string {
  const label = `${encodeURIComponent(issuer)}:${encodeURIComponent(account)}`;
  const query = new URLSearchParams({ secret, issuer, algorithm: PARAMETERS.algorithm, digits: String(DIGITS),
    period: String(STEP_SECONDS) });
  return `otpauth://totp/${label}?${query.toString().replace(/\+/g, '%20')}`;
}
