/**
 * The scope check every interaction passes before it touches data (smart-app-launch.md §8.3, §9.4): the route's
 * interaction → the permission letter it needs on its type. Narrowing to a compartment or a query constraint is
 * applied later, by the handlers, through the same Access.
 */
import { insufficientScope } from '../errors.js';
import type { InteractionCode, Route } from '../fhir/route.js';
import type { Access } from './access.js';
import type { Perm } from './scopes.js';

const PERM: Partial<Record<InteractionCode, Perm>> = {
  read: 'r', vread: 'r', 'history-instance': 'r',
  'search-type': 's', 'history-type': 's',
  create: 'c',
  update: 'u', patch: 'u', 'conditional-update': 'u', 'conditional-patch': 'u',
  delete: 'd', 'conditional-delete': 'd',
};

/** Server administration ($reindex, $job-status): a user/ or system/ scope that may update every type. */
function requireAdministration(access: Access): void {
  const ok = access.principal.rules.some((r) => r.level !== 'patient' && r.type === '*' && r.perms.has('u') && !r.query && !r.related);
  if (!ok) throw insufficientScope('system/*.u');
}

/**
 * $erase and $expunge remove data for good: the token's own erase scope (Principal.erase: for a user, one of their
 * roles lists it too) and a user/ or system/ scope that may delete every type, unconfined.
 */
function requireErasure(access: Access): void {
  const ok = access.principal.erase === true
    && access.principal.rules.some((r) => r.level !== 'patient' && r.type === '*' && r.perms.has('d') && !r.query && !r.related);
  if (!ok) throw insufficientScope('system/$erase (or user/$erase with a role that lists it) and system/*.d');
}

/** Bulk `$import` writes any resource of any type as the client sends it: system/*.cu without a query (issue #14 §3). */
function requireImport(access: Access): void {
  const ok = access.principal.rules.some((r) => r.level !== 'patient' && r.type === '*' && r.perms.has('c') && r.perms.has('u') && !r.query && !r.related);
  if (!ok) throw insufficientScope('system/*.cu');
}

/**
 * Bulk Data (bulk-data.md §1.5, §8.5): patient/ tokens are refused (project decision); otherwise some search scope is
 * needed here, and the export itself checks every exported type.
 */
function requireBulk(access: Access): void {
  if (access.patientBound || access.principal.rules.every((r) => r.level === 'patient')) {
    throw insufficientScope('system/[Type].rs or user/[Type].rs (patient/ scopes cannot export)');
  }
  if (!access.allowsAnyType('s')) throw insufficientScope('system/[Type].rs');
}

/**
 * $validate writes nothing but tells what a write would meet: an instance needs read access to it (its stored content
 * is validated), a resource sent to [type]/$validate the right to create or update that type.
 */
function requireValidate(access: Access, r: Route): void {
  if (r.id) return access.require(r.type!, 'r');
  if (!access.allows(r.type!, 'c') && !access.allows(r.type!, 'u')) throw insufficientScope(`${r.type}.c or ${r.type}.u`);
}

const TERMINOLOGY_OPERATIONS = new Set(['expand', 'validate-code', 'lookup', 'subsumes', 'translate']);

export function checkRoute(access: Access, r: Route): void {
  const perm = PERM[r.code];
  if (perm) return access.require(r.type!, perm);
  switch (r.code) {
    case 'search-system': case 'history-system':
      if (!access.allowsAnyType('s')) throw insufficientScope('a search scope such as system/*.s');
      return;
    case 'search-compartment':
      access.require('Patient', 'r');
      if (r.target !== '*') access.require(r.target!, 's');
      else if (!access.allowsAnyType('s')) throw insufficientScope('a search scope such as patient/*.s');
      return;
    case 'operation':
      if (r.operation === 'everything') { access.require('Patient', 'r'); access.require('Patient', 's'); return; }
      if (r.operation === 'reindex' || r.operation === 'job-status') return requireAdministration(access);
      if (r.operation === 'export') return requireBulk(access);
      if (r.operation === 'import') return requireImport(access);
      if (r.operation === 'erase' || r.operation === 'expunge') return requireErasure(access);
      if (r.operation === 'validate') return requireValidate(access, r);
      // Terminology operations read the CodeSystem, ValueSet or ConceptMap they are invoked on (issue #15 §6).
      if (TERMINOLOGY_OPERATIONS.has(r.operation!) && r.type) return access.require(r.type, 'r');
      return;
    default:
      return; // capabilities (public), batch and transaction (each entry is checked as it is dispatched)
  }
}
