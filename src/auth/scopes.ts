/**
 * SMART scopes, v1 and v2 — https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html
 * `(patient|user|system)/(Type|*).(cruds subset in order | read | write | *)[?query]`; smart-app-launch.md §8.
 */
import type { Params } from '../fhir/types.js';

export type Perm = 'c' | 'r' | 'u' | 'd' | 's';
export type ScopeLevel = 'patient' | 'user' | 'system';

export interface ScopeRule {
  level: ScopeLevel;
  /** A resource type or '*'. */
  type: string;
  perms: ReadonlySet<Perm>;
  /** v2 query restriction (`?category=…`), as search parameters. */
  query?: Params;
  /** The scope as requested (v1 scopes are echoed back as requested, §8.2). */
  text: string;
  /**
   * From a role with a relationship rule (roles.ts): only the patients the user is related to through these kinds
   * of relationship (relationships.ts).
   */
  related?: readonly string[];
  /** From a role that may break the glass: the user's open break-the-glass patients count as related (break-glass.ts). */
  glass?: true;
}

export interface ParsedScopes {
  /** Resource scopes. */
  rules: ScopeRule[];
  /** Everything else that is well-formed and known: launch, launch/patient, openid, fhirUser, offline_access … */
  other: string[];
  /** Unknown or malformed scopes: dropped from the grant, never a failure (project decision §8.1). */
  dropped: string[];
}

const ORDER: Perm[] = ['c', 'r', 'u', 'd', 's'];
const V1: Record<string, string> = { read: 'rs', write: 'cud', '*': 'cruds' };
const RULE = /^(patient|user|system)\/(\*|[A-Z][A-Za-z]+)\.([a-z*]+)(?:\?(.+))?$/;

/**
 * Removing data for good — Patient/$erase and $expunge (issue #17 §3): a scope of its own, beside a scope that may
 * delete every type; a user also needs a role whose ceiling lists `user/$erase`.
 */
export const ERASE_SCOPES = ['system/$erase', 'user/$erase'] as const;

/** Non-resource scopes this server understands. */
export const CONTEXT_SCOPES = new Set(['launch', 'launch/patient', 'launch/encounter', 'openid', 'fhirUser', 'profile',
  'offline_access', 'online_access', 'system/introspect', 'system/AuditEvent.client-reported', ...ERASE_SCOPES]);

/** `rs`, `cud` … in canonical order; undefined when out of order, repeated or unknown (`.dus`). */
function perms(text: string): Set<Perm> | undefined {
  const letters = V1[text] ?? text;
  let last = -1;
  const out = new Set<Perm>();
  for (const ch of letters) {
    const at = ORDER.indexOf(ch as Perm);
    if (at <= last) return undefined;
    last = at;
    out.add(ch as Perm);
  }
  return out.size > 0 ? out : undefined;
}

export function parseRule(text: string, isType: (t: string) => boolean): ScopeRule | undefined {
  const m = RULE.exec(text);
  if (!m) return undefined;
  const [, level, type, letters, query] = m as unknown as [string, ScopeLevel, string, string, string | undefined];
  if (type !== '*' && !isType(type)) return undefined;
  const p = perms(letters);
  if (!p) return undefined;
  if (query !== undefined && (V1[letters] !== undefined || type === '*')) return undefined; // v2 grammar only, one type
  const params = query !== undefined ? [...new URLSearchParams(query).entries()] : undefined;
  if (params && (params.length === 0 || params.some(([k, v]) => k === '' || v === ''))) return undefined;
  return { level, type, perms: p, ...(params ? { query: params } : {}), text };
}

export function parseScopes(scope: string, isType: (t: string) => boolean): ParsedScopes {
  const out: ParsedScopes = { rules: [], other: [], dropped: [] };
  for (const text of new Set(scope.split(/\s+/).filter((s) => s !== ''))) {
    const rule = parseRule(text, isType);
    if (rule) out.rules.push(rule);
    else if (CONTEXT_SCOPES.has(text) || /^launch\/[a-z]+(\?role=\S+)?$/.test(text)) out.other.push(text);
    else out.dropped.push(text);
  }
  return out;
}

/** The rules that allow perm on type (a rule for '*' covers every type). */
/** Types a wildcard scope does not reach: reading the audit trail needs its own scope (issue #6 §6). */
export const EXPLICIT_SCOPE_TYPES: ReadonlySet<string> = new Set(['AuditEvent']);

export const rulesFor = (rules: readonly ScopeRule[], type: string, perm: Perm): ScopeRule[] =>
  rules.filter((r) => (r.type === type || (r.type === '*' && !EXPLICIT_SCOPE_TYPES.has(type))) && r.perms.has(perm));

/** True when `inner` asks for nothing `outer` does not allow (refresh narrowing, backend pre-authorization). */
export function scopeCovers(outer: ParsedScopes, inner: ParsedScopes): boolean {
  const otherOk = inner.other.every((s) => outer.other.includes(s));
  const rulesOk = inner.rules.every((r) => [...r.perms].every((p) => outer.rules.some((o) => o.level === r.level
    && (o.type === '*' || o.type === r.type) && o.perms.has(p)
    && (o.query === undefined || JSON.stringify(o.query) === JSON.stringify(r.query)))));
  return otherOk && rulesOk;
}

const VERBS: Record<Perm, string> = { c: 'create', r: 'read', u: 'update', d: 'delete', s: 'search' };
const WHOSE: Record<ScopeLevel, string> = {
  patient: 'of the selected patient', user: 'you can access', system: 'on the whole server' };
const WORDS: Record<string, string> = {
  launch: 'Use the context the EHR opened this app with',
  'launch/patient': 'Know which patient you select',
  'launch/encounter': 'Know which encounter you select',
  openid: 'Confirm who you are',
  fhirUser: 'Know your FHIR user record (your Patient or Practitioner resource)',
  profile: 'Know your FHIR user record',
  offline_access: 'Keep access when you are not logged in (until you revoke it)',
  online_access: 'Keep access while you are logged in',
};

/** A scope in plain words for the consent screen. */
export function describeScope(text: string, isType: (t: string) => boolean): string {
  const rule = parseRule(text, isType);
  if (!rule) return WORDS[text] ?? text;
  const verbs = ORDER.filter((p) => rule.perms.has(p)).map((p) => VERBS[p]);
  const list = verbs.length > 1 ? `${verbs.slice(0, -1).join(', ')} and ${verbs.at(-1)}` : verbs[0]!;
  const what = rule.type === '*' ? 'all kinds of records' : `${rule.type} records`;
  const where = rule.query ? ` where ${rule.query.map(([k, v]) => `${k} is ${v}`).join(' and ')}` : '';
  return `${list[0]!.toUpperCase()}${list.slice(1)} ${what} ${WHOSE[rule.level]}${where}`;
}
