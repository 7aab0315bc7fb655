/**
 * A principal kept beyond its request (a Subscription's creator, issue #20 §4): what its token said, as JSON, and the
 * principal rebuilt from it when the server later acts for it. Roles' rules are kept as met at the time; related
 * patients are read again when it is revived (withRelationships), so a relationship that ended no longer reaches.
 */
import type { Definitions } from '../fhir/definitions.js';
import type { Principal } from './access.js';
import { parseRule, parseScopes } from './scopes.js';

export interface KeptPrincipal {
  clientId: string;
  subject: string;
  scope: string;
  grantId: string;
  patient?: string;
  encounter?: string;
  fhirUser?: string;
  roles?: string[];
  rules?: { text: string; related?: string[] }[];
  purposes?: string[];
}

export function keepPrincipal(p: Principal): KeptPrincipal {
  return {
    clientId: p.clientId, subject: p.subject, scope: p.scope, grantId: p.grantId,
    ...(p.patient ? { patient: p.patient } : {}), ...(p.encounter ? { encounter: p.encounter } : {}),
    ...(p.fhirUser ? { fhirUser: p.fhirUser } : {}),
    ...(p.roles ? { roles: [...p.roles], rules: p.rules.map((r) => ({ text: r.text, ...(r.related ? { related: [...r.related] } : {}) })) } : {}),
    ...(p.purposes ? { purposes: [...p.purposes] } : {}),
  };
}

/** Access rules as kept (a role's rules as met then), else those of the scope; also for a Bulk export job's principal. */
export function reviveRules(defs: Definitions, scope: string, kept?: { text: string; related?: string[] }[]): Principal['rules'] {
  const isType = (t: string) => defs.isResourceType(t);
  return kept
    ? kept.flatMap((r) => { const rule = parseRule(r.text, isType); return rule ? [r.related ? { ...rule, related: r.related } : rule] : []; })
    : parseScopes(scope, isType).rules;
}

export function revivePrincipal(defs: Definitions, k: KeptPrincipal): Principal {
  const rules = reviveRules(defs, k.scope, k.rules);
  return { clientId: k.clientId, subject: k.subject, scope: k.scope, grantId: k.grantId, rules,
    ...(k.patient ? { patient: k.patient } : {}), ...(k.encounter ? { encounter: k.encounter } : {}),
    ...(k.fhirUser ? { fhirUser: k.fhirUser } : {}), ...(k.roles ? { roles: k.roles } : {}),
    ...(k.purposes ? { purposes: k.purposes } : {}) };
}
