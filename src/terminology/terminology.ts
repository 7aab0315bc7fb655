/**
 * ValueSet expansion and membership over a tenant's own terminology and the R4 core content —
 * http://hl7.org/fhir/R4/valueset.html#expansion. Compose include/exclude with concept lists, filters and nested
 * ValueSets; members are produced one at a time, so an expansion is counted and paged without being held whole.
 */
import { RE2 } from 're2-wasm';
import { badRequest, terminologyNotFound, tooCostly } from '../errors.js';
import { type Concept, CodeSystemIndex, type Json, propertyText } from './codesystem.js';
import { type Kind, coreConceptMaps, coreResource } from './core.js';

/** A tenant's own CodeSystems, ValueSets and ConceptMaps, read through the caller's access (src/search/terminology.ts). */
export interface TerminologyStore {
  /** The newest live resource of the type with this canonical url (and version, when given), or `Type/id`. */
  find(type: Kind, ref: string, version?: string): Promise<Json | undefined>;
  /** Every live ConceptMap, up to `limit`. */
  conceptMaps(limit: number): Promise<Json[]>;
}

export interface Member {
  system: string;
  version?: string;
  code: string;
  display?: string;
  inactive?: boolean;
  abstract?: boolean;
  /** The code system is not known here, so the code could not be checked against it. */
  unchecked?: boolean;
}

export interface ExpandOptions { filter?: string; activeOnly?: boolean; offset?: number; count?: number }

export interface Expansion { total: number; offset: number; contains: Member[] }

/** Without `count`, an expansion larger than this is refused as too costly (a client pages with count/offset). */
export const MAX_UNPAGED = 10_000;
/** Nested ValueSets (compose.include.valueSet) deeper than this are refused, which also stops cycles. */
const MAX_NESTING = 10;
const MAX_PATTERN = 1_000;
const MAX_MAPS = 1_000;

