/** Content negotiation: JSON only — http://hl7.org/fhir/R4/http.html#mime-type, #parameters (_format) */
import type { FastifyRequest } from 'fastify';
import { invalidResource, notAcceptable, unsupportedMediaType } from '../errors.js';
import { type IsBase64, checkJsonLimits } from '../validation/limits.js';

export const FHIR_JSON = 'application/fhir+json; charset=utf-8';

/** Media types whose bodies we parse as JSON (application/json+fhir is the legacy DSTU2 name). */
export const JSON_BODY_TYPES = ['application/fhir+json', 'application/json+fhir', 'application/json-patch+json'];

const JSON_FORMATS = new Set(['json', 'application/json', 'application/fhir+json', 'application/json+fhir']);
const ACCEPTED = new Set(['application/fhir+json', 'application/json', 'application/json+fhir', '*/*', 'application/*']);

interface MediaRange { type: string; params: Map<string, string>; q: number }

function parseMediaRange(part: string): MediaRange {
  const [type = '', ...rest] = part.split(';').map((s) => s.trim());
  const params = new Map<string, string>();
  for (const p of rest) {
    const eq = p.indexOf('=');
    if (eq > 0) params.set(p.slice(0, eq).trim().toLowerCase(), p.slice(eq + 1).trim().replace(/^"|"$/g, ''));
  }
  const q = params.has('q') ? Number(params.get('q')) : 1;
  return { type: type.toLowerCase(), params, q: Number.isFinite(q) ? q : 0 };
}

const fhirVersionOk = (v: string | undefined) => v === undefined || v === '4.0' || v === '4.0.1';

/** Throws 406 unless the response can be FHIR JSON. _format overrides Accept. */
export function negotiate(accept: string | undefined, format: string | undefined): void {
  if (format !== undefined) {
    if (!JSON_FORMATS.has(format.trim().toLowerCase())) throw notAcceptable(`_format '${format}' is not supported; this server speaks JSON only`);
    return;
  }
  if (!accept || accept.trim() === '') return;
  const ranges = accept.split(',').map(parseMediaRange).filter((r) => r.q > 0);
  const ok = ranges.some((r) => ACCEPTED.has(r.type) && fhirVersionOk(r.params.get('fhirversion')));
  if (!ok) throw notAcceptable(`None of the accepted types (${accept.slice(0, 100)}) is supported; use application/fhir+json`);
}

/**
 * 415 for a fhirVersion other than 4.0 on the request body's Content-Type, and for a form body anywhere but POST
 * _search (curl -d sends one by default; it is not a resource).
 */
export function checkContentType(contentType: string | undefined, search = false): void {
  if (!contentType) return;
  const r = parseMediaRange(contentType);
  if (r.type === 'application/x-www-form-urlencoded' && !search) {
    throw unsupportedMediaType('A form body (application/x-www-form-urlencoded) is accepted only by POST _search; send application/fhir+json');
  }
  if (!fhirVersionOk(r.params.get('fhirversion'))) throw unsupportedMediaType(`fhirVersion ${r.params.get('fhirversion')} is not supported; this server is FHIR 4.0`);
}

/** A callback-style body parser, as Fastify's getDefaultJsonParser() returns. */
export type JsonParser = (req: FastifyRequest, body: string, done: (error: Error | null, value?: unknown) => void) => void;

/**
 * Fastify's safe JSON parser followed by the body limits of validation/limits.ts (depth, NUL, lone surrogates,
 * string size), so that every JSON body — a resource, a Bundle, a Parameters or a patch — is refused with a 400
 * naming the element before anything walks it recursively or sends it to PostgreSQL (issue #12 §6, §7, §9). An
 * empty body is no body (a DELETE that names a Content-Type): the interaction decides whether it needed one.
 */
export function limitedJsonParser(parse: JsonParser, isBase64: IsBase64): JsonParser {
  return (req, body, done) => (body.trim() === '' ? done(null, undefined) : parse(req, body, (error, value) => {
    if (error) return done(error);
    const issue = checkJsonLimits(value, isBase64);
    return issue ? done(invalidResource([issue])) : done(null, value);
  }));
}
