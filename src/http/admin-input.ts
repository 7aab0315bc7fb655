/** The admin API's JSON bodies: an object with only the fields an action knows (400 naming the others). */
import { badRequest } from '../errors.js';

export type Body = Record<string, unknown>;

export function jsonObject(body: unknown): Body {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('The body must be a JSON object');
  return body as Body;
}

export function onlyFields(body: Body, known: string[]): void {
  const unknown = Object.keys(body).filter((k) => !known.includes(k));
  if (unknown.length > 0) throw badRequest(`Unknown field(s): ${unknown.join(', ')} (known: ${known.join(', ')})`);
}
