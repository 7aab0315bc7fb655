/**
 * Validation against a tenant's profiles (issue #15 §4) — http://hl7.org/fhir/R4/profiling.html: StructureDefinitions
 * that constrain a resource or data type, read from their differential (or snapshot): cardinality, choice types,
 * fixed[x] and pattern[x], required bindings (extensible and preferred as warnings), reference target profiles,
 * FHIRPath constraints, slicing with value, pattern, exists, type and profile discriminators (open, closed,
 * openAtEnd), extensions by URL against their own definitions, and the base profile when it is the tenant's too.
 */
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4/index.js';
import type { Issue } from '../errors.js';
import type { Definitions } from '../fhir/definitions.js';
import type { Terminology } from '../terminology/terminology.js';

type Json = Record<string, unknown>;

/** Where a tenant's StructureDefinitions come from (by canonical url, optionally `|version`). */
export interface ProfileSource { structureDefinition(url: string): Promise<Json | undefined> }

export const CORE_SD = 'http://hl7.org/fhir/StructureDefinition/';

/** One element of a profile, with its children by JSON name and its slices by name. */
interface Node { def: Json; children: Map<string, Node>; slices: Map<string, Node> }

interface Profile { url: string; type: string; base?: string; root: Node }

const asArray = <T>(v: unknown): T[] => (Array.isArray(v) ? v as T[] : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const newNode = (): Node => ({ def: {}, children: new Map(), slices: new Map() });
const SILENT = { traceFn: () => undefined };

/** Element ids split into steps: `Patient.identifier:mrn.system` → Patient, identifier:mrn, system (slice names without dots). */
const steps = (id: string): string[] => id.split('.');

/** The element id of a differential element (older definitions give only path and sliceName). */
function elementId(e: Json): string | undefined {
  const id = str(e.id);
  if (id) return id;
  const path = str(e.path);
  return path && str(e.sliceName) ? `${path}:${str(e.sliceName)}` : path;
}

/** The elements a profile states: its differential, else its snapshot. */
export function profileElements(sd: Json): Json[] {
  const diff = asArray<Json>((sd.differential as Json | undefined)?.element);
  return diff.length > 0 ? diff : asArray<Json>((sd.snapshot as Json | undefined)?.element);
}

/** The tree of a profile's elements; a type slice `value[x]:valueQuantity` becomes the JSON name valueQuantity. */
export function buildTree(sd: Json): Node {
  const type = String(sd.type);
  const root = newNode();
  for (const e of profileElements(sd)) {
    const id = elementId(e);
    if (!id) continue;
    const [first, ...rest] = steps(id);
    if (first !== type) continue;
    let node = root;
    for (const step of rest) {
      const [name, slice] = step.split(':') as [string, string | undefined];
      if (slice !== undefined && name.endsWith('[x]') && slice.startsWith(name.slice(0, -3))) {
        // A type slice names its JSON element outright.
        if (!node.children.has(slice)) node.children.set(slice, newNode());
        node = node.children.get(slice)!;
        continue;
      }
      if (!node.children.has(name)) node.children.set(name, newNode());
      node = node.children.get(name)!;
      if (slice !== undefined) {
        if (!node.slices.has(slice)) node.slices.set(slice, newNode());
        node = node.slices.get(slice)!;
      }
    }
    node.def = { ...node.def, ...e };
  }
  return root;
}

/** The values of a child element in JSON: `name`, or each `name<Type>` of a choice `name[x]`. */
interface Item { key: string; value: unknown; index: number; many: boolean }

function valuesOf(obj: Json, name: string): Item[] {
  const keys = name.endsWith('[x]')
    ? Object.keys(obj).filter((k) => k.startsWith(name.slice(0, -3)) && /[A-Z]/.test(k[name.length - 3] ?? ''))
    : obj[name] !== undefined ? [name] : [];
  return keys.flatMap((key): Item[] => {
    const v = obj[key];
    return Array.isArray(v) ? v.map((value, index) => ({ key, value, index, many: true })) : [{ key, value: v, index: 0, many: false }];
  });
}

/** Pattern semantics: every element the pattern has, the value has too (arrays: each pattern item matches some item). */
export function matchesPattern(value: unknown, pattern: unknown): boolean {
  if (Array.isArray(pattern)) {
    const items = Array.isArray(value) ? value : [value];
    return pattern.every((p) => items.some((v) => matchesPattern(v, p)));
  }
  if (isObject(pattern)) {
    if (!isObject(value)) return false;
    return Object.entries(pattern).every(([k, p]) => matchesPattern(value[k], p));
  }
  return value === pattern;
}

function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => same(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => same(a[k], b[k]));
  }
  return false;
}

