/** FHIR date, dateTime and instant values as time ranges — http://hl7.org/fhir/R4/datatypes.html#dateTime */
import { badRequest } from '../errors.js';

export interface DateRange {
  /** Inclusive start. */
  lo: Date;
  /** Exclusive end: the instant after the value's precision ends. */
  hi: Date;
}

const DATE_TIME = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/** A FHIR date/dateTime/instant → the range it denotes; times without zone are taken as UTC. */
export function parseDateRange(value: string, name: string): DateRange {
  const m = DATE_TIME.exec(value.trim());
  if (!m) throw badRequest(`'${name}' must be a FHIR date or dateTime`);
  const [, y, mo, d, h, mi, s, frac, tz] = m;
  const year = Number(y); const month = mo ? Number(mo) - 1 : 0; const day = d ? Number(d) : 1;
  if (month > 11 || day < 1 || day > 31 || Number(h ?? 0) > 23 || Number(mi ?? 0) > 59 || Number(s ?? 0) > 60) {
    throw badRequest(`'${name}' is not a valid date`);
  }
  const offsetMin = !tz || tz === 'Z' ? 0 : (tz[0] === '-' ? -1 : 1) * (Number(tz.slice(1, 3)) * 60 + Number(tz.slice(4, 6)));
  const ms = frac ? Math.floor(Number(`0${frac}`) * 1000) : 0;
  const lo = Date.UTC(year, month, day, Number(h ?? 0), Number(mi ?? 0), Number(s ?? 0), ms) - offsetMin * 60000;
  const hi = new Date(lo);
  if (!mo) hi.setUTCFullYear(year + 1);
  else if (!d) hi.setUTCMonth(month + 1);
  else if (!h) hi.setUTCDate(day + 1);
  else if (!s) hi.setUTCMinutes(hi.getUTCMinutes() + 1);
  else if (!frac) hi.setUTCSeconds(hi.getUTCSeconds() + 1);
  else hi.setUTCMilliseconds(hi.getUTCMilliseconds() + 1);
  return { lo: new Date(lo), hi };
}

/** An instant with a time zone (e.g. _since); anything less precise or zoneless → 400. */
export function parseInstant(value: string, name: string): Date {
  if (!/T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(value.trim())) {
    throw badRequest(`'${name}' must be an instant with a time zone, e.g. 2024-01-01T00:00:00Z`);
  }
  return parseDateRange(value, name).lo;
}
