/**
 * Roles as access policies (issue #16 §1; README "Access model"). A role is a row of the tenant's auth_role table: a
 * ceiling of SMART v2 `user/` scopes, query restrictions included, and an optional relationship rule. What a user's
 * token may do is the intersection of what the app was granted and what one of the user's roles allows, worked out
 * on every request from the grant lookup (grant-cache.ts), so that a role change applies to the next request.
 */
import { type Perm, type ScopeRule, EXPLICIT_SCOPE_TYPES, parseRule } from './scopes.js';

/** The kinds of relationship a role may confine its holders to (relationships.ts says what each one reads). */
export const RELATIONSHIPS = ['care-team', 'encounter', 'appointment', 'episode-of-care', 'general-practitioner',
  'organization'] as const;
export type Relationship = typeof RELATIONSHIPS[number];

/** What the resource server needs of a role. */
export interface RoleCeiling {
  name: string;
  scopes: string;
  /** null: every patient of the tenant. */
  relationship: string[] | null;
  breakGlass: boolean;
  /** The purposes of use (v3 ActReason codes) its holders act under, which Consent provisions may name. */
  purpose?: string[];
}

const ORDER: Perm[] = ['c', 'r', 'u', 'd', 's'];

/** The rules of a role's ceiling; scopes it cannot parse grant nothing (they are refused when the role is written). */
export function ceilingRules(role: RoleCeiling, isType: (t: string) => boolean): ScopeRule[] {
  const related = role.relationship === null ? undefined : [...new Set(role.relationship)].sort();
  return role.scopes.split(/\s+/).filter((s) => s !== '').flatMap((text) => {
    const rule = parseRule(text, isType);
    return rule ? [related ? { ...rule, related, ...(role.breakGlass ? { glass: true as const } : {}) } : rule] : [];
  });
}

/** The type both rules cover, or undefined ('*' never reaches the types that need their own scope, e.g. AuditEvent). */
function commonType(a: string, b: string): string | undefined {
  if (a === b) return a;
  if (a === '*') return EXPLICIT_SCOPE_TYPES.has(b) ? undefined : b;
  if (b === '*') return EXPLICIT_SCOPE_TYPES.has(a) ? undefined : a;
  return undefined;
}

/**
 * What both an app's rule and a role's rule allow: the common type, the common permissions, both query restrictions
 * (ANDed, as search parameters are), the app's level (a patient/ scope stays confined to its patient) and the role's
 * relationship rule. undefined when they share nothing.
 */
function meet(app: ScopeRule, role: ScopeRule): ScopeRule | undefined {
  const type = commonType(app.type, role.type);
  if (!type) return undefined;
  const perms = new Set(ORDER.filter((p) => app.perms.has(p) && role.perms.has(p)));
  if (perms.size === 0) return undefined;
  const query = [...app.query ?? [], ...role.query ?? []];
  const level = app.level === 'patient' ? 'patient' : 'user';
  const text = `${level}/${type}.${[...perms].join('')}${query.length > 0 ? `?${new URLSearchParams(query)}` : ''}`;
  return { level, type, perms, text, ...(query.length > 0 ? { query } : {}),
    ...(role.related ? { related: role.related } : {}), ...(role.glass ? { glass: true as const } : {}) };
}

/**
 * The rules a user's token acts under: each app rule met with each rule of the user's roles. A system/ app rule
 * becomes a user/ one (a user's token is never wider than the user: a patient user stays in their own record).
 */
export function intersectRules(app: readonly ScopeRule[], roles: readonly RoleCeiling[], isType: (t: string) => boolean): ScopeRule[] {
  const ceiling = roles.flatMap((r) => ceilingRules(r, isType));
  const out: ScopeRule[] = [];
  for (const a of app) for (const r of ceiling) {
    const m = meet(a, r);
    if (m) out.push(m);
  }
  return out;
}