const prefixed = (def: Json, prefix: string): [string, unknown] | undefined =>
  Object.entries(def).find(([k]) => k.startsWith(prefix) && /[A-Z]/.test(k[prefix.length] ?? ''));

/** What a slice requires at a discriminator path: the fixed or pattern value of the element there. */
function expectedAt(slice: Node, path: string): { fixed?: unknown; pattern?: unknown; node?: Node } {
  let node: Node | undefined = slice;
  if (path !== '$this') {
    for (const step of path.split('.')) node = node?.children.get(step) ?? node?.children.get(`${step}[x]`);
  }
  if (!node) return {};
  const fixed = prefixed(node.def, 'fixed');
  const pattern = prefixed(node.def, 'pattern');
  return { ...(fixed ? { fixed: fixed[1] } : {}), ...(pattern ? { pattern: pattern[1] } : {}), node };
}

/** The values at a discriminator path inside one instance value. */
function actualAt(value: unknown, path: string): unknown[] {
  let current: unknown[] = [value];
  if (path === '$this') return current;
  for (const step of path.split('.')) {
    current = current.flatMap((v) => (isObject(v) ? valuesOf(v, step).map((x) => x.value) : []));
  }
  return current;
}

const typeOfKey = (key: string, name: string) => key.slice(name.length - 3);

/** A coded value's codings: a code alone (system unknown), a Coding, or a CodeableConcept's codings. */
function codingsOf(value: unknown): { system?: string; code: string }[] {
  if (typeof value === 'string') return [{ code: value }];
  if (!isObject(value)) return [];
  if (Array.isArray(value.coding)) return codingsOf({ ...value, coding: undefined }).concat(...value.coding.map(codingsOf));
  return typeof value.code === 'string' ? [{ ...(str(value.system) ? { system: str(value.system) } : {}), code: value.code }] : [];
}

export class ProfileValidator {
  private readonly compiled = new Map<string, (node: unknown, vars: Json) => unknown[]>();
  private readonly profiles = new Map<string, Promise<Profile | undefined>>();

  constructor(private readonly defs: Definitions, private readonly source: ProfileSource, private readonly terminology: Terminology) {}

  /** A tenant profile by url, its tree built once per validator. */
  profile(url: string): Promise<Profile | undefined> {
    let p = this.profiles.get(url);
    if (!p) {
      p = this.source.structureDefinition(url).then((sd) => sd && { url: String(sd.url), type: String(sd.type),
        ...(str(sd.baseDefinition) ? { base: str(sd.baseDefinition) } : {}), root: buildTree(sd) });
      this.profiles.set(url, p);
    }
    return p;
  }

  private constraint(expression: string, base: string) {
    const key = `${base}|${expression}`;
    let run = this.compiled.get(key);
    if (!run) {
      run = fhirpath.compile({ base, expression }, r4, SILENT) as (node: unknown, vars: Json) => unknown[];
      this.compiled.set(key, run);
    }
    return run;
  }

