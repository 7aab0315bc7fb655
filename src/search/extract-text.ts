/** Index values of string, token, uri and reference parameters — http://hl7.org/fhir/R4/search.html#token */
import type { Found } from './extract-path.js';
import type { ReferenceRow, StringRow, TokenRow, UriRow } from './extract-types.js';
import { normalizeText } from './normalize.js';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v : [v]).filter((s): s is string => typeof s === 'string' && s !== '');

const STRING_PRIMITIVES = new Set(['string', 'markdown', 'code', 'id', 'uri', 'url', 'canonical', 'oid', 'uuid',
  'System.String']);

/** One string value; name parts also get a row per later word ("Carreno Quinones" → "quinones"), fhir-search §3.3.4. */
function pushString(value: string, param: string, words: boolean, out: StringRow[]): void {
  const norm = normalizeText(value);
  if (norm === '') return;
  out.push({ param, norm, exact: value, word: false });
  if (!words) return;
  for (let i = norm.indexOf(' '); i >= 0; i = norm.indexOf(' ', i + 1)) {
    out.push({ param, norm: norm.slice(i + 1), exact: value, word: true });
  }
}

/** search.html#string: HumanName and Address by their parts, string/markdown as is; other types have no value. */
export function stringRows(f: Found, param: string, out: StringRow[]): void {
  const v = f.value;
  if (typeof v === 'string') {
    if (f.type === undefined || STRING_PRIMITIVES.has(f.type)) pushString(v, param, f.parent === 'HumanName', out);
    return;
  }
  if (!isObject(v)) return;
  if (f.type === 'HumanName') {
    for (const s of [...strings(v.family), ...strings(v.given), ...strings(v.prefix), ...strings(v.suffix), ...strings(v.text)]) {
      pushString(s, param, true, out);
    }
  } else if (f.type === 'Address') {
    for (const key of ['line', 'city', 'district', 'state', 'postalCode', 'country', 'text']) {
      for (const s of strings(v[key])) pushString(s, param, false, out);
    }
  }
}

function tokenRow(param: string, system: string | null, code: string | null, display: string | null): TokenRow {
  return { param, system, code, code_ci: code === null ? null : code.toLowerCase(), display, type_system: null, type_code: null };
}

const normalized = (v: unknown): string | null => {
  const s = str(v);
  return s === null ? null : normalizeText(s) || null;
};

function codingRow(c: unknown, param: string, out: TokenRow[]): string | null {
  if (!isObject(c)) return null;
  const system = str(c.system), code = str(c.code), display = normalized(c.display);
  if (system !== null || code !== null || display !== null) out.push(tokenRow(param, system, code, display));
  return display;
}

/** Each coding; CodeableConcept.text adds a text-only row unless a coding's display already says the same. */
function codeableConceptRows(v: Json, param: string, out: TokenRow[]): void {
  const displays = (Array.isArray(v.coding) ? v.coding : []).map((c) => codingRow(c, param, out));
  const text = normalized(v.text);
  if (text !== null && !displays.includes(text)) out.push(tokenRow(param, null, null, text));
}

/** system|value, type.text for :text, and one row per Identifier.type coding for :of-type. */
export function identifierRows(v: Json, param: string, out: TokenRow[]): void {
  const system = str(v.system), value = str(v.value);
  if (system === null && value === null) return;
  const row = tokenRow(param, system, value, isObject(v.type) ? normalized(v.type.text) : null);
  const types = isObject(v.type) && Array.isArray(v.type.coding) ? v.type.coding.filter(isObject) : [];
  if (types.length === 0) out.push(row);
  for (const t of types) out.push({ ...row, type_system: str(t.system), type_code: str(t.code) });
}

/** search.html#token — Coding, CodeableConcept, Identifier, ContactPoint (value only) and primitives. */
export function tokenRows(f: Found, param: string, out: TokenRow[]): void {
  const v = f.value;
  if (typeof v === 'boolean') { out.push(tokenRow(param, null, String(v), null)); return; }
  if (typeof v === 'string') {
    if (v !== '' && (f.type === undefined || STRING_PRIMITIVES.has(f.type))) out.push(tokenRow(param, null, v, null));
    return;
  }
  if (!isObject(v)) return;
  switch (f.type) {
    case 'Coding': codingRow(v, param, out); return;
    case 'CodeableConcept': codeableConceptRows(v, param, out); return;
    case 'Identifier': identifierRows(v, param, out); return;
    // search.html#token: ContactPoint matches on value; its system (phone, email …) is not a token system.
    case 'ContactPoint': if (str(v.value) !== null) out.push(tokenRow(param, null, str(v.value), null)); return;
  }
}

/** search.html#uri — canonical `url|version` splits into uri and version; other URIs are stored as they are. */
export function uriRows(f: Found, param: string, out: UriRow[]): void {
  const v = f.value;
  if (typeof v !== 'string' || v === '' || (f.type !== undefined && !STRING_PRIMITIVES.has(f.type))) return;
  const bar = f.type === 'canonical' ? v.indexOf('|') : -1;
  out.push(bar < 0 ? { param, uri: v, version: null } : { param, uri: v.slice(0, bar), version: v.slice(bar + 1) || null });
}

const URI_TYPES = new Set(['canonical', 'uri', 'url', 'oid', 'uuid']);
const RELATIVE = /^([A-Z][A-Za-z]{1,63})\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/([A-Za-z0-9\-.]{1,64}))?$/;
const ABSOLUTE = /\/([A-Z][A-Za-z]{1,63})\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/([A-Za-z0-9\-.]{1,64}))?$/;
const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;

function referenceRow(param: string, literal: string): ReferenceRow | undefined {
  const local = RELATIVE.exec(literal);
  if (local) return { param, ref_type: local[1]!, ref_id: local[2]!, ref_version: local[3] ?? null, url: null };
  if (!SCHEME.test(literal)) return undefined; // contained '#id', conditional 'Type?…' and other non-references
  const m = ABSOLUTE.exec(literal);
  return { param, ref_type: m?.[1] ?? null, ref_id: m?.[2] ?? null, ref_version: m?.[3] ?? null, url: literal };
}

/**
 * search.html#reference — Reference.reference (relative, versioned or absolute); canonical `url|version` into
 * url + ref_version; uri targets into url. Reference.identifier goes to `identifiers` (token rows, `code:identifier`).
 */
export function referenceRows(f: Found, param: string, out: ReferenceRow[], identifiers: TokenRow[]): void {
  const v = f.value;
  if (typeof v === 'string') {
    if (v === '' || (f.type !== undefined && !URI_TYPES.has(f.type))) return;
    const bar = f.type === 'canonical' ? v.indexOf('|') : -1;
    if (bar < 0) out.push({ param, ref_type: null, ref_id: null, ref_version: null, url: v });
    else out.push({ param, ref_type: null, ref_id: null, ref_version: v.slice(bar + 1) || null, url: v.slice(0, bar) });
    return;
  }
  if (!isObject(v) || f.type !== 'Reference') return;
  const row = typeof v.reference === 'string' ? referenceRow(param, v.reference) : undefined;
  if (row) out.push(row);
  if (isObject(v.identifier)) identifierRows(v.identifier, `${param}:identifier`, identifiers);
}