const asArray = <T>(v: unknown): T[] => (Array.isArray(v) ? v as T[] : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

type Predicate = (c: Concept) => boolean;

/** A filter's regex, matched whole, with RE2 (linear time: a client's pattern cannot stall the server). */
function regex(pattern: string): (s: string | undefined) => boolean {
  if (pattern.length > MAX_PATTERN) throw badRequest(`A regex filter may be at most ${MAX_PATTERN} characters`);
  let re: RE2;
  try {
    re = new RE2(`^(?:${pattern})$`, 'u');
  } catch {
    throw badRequest(`The filter regex '${pattern}' is not a valid regular expression`);
  }
  return (s) => s !== undefined && re.test(s);
}

function propertyValues(c: Concept, property: string): string[] {
  if (property === 'parent') return c.parents;
  if (property === 'child') return c.children;
  if (property === 'display') return c.display === undefined ? [] : [c.display];
  if (property === 'inactive' && c.inactive) return ['true'];
  return c.property.filter((p) => p.code === property).map((p) => propertyText(p.value)).filter((v): v is string => v !== undefined);
}

/** One compose filter as a test on concepts of `cs` — valueset-filter-operator (R4). */
function filterPredicate(cs: CodeSystemIndex, filter: Json): Predicate {
  const property = str(filter.property);
  const op = str(filter.op);
  const value = str(filter.value);
  if (!property || !op || value === undefined) throw badRequest('A ValueSet filter needs property, op and value');
  const hierarchy = property === 'concept' || property === 'code';
  if (hierarchy && ['is-a', 'descendent-of', 'is-not-a', 'generalizes'].includes(op)) {
    const anchor = cs.get(value)?.code ?? value;
    const set = op === 'generalizes' ? cs.ancestors(anchor) : cs.descendants(anchor);
    if (op !== 'descendent-of') set.add(anchor);
    return op === 'is-not-a' ? (c) => !set.has(c.code) : (c) => set.has(c.code);
  }
  const values: (c: Concept) => string[] = hierarchy ? (c) => [c.code] : (c) => propertyValues(c, property);
  switch (op) {
    case '=': return (c) => values(c).includes(value);
    case 'in': { const list = value.split(','); return (c) => values(c).some((v) => list.includes(v)); }
    case 'not-in': { const list = value.split(','); return (c) => !values(c).some((v) => list.includes(v)); }
    case 'regex': { const test = regex(value); return (c) => values(c).some(test); }
    case 'exists': return (c) => (values(c).length > 0) === (value === 'true');
    default: throw badRequest(`ValueSet filter operator '${op}' on '${property}' is not supported`);
  }
}

const OPERATORS = new Set(['=', 'is-a', 'descendent-of', 'is-not-a', 'regex', 'in', 'not-in', 'generalizes', 'exists']);

/**
 * What makes a ValueSet's compose unusable, found when it is written rather than when it is first expanded: an
 * include with neither system nor valueSet, a filter without property, op or value, an operator R4 does not define,
 * a regex that does not compile.
 */
export function composeIssues(vs: Json): { message: string; expression: string }[] {
  const out: { message: string; expression: string }[] = [];
  const compose = vs.compose as Json | undefined;
  if (!compose) return out;
  for (const part of ['include', 'exclude'] as const) {
    for (const [i, inc] of asArray<Json>(compose[part]).entries()) {
      const at = `ValueSet.compose.${part}[${i}]`;
      if (str(inc.system) === undefined && asArray(inc.valueSet).length === 0) out.push({ message: `An ${part} needs a system or a valueSet`, expression: at });
      if (asArray(inc.filter).length > 0 && asArray(inc.concept).length > 0) out.push({ message: `An ${part} has concepts or filters, not both`, expression: at });
      for (const [j, f] of asArray<Json>(inc.filter).entries()) {
        const fat = `${at}.filter[${j}]`;
        const op = str(f.op);
        if (!str(f.property) || !op || str(f.value) === undefined) out.push({ message: 'A filter needs property, op and value', expression: fat });
        else if (!OPERATORS.has(op)) out.push({ message: `'${op}' is not a filter operator of R4`, expression: `${fat}.op` });
        else if (op === 'regex') {
          try { regex(str(f.value)!); } catch (e) { out.push({ message: (e as Error).message, expression: `${fat}.value` }); }
        }
      }
    }
  }
  return out;
}

function textFilter(text: string | undefined): (m: Member) => boolean {
  if (!text) return () => true;
  const words = text.toLowerCase().split(/\s+/).filter(Boolean);
  return (m) => {
    const hay = `${m.code} ${m.display ?? ''}`.toLowerCase();
    return words.every((w) => hay.includes(w));
  };
}

function member(system: string, version: string | undefined, c: Concept, display?: string): Member {
  return { system, ...(version ? { version } : {}), code: c.code, ...(display ?? c.display ? { display: display ?? c.display } : {}),
    ...(c.inactive ? { inactive: true } : {}), ...(c.abstract ? { abstract: true } : {}) };
}

export class Terminology {
  constructor(private readonly store: TerminologyStore) {}

  private async resource(type: Kind, ref: string, version?: string): Promise<Json | undefined> {
    const [url, pinned] = ref.split('|') as [string, string | undefined];
    const v = version ?? pinned;
    return await this.store.find(type, url, v) ?? coreResource(type, url, v);
  }

  /** The tenant's CodeSystem of this url, else the core one; undefined when neither is known. */
  async codeSystem(url: string, version?: string): Promise<CodeSystemIndex | undefined> {
    const r = await this.resource('CodeSystem', url, version);
    return r ? CodeSystemIndex.of(r) : undefined;
  }

  async requireCodeSystem(url: string, version?: string): Promise<CodeSystemIndex> {
    const cs = await this.codeSystem(url, version);
    if (!cs) throw terminologyNotFound(`CodeSystem '${url}${version ? `|${version}` : ''}' is not known to this server`);
    return cs;
  }

  async valueSet(ref: string, version?: string): Promise<Json> {
    const vs = await this.resource('ValueSet', ref, version);
    if (!vs) throw terminologyNotFound(`ValueSet '${ref}' is not known to this server`);
    return vs;
  }

  async conceptMap(ref: string, version?: string): Promise<Json> {
    const cm = await this.resource('ConceptMap', ref, version);
    if (!cm) throw terminologyNotFound(`ConceptMap '${ref}' is not known to this server`);
    return cm;
  }

  /** The tenant's ConceptMaps, then the core ones. */
  async conceptMaps(): Promise<Json[]> {
    return [...await this.store.conceptMaps(MAX_MAPS), ...coreConceptMaps()];
  }

  /** The concepts a whole-system include or a filtered one takes from a code system the server holds. */
  private async includeSystem(inc: Json): Promise<{ cs: CodeSystemIndex; test: Predicate }> {
    const system = str(inc.system)!;
    const cs = await this.codeSystem(system, str(inc.version));
    if (!cs || (cs.content !== 'complete' && cs.content !== 'fragment')) {
      throw terminologyNotFound(`CodeSystem '${system}' is not known to this server with its content (load it as a CodeSystem resource)`);
    }
    const tests = asArray<Json>(inc.filter).map((f) => filterPredicate(cs, f));
    return { cs, test: (c) => tests.every((t) => t(c)) };
  }

  /** The members of one include (or exclude), in the code system's order, before nested ValueSets narrow them. */
  private async *includeMembers(inc: Json, depth: number): AsyncGenerator<Member> {
    const system = str(inc.system);
    const nested = asArray<string>(inc.valueSet);
    const inNested = async (m: Member) => {
      for (const url of nested) if (!await this.memberOf(await this.valueSet(url), m.system, m.code, depth + 1)) return false;
      return true;
    };
    if (system === undefined) {
      if (nested.length === 0) return;
      const [first, ...rest] = nested;
      for await (const m of this.members(await this.valueSet(first!), depth + 1)) {
        let ok = true;
        for (const url of rest) if (!await this.memberOf(await this.valueSet(url), m.system, m.code, depth + 1)) { ok = false; break; }
        if (ok) yield m;
      }
      return;
    }
    const listed = asArray<Json>(inc.concept);
    if (listed.length > 0) {
      const cs = await this.codeSystem(system, str(inc.version));
      for (const l of listed) {
        const code = str(l.code);
        if (code === undefined) continue;
        const c = cs?.get(code);
        const m = c ? member(system, cs!.version, c, str(l.display)) : { system, code, ...(str(l.display) ? { display: str(l.display) } : {}) };
        if (await inNested(m)) yield m;
      }
      return;
    }
    const { cs, test } = await this.includeSystem(inc);
    for (const c of cs.concepts) {
      if (!test(c)) continue;
      const m = member(system, cs.version, c);
      if (nested.length === 0 || await inNested(m)) yield m;
    }
  }

  /** Whether a code of a system is in one include (or exclude), and as what member. */
  private async inInclude(inc: Json, system: string, code: string, depth: number): Promise<Member | undefined> {
    const incSystem = str(inc.system);
    let m: Member | undefined;
    if (incSystem !== undefined) {
      if (incSystem !== system) return undefined;
      const listed = asArray<Json>(inc.concept);
      const cs = await this.codeSystem(system, str(inc.version));
      if (listed.length > 0) {
        const l = listed.find((x) => x.code === code || (cs && !cs.caseSensitive && str(x.code)?.toLowerCase() === code.toLowerCase()));
        if (!l) return undefined;
        const c = cs?.get(code);
        m = c ? member(system, cs!.version, c, str(l.display)) : { system, code, ...(str(l.display) ? { display: str(l.display) } : {}) };
      } else if (!cs && asArray(inc.filter).length === 0) {
        m = { system, code, unchecked: true };
      } else {
        const { cs: known, test } = await this.includeSystem(inc);
        const c = known.get(code);
        if (!c || !test(c)) return undefined;
        m = member(system, known.version, c);
      }
    }
    for (const url of asArray<string>(inc.valueSet)) {
      const nestedMember = await this.memberOf(await this.valueSet(url), system, code, depth + 1);
      if (!nestedMember) return undefined;
      m ??= nestedMember;
    }
    return m;
  }

  /** The member a code of a system is in a ValueSet, or undefined. */
  async memberOf(vs: Json, system: string, code: string, depth = 0): Promise<Member | undefined> {
    if (depth > MAX_NESTING) throw badRequest(`ValueSet '${String(vs.url)}' nests ValueSets more than ${MAX_NESTING} deep (or includes itself)`);
    const compose = vs.compose as Json | undefined;
    if (!compose) {
      for (const m of containsOf((vs.expansion as Json | undefined)?.contains)) if (m.system === system && m.code === code) return m;
      return undefined;
    }
    for (const inc of asArray<Json>(compose.include)) {
      const m = await this.inInclude(inc, system, code, depth);
      if (!m) continue;
      for (const exc of asArray<Json>(compose.exclude)) if (await this.inInclude(exc, system, code, depth)) return undefined;
      return m;
    }
    return undefined;
  }

  /** Every member of a ValueSet, each once, in compose order. */
  async *members(vs: Json, depth = 0): AsyncGenerator<Member> {
    if (depth > MAX_NESTING) throw badRequest(`ValueSet '${String(vs.url)}' nests ValueSets more than ${MAX_NESTING} deep (or includes itself)`);
    const compose = vs.compose as Json | undefined;
    if (!compose) {
      if (!vs.expansion) throw badRequest(`ValueSet '${String(vs.url)}' has neither a compose nor an expansion`);
      yield* containsOf((vs.expansion as Json).contains);
      return;
    }
    const includes = asArray<Json>(compose.include);
    const excludes = asArray<Json>(compose.exclude);
    // Duplicates can only come from a second include; one include lists each concept of its system once.
    const seen = includes.length > 1 ? new Set<string>() : undefined;
    for (const inc of includes) {
      for await (const m of this.includeMembers(inc, depth)) {
        const key = `${m.system}|${m.code}`;
        if (seen?.has(key)) continue;
        let excluded = false;
        for (const exc of excludes) if (await this.inInclude(exc, m.system, m.code, depth)) { excluded = true; break; }
        if (excluded) continue;
        seen?.add(key);
        yield m;
      }
    }
  }

  /** One page of a ValueSet's expansion and the total, counted without holding the members. */
  async expand(vs: Json, options: ExpandOptions = {}): Promise<Expansion> {
    const offset = options.offset ?? 0;
    const keep = textFilter(options.filter);
    const contains: Member[] = [];
    let total = 0;
    for await (const m of this.members(vs)) {
      if ((options.activeOnly && m.inactive) || !keep(m)) continue;
      total++;
      if (options.count === undefined && total > MAX_UNPAGED) {
        throw tooCostly(`The expansion of ${String(vs.url)} has more than ${MAX_UNPAGED} concepts; page it with count and offset`);
      }
      if (total > offset && (options.count === undefined || contains.length < options.count)) contains.push(m);
    }
    return { total, offset, contains };
  }

  /**
   * The codes a search's :in or :not-in stands for: explicit codes, and whole code systems as system-only tokens
   * (an include of all of LOINC matches any LOINC code without listing them). Refused beyond `limit` codes.
   */
  async searchCodes(vs: Json, limit: number): Promise<{ codes: Member[]; systems: string[] }> {
    const compose = vs.compose as Json | undefined;
    const whole = (inc: Json) => str(inc.system) !== undefined && asArray(inc.concept).length === 0
      && asArray(inc.filter).length === 0 && asArray(inc.valueSet).length === 0;
    if (compose && asArray(compose.exclude).length === 0) {
      const systems = asArray<Json>(compose.include).filter(whole).map((inc) => str(inc.system)!);
      const rest = { ...vs, compose: { ...compose, include: asArray<Json>(compose.include).filter((inc) => !whole(inc)) } };
      return { codes: await this.take(rest, limit), systems };
    }
    return { codes: await this.take(vs, limit), systems: [] };
  }

  private async take(vs: Json, limit: number): Promise<Member[]> {
    const out: Member[] = [];
    for await (const m of this.members(vs)) {
      if (out.length === limit) throw tooCostly(`ValueSet ${String(vs.url)} has more than ${limit} codes; search cannot use it`);
      out.push(m);
    }
    return out;
  }
}

function* containsOf(contains: unknown): Generator<Member> {
  for (const c of asArray<Json>(contains)) {
    const system = str(c.system);
    const code = str(c.code);
    if (system !== undefined && code !== undefined) {
      yield { system, code, ...(str(c.version) ? { version: str(c.version) } : {}), ...(str(c.display) ? { display: str(c.display) } : {}),
        ...(c.inactive === true ? { inactive: true } : {}), ...(c.abstract === true ? { abstract: true } : {}) };
    }
    yield* containsOf(c.contains);
  }
}
