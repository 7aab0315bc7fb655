/** Index values of date, number and quantity parameters as ranges — http://hl7.org/fhir/R4/search.html#date, #number, #quantity */
import type { Found } from './extract-path.js';
import type { DateRow, NumberRow, QuantityRow } from './extract-types.js';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

const DATE_TIME = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;
const FIRST_MS = new Date(0).setUTCFullYear(1, 0, 1);
const LAST_MS = new Date(0).setUTCFullYear(9999, 11, 31) + 86_399_999;

/** PostgreSQL timestamptz text; beyond years 1–9999 the range is open. */
const instantText = (ms: number): string => (ms > LAST_MS ? 'infinity' : ms < FIRST_MS ? '-infinity' : new Date(ms).toISOString());

function endOf(lo: number, m: RegExpExecArray, point: boolean): number {
  const [, , mo, d, h, , s, frac] = m;
  const end = new Date(lo);
  if (point || frac) end.setUTCMilliseconds(end.getUTCMilliseconds() + 1);
  else if (s) end.setUTCSeconds(end.getUTCSeconds() + 1);
  else if (h) end.setUTCMinutes(end.getUTCMinutes() + 1);
  else if (d) end.setUTCDate(end.getUTCDate() + 1);
  else if (mo) end.setUTCMonth(end.getUTCMonth() + 1);
  else end.setUTCFullYear(end.getUTCFullYear() + 1);
  return end.getTime();
}

/**
 * [lo, hi) of a date/dateTime/instant by its precision: a year, month, day, minute, second or millisecond.
 * A time without zone is taken as UTC (fhir-search §3.2.6, server default zone); `point` (instants) → [t, t+1 ms).
 */
export function dateRange(text: string, point = false): { lo: number; hi: number } | undefined {
  const m = DATE_TIME.exec(text);
  if (!m) return undefined;
  const [, y, mo = '01', d = '01', h = '0', mi = '0', s = '0', frac = '', tz] = m;
  if (+mo < 1 || +mo > 12 || +d < 1 || +d > 31 || +h > 23 || +mi > 59 || +s > 60) return undefined;
  const offset = !tz || tz === 'Z' ? 0 : (tz[0] === '-' ? -1 : 1) * (Number(tz.slice(1, 3)) * 60 + Number(tz.slice(4, 6)));
  const start = new Date(0);
  start.setUTCFullYear(+y!, +mo - 1, +d);
  start.setUTCHours(+h, +mi, +s, +frac.padEnd(3, '0').slice(0, 3));
  const lo = start.getTime() - offset * 60_000;
  return { lo, hi: endOf(lo, m, point) };
}

const DATE_TYPES = new Set(['date', 'dateTime', 'instant', 'System.DateTime', 'string']);

function periodRange(v: Json): { lo: number; hi: number } | undefined {
  const start = str(v.start), end = str(v.end);
  if (start === null && end === null) return undefined;
  const lo = start === null ? -Infinity : dateRange(start)?.lo;
  const hi = end === null ? Infinity : dateRange(end)?.hi;
  return lo === undefined || hi === undefined ? undefined : { lo, hi };
}

/** Outer bounds of Timing.event[] and Timing.repeat.boundsPeriod. */
function timingRange(v: Json): { lo: number; hi: number } | undefined {
  const ranges = (Array.isArray(v.event) ? v.event : []).map((e) => (typeof e === 'string' ? dateRange(e) : undefined));
  const bounds = isObject(v.repeat) && isObject(v.repeat.boundsPeriod) ? periodRange(v.repeat.boundsPeriod) : undefined;
  const all = [...ranges, bounds].filter((r) => r !== undefined);
  if (all.length === 0) return undefined;
  return { lo: Math.min(...all.map((r) => r.lo)), hi: Math.max(...all.map((r) => r.hi)) };
}

/** search.html#date — date, dateTime, instant, Period (open ends infinite) and Timing. */
export function dateRows(f: Found, param: string, out: DateRow[]): void {
  const v = f.value;
  let range: { lo: number; hi: number } | undefined;
  if (typeof v === 'string') range = f.type === undefined || DATE_TYPES.has(f.type) ? dateRange(v, f.type === 'instant') : undefined;
  else if (isObject(v) && f.type === 'Period') range = periodRange(v);
  else if (isObject(v) && f.type === 'Timing') range = timingRange(v);
  if (range) out.push({ param, lo: instantText(range.lo), hi: instantText(range.hi) });
}

