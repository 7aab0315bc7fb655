/**
 * The form and target type of literal references (issue #15 §2), checked without the database: a Reference.reference
 * is a relative `Type/id` (optionally `/_history/version`) whose type the element's targetProfiles allow, an absolute
 * URL (other servers, `urn:uuid:` — not checked further), or `#id` naming a contained resource (ref-1) —
 * http://hl7.org/fhir/R4/references.html#literal
 */
import type { Issue } from '../errors.js';
import type { Definitions } from '../fhir/definitions.js';

const RELATIVE = /^([A-Za-z][A-Za-z0-9]*)\/[A-Za-z0-9\-.]{1,64}(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;
const ABSOLUTE = /^[A-Za-z][A-Za-z0-9+.-]*:/;

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

const issue = (diagnostics: string, expression: string): Issue => ({ severity: 'error', code: 'value', diagnostics, expression: [expression] });

function checkOne(defs: Definitions, ref: string, targets: ReadonlySet<string> | undefined, contained: ReadonlySet<string>,
  element: string, expression: string): Issue | undefined {
  if (ref.startsWith('#')) {
    return ref === '#' || contained.has(ref.slice(1)) ? undefined
      : issue(`The local reference '${ref}' names no contained resource (ref-1)`, expression);
  }
  if (ABSOLUTE.test(ref)) return undefined;
  const m = RELATIVE.exec(ref);
  if (!m) {
    return issue(`'${ref}' is not a reference: expected Type/id, Type/id/_history/version, an absolute URL or #id`, expression);
  }
  const type = m[1]!;
  if (!defs.isResourceType(type)) return issue(`'${ref}' names the unknown resource type '${type}'`, expression);
  if (targets && !targets.has(type)) {
    return issue(`${element} may reference ${[...targets].sort().join(', ')}, not ${type}`, expression);
  }
  return undefined;
}

interface Walk { defs: Definitions; type: string; contained: ReadonlySet<string>; issues: Issue[] }

function visit(w: Walk, node: Json, path: string, expression: string): void {
  for (const key in node) {
    const value = node[key];
    if (typeof value !== 'object' || value === null || key === 'contained') continue;
    const name = key.startsWith('_') ? key.slice(1) : key;
    const childPath = `${path}.${name}`;
    const items = Array.isArray(value) ? value : [value];
    items.forEach((item, i) => {
      if (!isObject(item)) return;
      const at = `${expression}.${name}${Array.isArray(value) ? `[${i}]` : ''}`;
      if (typeof item.resourceType === 'string') { walkResource(w.defs, item, at, w.issues); return; }
      if (typeof item.reference === 'string' && w.defs.elementTypes(w.type, childPath)?.includes('Reference')) {
        const found = checkOne(w.defs, item.reference, w.defs.referenceTargets(w.type, childPath), w.contained, childPath, `${at}.reference`);
        if (found) w.issues.push(found);
      }
      visit(w, item, childPath, at);
    });
  }
}

/** A resource and its contained ones (which share its contained ids), and resources nested in it (Bundle entries). */
function walkResource(defs: Definitions, resource: Json, expression: string, issues: Issue[], containedIds?: ReadonlySet<string>): void {
  const type = String(resource.resourceType);
  if (!defs.isResourceType(type)) return;
  const contained = Array.isArray(resource.contained) ? resource.contained.filter(isObject) : [];
  const ids = containedIds ?? new Set(contained.map((c) => c.id).filter((id): id is string => typeof id === 'string'));
  visit({ defs, type, contained: ids, issues }, resource, type, expression);
  contained.forEach((c, i) => walkResource(defs, c, `${expression}.contained[${i}]`, issues, ids));
}

/** Issues for malformed literal references and references to a type their element does not allow. */
export function checkReferences(defs: Definitions, resource: Json, issues: Issue[]): void {
  walkResource(defs, resource, String(resource.resourceType), issues);
}