  /**
   * The issues of `value` (a resource, or a data type such as an Extension) against the profile `url` and its tenant
   * base profiles. An unknown profile is one information issue (a core StructureDefinition holds already).
   */
  async validate(value: Json, url: string, options: { warnings: boolean; at?: string; root?: Json } = { warnings: false }): Promise<Issue[]> {
    const issues: Issue[] = [];
    const at = options.at ?? String(value.resourceType ?? '');
    const seen = new Set<string>();
    for (let next: string | undefined = url; next && !next.startsWith(CORE_SD); ) {
      if (seen.has(next)) break;
      seen.add(next);
      const profile = await this.profile(next);
      if (!profile) {
        issues.push({ severity: options.warnings ? 'warning' : 'information', code: 'not-found', diagnostics: `Profile ${next} is not known to this server`, expression: [at] });
        break;
      }
      const run = new Run(this, issues, options.warnings, options.root ?? value, profile.url);
      await run.value(value, profile.root, at, profile.type);
      next = profile.base;
    }
    return issues;
  }

  evaluate(expression: string, base: string, node: unknown, resource: Json): boolean {
    try {
      const result = this.constraint(expression, base)(node, { resource, rootResource: resource });
      return !(result.length === 1 && result[0] === false);
    } catch {
      return true;
    }
  }

  /** Whether a reference target type fits the element's targetProfiles (core ones name the type, tenant ones their type). */
  async targetTypes(targetProfiles: string[]): Promise<Set<string> | undefined> {
    const out = new Set<string>();
    for (const u of targetProfiles) {
      if (u.startsWith(CORE_SD)) out.add(u.slice(CORE_SD.length));
      else {
        const p = await this.profile(u);
        if (p) out.add(p.type);
      }
    }
    return out.size > 0 && !out.has('Resource') ? out : undefined;
  }

  get tx(): Terminology { return this.terminology; }
  get definitions(): Definitions { return this.defs; }
}

/** One validation of one value against one profile tree. */
class Run {
  constructor(private readonly v: ProfileValidator, private readonly issues: Issue[], private readonly warnings: boolean,
    private readonly root: Json, private readonly profileUrl: string) {}

  private issue(severity: 'error' | 'warning', code: Issue['code'], at: string, text: string): void {
    if (severity === 'warning' && !this.warnings) return;
    this.issues.push({ severity, code, diagnostics: `${text} (profile ${this.profileUrl})`, expression: [at] });
  }

  private cardinality(def: Json, count: number, at: string, label: string): void {
    const min = typeof def.min === 'number' ? def.min : undefined;
    const max = str(def.max);
    if (min !== undefined && count < min) this.issue('error', 'required', at, `${label}: minimum required = ${min}, but only found ${count}`);
    if (max !== undefined && max !== '*' && count > Number(max)) this.issue('error', 'structure', at, `${label}: maximum allowed = ${max}, but found ${count}`);
  }

  /** The checks of one element's definition on one value, then its children. */
  async value(value: unknown, node: Node, at: string, base: string): Promise<void> {
    const def = node.def;
    const fixed = prefixed(def, 'fixed');
    if (fixed && !same(value, fixed[1])) this.issue('error', 'value', at, `The value must be exactly ${JSON.stringify(fixed[1])}`);
    const pattern = prefixed(def, 'pattern');
    if (pattern && !matchesPattern(value, pattern[1])) this.issue('error', 'value', at, `The value must match the pattern ${JSON.stringify(pattern[1])}`);
    if (typeof value === 'string' && typeof def.maxLength === 'number' && value.length > def.maxLength) {
      this.issue('error', 'too-long', at, `The value is longer than ${def.maxLength} characters`);
    }
    await this.binding(value, def, at);
    await this.types(value, def, at);
    for (const c of asArray<Json>(def.constraint)) {
      const expression = str(c.expression);
      if (!expression || str(c.source)?.startsWith(CORE_SD)) continue;
      if (!this.v.evaluate(expression, base, value, this.root)) {
        this.issue(c.severity === 'warning' ? 'warning' : 'error', 'invariant', at, `${str(c.key) ?? 'constraint'}: ${str(c.human) ?? expression}`);
      }
    }
    if (isObject(value)) await this.children(value, node, at, base);
  }