/** Digits × 10^-scale as a plain decimal string. */
function formatScaled(digits: bigint, scale: number): string {
  if (scale <= 0) return (digits * 10n ** BigInt(-scale)).toString();
  const negative = digits < 0n;
  const text = (negative ? -digits : digits).toString().padStart(scale + 1, '0');
  return `${negative ? '-' : ''}${text.slice(0, -scale)}.${text.slice(-scale)}`;
}

/**
 * A decimal and the range its last written digit implies: 100 → [99.5, 100.5], 1.25 → [1.245, 1.255]
 * (fhir-search §3.1.1). JSON numbers lose trailing zeros, so a stored 1.50 has the precision of 1.5.
 */
export function decimalRange(n: number): { value: string; lo: string; hi: string } | undefined {
  if (!Number.isFinite(n)) return undefined;
  const [mantissa, exp = '0'] = String(n).split('e') as [string, string?];
  const scale = (mantissa.split('.')[1] ?? '').length - Number(exp);
  const digits = BigInt(mantissa.replace('.', ''));
  return { value: formatScaled(digits, scale), lo: formatScaled(digits * 10n - 5n, scale + 1), hi: formatScaled(digits * 10n + 5n, scale + 1) };
}

const INTEGER_TYPES = new Set(['integer', 'positiveInt', 'unsignedInt', 'integer64', 'System.Integer']);

function numberOf(v: unknown, type: string | undefined): { value: string; lo: string; hi: string } | undefined {
  if (typeof v !== 'number') return undefined;
  if (type !== undefined && INTEGER_TYPES.has(type) && Number.isInteger(v)) return { value: String(v), lo: String(v), hi: String(v) };
  return decimalRange(v);
}

/** A Range: value = low (else high); [lo, hi] = [low, high], an open side infinite. */
function rangeOf(v: Json): { value: string; lo: string; hi: string; unit?: Json } | undefined {
  const low = isObject(v.low) && typeof v.low.value === 'number' ? v.low : undefined;
  const high = isObject(v.high) && typeof v.high.value === 'number' ? v.high : undefined;
  if (!low && !high) return undefined;
  const value = String((low ?? high)!.value);
  return { value, lo: low ? String(low.value) : '-Infinity', hi: high ? String(high.value) : 'Infinity', unit: (low ?? high)! };
}

/** search.html#number — integers exactly, decimals with their precision range, Range by its bounds. */
export function numberRows(f: Found, param: string, out: NumberRow[]): void {
  const n = isObject(f.value) && f.type === 'Range' ? rangeOf(f.value) : numberOf(f.value, f.type);
  if (n) out.push({ param, value: n.value, lo: n.lo, hi: n.hi });
}

const QUANTITY_TYPES = new Set(['Quantity', 'Age', 'Count', 'Distance', 'Duration', 'SimpleQuantity', 'MoneyQuantity']);

/** search.html#quantity — Quantity and its kinds, Money (currency as an ISO 4217 code) and Range. */
export function quantityRows(f: Found, param: string, out: QuantityRow[]): void {
  const v = f.value;
  if (!isObject(v) || f.type === undefined) return;
  if (f.type === 'Range') {
    const r = rangeOf(v);
    if (r) out.push({ param, system: str(r.unit!.system), code: str(r.unit!.code), unit: str(r.unit!.unit), value: r.value, lo: r.lo, hi: r.hi });
    return;
  }
  const n = typeof v.value === 'number' ? decimalRange(v.value) : undefined;
  if (!n) return;
  if (f.type === 'Money') {
    const currency = str(v.currency);
    out.push({ param, system: currency && 'urn:iso:std:iso:4217', code: currency, unit: null, ...n });
  } else if (QUANTITY_TYPES.has(f.type)) {
    out.push({ param, system: str(v.system), code: str(v.code), unit: str(v.unit), ...n });
  }
}
