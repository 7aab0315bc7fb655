/** ETag and version headers — http://hl7.org/fhir/R4/http.html#versioning */
import { badRequest } from '../errors.js';

export const etag = (versionId: number): string => `W/"${versionId}"`;

/** Accepts W/"3" and "3" (and bare 3, as some clients send) → 3; anything else → 400. */
export function parseVersionTag(value: string, header: string): number {
  const m = /^\s*(?:W\/)?"?(\d{1,9})"?\s*$/.exec(value);
  if (!m) throw badRequest(`Malformed ${header} value; expected W/"<versionId>"`);
  return Number(m[1]);
}

/** RFC 7231 HTTP-date, which has second precision. */
export const httpDate = (d: Date): string => d.toUTCString();

/** Parses an HTTP-date (or ISO instant) header; malformed → 400. */
export function parseHttpDate(value: string, header: string): Date {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw badRequest(`Malformed ${header} date`);
  return new Date(ms);
}