  private async binding(value: unknown, def: Json, at: string): Promise<void> {
    const binding = def.binding as Json | undefined;
    const url = str(binding?.valueSet);
    if (!binding || !url) return;
    const strength = str(binding.strength);
    if (strength !== 'required' && strength !== 'extensible' && strength !== 'preferred') return;
    const codings = codingsOf(value);
    if (codings.length === 0) return;
    let vs: Json;
    try {
      vs = await this.v.tx.valueSet(url);
    } catch {
      this.issue(strength === 'required' ? 'error' : 'warning', 'not-found', at, `ValueSet ${url} is not known to this server`);
      return;
    }
    let member = false;
    for (const c of codings) {
      if (c.system !== undefined) member = Boolean(await this.v.tx.memberOf(vs, c.system, c.code));
      else for await (const m of this.v.tx.members(vs)) if (m.code === c.code) { member = true; break; }
      if (member) break;
    }
    if (!member) {
      this.issue(strength === 'required' ? 'error' : 'warning', 'code-invalid', at,
        `${codings.map((c) => `${c.system ? `${c.system}#` : ''}${c.code}`).join(', ')} is not in the ValueSet ${url} (${strength} binding)`);
    }
  }

  /** Reference target profiles, and a data type's own profile (an Extension's definition) validated in place. */
  private async types(value: unknown, def: Json, at: string): Promise<void> {
    const types = asArray<Json>(def.type);
    if (!isObject(value) || types.length === 0) return;
    const targets = types.filter((t) => t.code === 'Reference').flatMap((t) => asArray<string>(t.targetProfile));
    const ref = str(value.reference);
    const m = ref ? /^(?:.*\/)?([A-Z][A-Za-z]+)\/[A-Za-z0-9\-.]{1,64}(\/_history\/.*)?$/.exec(ref) : null;
    if (m && targets.length > 0) {
      const allowed = await this.v.targetTypes(targets);
      if (allowed && !allowed.has(m[1]!)) this.issue('error', 'structure', at, `The reference must point at ${[...allowed].join(' or ')}, not ${m[1]}`);
    }
    const profiles = types.flatMap((t) => asArray<string>(t.profile)).filter((u) => !u.startsWith(CORE_SD));
    if (profiles.length > 0 && !types.some((t) => t.code === 'Reference')) {
      // Any one of the listed profiles will do.
      let best: Issue[] | undefined;
      for (const u of profiles) {
        const found = await this.v.validate(value, u, { warnings: this.warnings, at, root: this.root });
        if (!found.some((i) => i.severity === 'error')) { best = found; break; }
        best ??= found;
      }
      this.issues.push(...(best ?? []));
    }
  }

  private async children(obj: Json, node: Node, at: string, base: string): Promise<void> {
    for (const [name, child] of node.children) {
      const items = valuesOf(obj, name);
      const label = `${at}.${name}`;
      this.cardinality(child.def, items.length, label, label);
      const allowed = asArray<Json>(child.def.type).map((t) => String(t.code).toLowerCase());
      const childBase = (key: string) => `${base}.${key}`;
      for (const item of items) {
        if (name.endsWith('[x]') && allowed.length > 0 && !allowed.includes(typeOfKey(item.key, name).toLowerCase())) {
          this.issue('error', 'structure', `${at}.${item.key}`, `${typeOfKey(item.key, name)} is not an allowed type for ${name} (${allowed.join(', ')})`);
        }
      }
      const itemAt = (i: { key: string; index: number; many: boolean }) => `${at}.${i.key}${i.many ? `[${i.index}]` : ''}`;
      if (child.slices.size > 0) await this.sliced(items, name, child, at, itemAt, childBase(name));
      for (const item of items) await this.value(item.value, child, itemAt(item), childBase(name.replace('[x]', '')));
    }
  }

