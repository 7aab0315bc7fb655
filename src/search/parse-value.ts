/** Parsing one search value by parameter type — http://hl7.org/fhir/R4/search.html#ptypes, #prefix */
import { badRequest } from '../errors.js';
import { parseDateRange } from '../fhir/datetime.js';
import { isValidId } from '../fhir/types.js';
import type { DateValue, NumberValue, Prefix, QuantityValue, ReferenceValue, StringValue, TokenValue, UriValue } from './ast.js';
import { splitUnescaped, unescape } from './escape.js';

const PREFIX = /^(eq|ne|gt|lt|ge|le|sa|eb|ap)(?=[-+.\d])/;
const NUMBER = /^[-+]?(\d+(?:\.(\d*))?|\.(\d+))(?:[eE]([-+]?\d+))?$/;
const DATE = /^\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;
const LOCAL_REF = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/([A-Za-z0-9\-.]{1,64}))?$/;

function splitPrefix(raw: string): { prefix: Prefix; rest: string } {
  const m = PREFIX.exec(raw);
  return m ? { prefix: m[1] as Prefix, rest: raw.slice(2) } : { prefix: 'eq', rest: raw };
}

/** `[prefix]yyyy[-mm[-dd[Thh:mm[:ss[.sss]][zone]]]]`; zoneless values are UTC (project decision, §3.2.6). */
export function parseDateValue(raw: string, name: string): DateValue {
  const { prefix, rest } = splitPrefix(raw);
  // An unencoded '+' in a query string arrives as a space: `T10:00 01:00` means `T10:00+01:00`.
  const text = unescape(rest).replace(/ (\d{2}:\d{2})$/, '+$1');
  if (!DATE.test(text)) throw badRequest(`'${raw}' is not a valid date for '${name}'`, [name]);
  const { lo, hi } = parseDateRange(text, name);
  if (Number.isNaN(lo.getTime()) || Number.isNaN(hi.getTime())) throw badRequest(`'${raw}' is not a valid date`, [name]);
  return { kind: 'date', prefix, lo, hi };
}

/**
 * `[prefix]number`; half is half the unit of its last significant digit: 100 → 0.5, 100.00 → 0.005. In exponent
 * form the spec's example `1e2` → [95, 105) counts one more digit: half = 0.5 × 10^(exponent − decimals − 1).
 */
export function parseNumber(raw: string, name: string): { prefix: Prefix; value: string; half: string } {
  const { prefix, rest } = splitPrefix(raw);
  const m = NUMBER.exec(rest);
  if (!m) throw badRequest(`'${raw}' is not a valid number for '${name}'`, [name]);
  const decimals = (m[2] ?? m[3] ?? '').length;
  const exponent = m[4] === undefined ? undefined : Number(m[4]);
  if (exponent !== undefined && Math.abs(exponent) > 1000) throw badRequest(`'${raw}' is out of range`, [name]);
  const scale = exponent === undefined ? -decimals : exponent - decimals - 1;
  return { prefix, value: rest, half: `5e${scale - 1}` };
}

export function parseNumberValue(raw: string, name: string): NumberValue {
  return { kind: 'number', ...parseNumber(unescape(raw), name) };
}

/** `[prefix]number[|system|code]`; `n||code` matches code or unit in any system (search.html#quantity). */
export function parseQuantityValue(raw: string, name: string): QuantityValue {
  const parts = splitUnescaped(raw, '|').map(unescape);
  if (parts.length !== 1 && parts.length !== 3) {
    throw badRequest(`'${raw}' is not a quantity (number|system|code) for '${name}'`, [name]);
  }
  const q: QuantityValue = { kind: 'quantity', ...parseNumber(parts[0]!, name) };
  const [, system, code] = parts;
  if (code) q.code = code;
  if (system) q.system = system;
  else if (code) q.system = null;
  return q;
}

/** `code`, `system|code`, `|code`, `system|`; bareOnly params (boolean, uri, ContactPoint, id) refuse a '|'. */
export function parseTokenValue(raw: string, name: string, bareOnly: boolean): TokenValue {
  const parts = splitUnescaped(raw, '|');
  if (parts.length > 2) throw badRequest(`'${raw}' has more than one unescaped '|' for '${name}'`, [name]);
  if (parts.length === 2 && bareOnly) throw badRequest(`'${name}' takes a plain code, without a system`, [name]);
  if (parts.length === 1) return { kind: 'token', code: unescape(raw) };
  const [system, code] = parts.map(unescape) as [string, string];
  if (system === '' && code === '') throw badRequest(`'${name}' needs a system or a code`, [name]);
  return { kind: 'token', system: system === '' ? null : system, ...(code !== '' ? { code } : {}) };
}

/** :of-type — `typeSystem|typeCode|value`, all three required (search.html#token). */
export function parseOfTypeValue(raw: string, name: string): TokenValue {
  const parts = splitUnescaped(raw, '|').map(unescape);
  if (parts.length !== 3 || parts.some((p) => p === '')) {
    throw badRequest(`'${name}:of-type' needs typeSystem|typeCode|value`, [name]);
  }
  const [typeSystem, typeCode, code] = parts as [string, string, string];
  return { kind: 'token', typeSystem, typeCode, code };
}

export function parseStringValue(raw: string): StringValue {
  return { kind: 'string', text: unescape(raw) };
}

/** `url[|version]` (canonicals and uris). */
export function parseUriValue(raw: string): UriValue {
  const parts = splitUnescaped(raw, '|').map(unescape);
  const uri = parts.length === 2 ? parts[0]! : unescape(raw);
  return { kind: 'uri', uri, ...(parts.length === 2 && parts[1] ? { version: parts[1] } : {}) };
}

/**
 * `[id]`, `[type]/[id]` (a /_history/n suffix is ignored), an absolute URL (ours → local), or `url|version`.
 * typeModifier comes from `param:[type]`.
 */
export function parseReferenceValue(raw: string, name: string, base: string, typeModifier?: string): ReferenceValue {
  let text = unescape(raw);
  if (text.startsWith(`${base}/`)) text = text.slice(base.length + 1);
  const local = LOCAL_REF.exec(text);
  if (local) {
    if (typeModifier && typeModifier !== local[1]) {
      throw badRequest(`'${name}:${typeModifier}' cannot match a reference to ${local[1]}`, [name]);
    }
    return { kind: 'reference', type: local[1]!, id: local[2]! };
  }
  if (isValidId(text)) return { kind: 'reference', id: text, ...(typeModifier ? { type: typeModifier } : {}) };
  if (typeModifier) throw badRequest(`'${name}:${typeModifier}' needs an id`, [name]);
  const parts = splitUnescaped(raw, '|').map(unescape);
  if (parts.length === 2 && parts[1]) return { kind: 'reference', url: parts[0]!, version: parts[1] };
  return { kind: 'reference', url: text };
}
