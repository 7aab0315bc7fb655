/**
 * Tenant profiles on every write (issue #15 §4): a resource that claims a tenant's StructureDefinition in
 * `meta.profile` must conform to it, and a StructureDefinition written as a profile must be usable (its base and the
 * definitions it names known, its constraints compilable); a profile without a snapshot gets one generated. Runs as
 * a write hook's `prepare`, so create, update, patch, conditional writes, Bundle entries and $import all pass here.
 */
import { type Issue, profileNotMet, valueSetInvalid } from '../errors.js';
import type { Definitions } from '../fhir/definitions.js';
import type { Resource } from '../fhir/types.js';
import type { Queryable } from '../db/db.js';
import { canonicalStore, forgetCanonicals } from '../storage/canonical.js';
import type { WriteHook } from '../storage/write.js';
import { Terminology, composeIssues } from '../terminology/terminology.js';
import { CORE_SD, ProfileValidator, checkStructureDefinition, generateSnapshot } from '../validation/profiles.js';

type Json = Record<string, unknown>;

export function profileValidator(defs: Definitions, db: Queryable, schema: string): ProfileValidator {
  const store = canonicalStore(db, schema);
  return new ProfileValidator(defs, store, new Terminology(store));
}

/** The profiles a resource claims that are not the base R4 definition of a type. */
export function claimedProfiles(resource: Json, defs: Definitions): string[] {
  const claimed = (resource.meta as Json | undefined)?.profile;
  if (!Array.isArray(claimed)) return [];
  return claimed.filter((u): u is string => typeof u === 'string'
    && !(u.startsWith(CORE_SD) && (defs.isResourceType(u.slice(CORE_SD.length)) || defs.coreElements(u.slice(CORE_SD.length)))));
}

const failed = (issues: Issue[]) => profileNotMet(issues.filter((i) => i.severity === 'error'));

const TERMINOLOGY = new Set(['CodeSystem', 'ValueSet', 'StructureDefinition']);

export function profileHook(defs: Definitions): WriteHook {
  const hook: WriteHook = async () => undefined;
  hook.prepare = async (tx, schema, type, resource) => {
    const content = resource as unknown as Json;
    if (TERMINOLOGY.has(type)) forgetCanonicals(tx);
    if (type === 'ValueSet') {
      const bad = composeIssues(content);
      if (bad.length > 0) {
        throw valueSetInvalid(bad.map((b): Issue => ({ severity: 'error', code: 'invalid', diagnostics: b.message, expression: [b.expression] })));
      }
    }
    if (type === 'StructureDefinition' && content.derivation === 'constraint') {
      const v = profileValidator(defs, tx, schema);
      const issues = await checkStructureDefinition(content, v);
      if (issues.length > 0) throw failed(issues);
      if (!content.snapshot) {
        const base = typeof content.baseDefinition === 'string' && !content.baseDefinition.startsWith(CORE_SD)
          ? await v.profile(content.baseDefinition) : undefined;
        const baseSd = base ? await canonicalStore(tx, schema).structureDefinition(base.url) : undefined;
        const baseSnapshot = (baseSd?.snapshot as Json | undefined)?.element as Json[] | undefined;
        return { ...resource, snapshot: { element: generateSnapshot(content, defs, baseSnapshot) } } as Resource;
      }
      return undefined;
    }
    const claimed = [...new Set([...claimedProfiles(content, defs), ...await canonicalStore(tx, schema).required(type)])];
    if (claimed.length === 0) return undefined;
    const v = profileValidator(defs, tx, schema);
    const issues: Issue[] = [];
    for (const url of claimed) issues.push(...await v.validate(content, url, { warnings: false }));
    if (issues.some((i) => i.severity === 'error')) throw failed(issues);
    return undefined;
  };
  return hook;
}