  private async sliced(items: { key: string; value: unknown; index: number; many: boolean }[], name: string, node: Node, at: string,
    itemAt: (i: { key: string; index: number; many: boolean }) => string, base: string): Promise<void> {
    const extension = name === 'extension' || name === 'modifierExtension';
    const slicing = (node.def.slicing as Json | undefined) ?? (extension ? { discriminator: [{ type: 'value', path: 'url' }], rules: 'open' } : undefined);
    const discriminators = asArray<Json>(slicing?.discriminator);
    const assigned = new Map<string, typeof items>([...node.slices.keys()].map((k) => [k, []]));
    let unmatched: (typeof items)[number] | undefined;
    for (const item of items) {
      let slice: string | undefined;
      for (const [sliceName, s] of node.slices) {
        if (await this.matches(item.value, s, discriminators, itemAt(item))) { slice = sliceName; break; }
      }
      if (slice !== undefined) {
        assigned.get(slice)!.push(item);
        // openAtEnd: elements that match no slice may only follow the sliced ones.
        if (slicing?.rules === 'openAtEnd' && unmatched) {
          this.issue('error', 'structure', itemAt(unmatched), `The element matches none of the slices of ${at}.${name} and comes before a sliced one (openAtEnd)`);
          unmatched = undefined;
        }
      } else if (slicing?.rules === 'closed') {
        this.issue('error', 'structure', itemAt(item), `The element matches none of the slices of ${at}.${name}, and the slicing is closed`);
      } else unmatched ??= item;
    }
    for (const [sliceName, s] of node.slices) {
      const mine = assigned.get(sliceName)!;
      this.cardinality(s.def, mine.length, `${at}.${name}`, `Slice ${name}:${sliceName}`);
      for (const item of mine) await this.value(item.value, s, itemAt(item), base);
    }
  }

  private async matches(value: unknown, slice: Node, discriminators: Json[], at: string): Promise<boolean> {
    if (discriminators.length === 0) return false;
    for (const d of discriminators) {
      const path = str(d.path) ?? '$this';
      const type = str(d.type);
      if (type === 'value' || type === 'pattern') {
        const expected = expectedAt(slice, path);
        const { pattern } = expected;
        // An extension slice names its url by the profile of its type.
        const fixed = expected.fixed ?? (pattern === undefined && path === 'url'
          ? asArray<Json>(slice.def.type).flatMap((t) => asArray<string>(t.profile))[0] : undefined);
        const want = fixed ?? pattern;
        if (want === undefined) return false;
        if (!actualAt(value, path).some((a) => (fixed !== undefined ? same(a, fixed) || matchesPattern(a, fixed) : matchesPattern(a, pattern)))) return false;
      } else if (type === 'exists') {
        const { node } = expectedAt(slice, path);
        const present = actualAt(value, path).length > 0;
        if (node?.def.max === '0' ? present : typeof node?.def.min === 'number' && node.def.min > 0 && !present) return false;
      } else if (type === 'type') {
        const codes = asArray<Json>((expectedAt(slice, path).node ?? slice).def.type).map((t) => String(t.code));
        const actual = actualAt(value, path)[0];
        if (isObject(actual) && typeof actual.resourceType === 'string' && codes.length > 0 && !codes.includes(actual.resourceType)) return false;
      } else if (type === 'profile') {
        const profiles = asArray<Json>((expectedAt(slice, path).node ?? slice).def.type).flatMap((t) => asArray<string>(t.profile));
        const target = actualAt(value, path)[0];
        if (!isObject(target) || profiles.length === 0) return false;
        const found = await this.v.validate(target, profiles[0]!, { warnings: false, at, root: this.root });
        if (found.some((i) => i.severity === 'error')) return false;
      } else {
        return false;
      }
    }
    return true;
  }
}

/**
 * What makes a StructureDefinition unusable as a tenant profile: not a constraint, a base or a referenced definition
 * (type profile, target profile, required ValueSet) the tenant lacks, a constraint FHIRPath does not compile.
 */
export async function checkStructureDefinition(sd: Json, v: ProfileValidator): Promise<Issue[]> {
  const issues: Issue[] = [];
  const bad = (diagnostics: string, expression: string, code: Issue['code'] = 'invalid') => issues.push({ severity: 'error', code, diagnostics, expression: [expression] });
  const type = str(sd.type);
  if (!str(sd.url)) bad('A profile needs its canonical url', 'StructureDefinition.url');
  if (!type || (!v.definitions.isResourceType(type) && !v.definitions.coreElements(type))) {
    bad(`'${type ?? ''}' is not an R4 resource or data type`, 'StructureDefinition.type');
    return issues;
  }
  if (sd.derivation !== 'constraint') {
    bad('Only constraints on R4 types (derivation = constraint) can be stored as profiles', 'StructureDefinition.derivation');
  }
  const base = str(sd.baseDefinition);
  if (!base) bad('A profile needs its baseDefinition', 'StructureDefinition.baseDefinition');
  else if (!base.startsWith(CORE_SD) && !(await v.profile(base))) {
    bad(`The base definition ${base} is not known to this server`, 'StructureDefinition.baseDefinition', 'not-found');
  }
  const elements = profileElements(sd);
  if (elements.length === 0) bad('A profile needs a differential or a snapshot', 'StructureDefinition.differential');
  for (const [i, e] of elements.entries()) {
    const at = `StructureDefinition.differential.element[${i}]`;
    const path = str(e.path);
    if (!path || (path !== type && !path.startsWith(`${type}.`))) { bad(`The element path '${path ?? ''}' is not within ${type}`, `${at}.path`); continue; }
    for (const t of asArray<Json>(e.type)) {
      for (const u of [...asArray<string>(t.profile), ...asArray<string>(t.targetProfile)]) {
        if (typeof u === 'string' && !u.startsWith(CORE_SD) && !(await v.profile(u.split('|')[0]!))) {
          bad(`${u} (a type or target profile of ${path}) is not known to this server`, `${at}.type`, 'not-found');
        }
      }
    }
    const binding = e.binding as Json | undefined;
    if (binding?.strength === 'required' && str(binding.valueSet)) {
      try { await v.tx.valueSet(str(binding.valueSet)!); } catch { bad(`ValueSet ${str(binding.valueSet)} (bound to ${path}) is not known to this server`, `${at}.binding.valueSet`, 'not-found'); }
    }
    for (const c of asArray<Json>(e.constraint)) {
      const expression = str(c.expression);
      if (!expression) continue;
      try {
        fhirpath.compile({ base: path.replace('[x]', ''), expression }, r4, SILENT);
      } catch (err) {
        bad(`Constraint ${str(c.key) ?? ''} does not compile: ${(err as Error).message.slice(0, 200)}`, `${at}.constraint`);
      }
    }
  }
  return issues;
}

/**
 * A snapshot for a profile that has only a differential: the base type's R4 elements with the differential's merged
 * in (an element with the same id takes the differential's properties; a slice or a data type child is inserted after
 * the elements it belongs under). Data type children the differential does not mention are not expanded.
 */
export function generateSnapshot(sd: Json, defs: Definitions, baseSnapshot?: Json[]): Json[] {
  const type = String(sd.type);
  const elements: Json[] = (baseSnapshot ?? [...(defs.coreElements(type) ?? [])]).map((e) => ({ ...e, id: str(e.id) ?? str(e.path) }));
  for (const d of profileElements(sd)) {
    const id = elementId(d);
    if (!id) continue;
    const at = elements.findIndex((e) => e.id === id);
    if (at >= 0) { elements[at] = { ...elements[at], ...d, id }; continue; }
    // After the last element whose id is a prefix of this one (its parent and the parent's descendants).
    const parent = steps(id).slice(0, -1).join('.');
    let insertAt = elements.length;
    for (let i = elements.length - 1; i >= 0; i--) {
      const eid = String(elements[i]!.id);
      if (eid === parent || eid.startsWith(`${parent}.`) || eid.startsWith(`${parent}:`)) { insertAt = i + 1; break; }
    }
    elements.splice(insertAt, 0, { ...d, id });
  }
  return elements;
}
