/**
 * A CodeSystem's concepts indexed for terminology operations — http://hl7.org/fhir/R4/codesystem.html: codes (case
 * folded when the system is not case-sensitive), the hierarchy from nesting and from `parent`/`child` properties, and
 * the standard concept properties `inactive`, `status` and `notSelectable`.
 */
export type Json = Record<string, unknown>;

export interface ConceptProperty { code: string; value: Json }

export interface Concept {
  code: string;
  display?: string;
  definition?: string;
  designation: Json[];
  property: ConceptProperty[];
  parents: string[];
  children: string[];
  inactive: boolean;
  /** notSelectable: a grouper, not to be used in data. */
  abstract: boolean;
}

const asArray = <T>(v: unknown): T[] => (Array.isArray(v) ? v as T[] : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** A property value (value[x]) as text: codes, strings, Coding codes, booleans, numbers. */
export function propertyText(value: Json): string | undefined {
  for (const [k, v] of Object.entries(value)) {
    if (!k.startsWith('value')) continue;
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return String(v);
    if (k === 'valueCoding' && v && typeof v === 'object') return str((v as Json).code);
  }
  return undefined;
}

const INACTIVE_STATUS = new Set(['retired', 'inactive', 'deprecated']);

export class CodeSystemIndex {
  readonly url: string;
  readonly version: string | undefined;
  readonly name: string | undefined;
  readonly content: string;
  readonly caseSensitive: boolean;
  /** Document order (a parent before its nested children). */
  readonly concepts: Concept[] = [];
  private readonly byCode = new Map<string, Concept>();

  private constructor(readonly resource: Json) {
    this.url = String(resource.url);
    this.version = str(resource.version);
    this.name = str(resource.name) ?? str(resource.title);
    this.content = str(resource.content) ?? 'complete';
    this.caseSensitive = resource.caseSensitive !== false;
    this.add(asArray<Json>(resource.concept), undefined);
    for (const c of this.concepts) {
      for (const p of c.property) {
        const other = propertyText(p.value);
        if (other === undefined) continue;
        if (p.code === 'parent') this.link(other, c.code);
        if (p.code === 'child') this.link(c.code, other);
      }
    }
  }

  private static readonly cache = new WeakMap<Json, CodeSystemIndex>();

  /** The index of a CodeSystem resource, built once per resource object. */
  static of(resource: Json): CodeSystemIndex {
    let index = CodeSystemIndex.cache.get(resource);
    if (!index) CodeSystemIndex.cache.set(resource, index = new CodeSystemIndex(resource));
    return index;
  }

  private key(code: string): string { return this.caseSensitive ? code : code.toLowerCase(); }

  private add(list: Json[], parent: string | undefined): void {
    for (const raw of list) {
      const code = str(raw.code);
      if (code === undefined) continue;
      const property = asArray<Json>(raw.property).filter((p) => typeof p.code === 'string')
        .map((p) => ({ code: p.code as string, value: p }));
      const flag = (name: string) => property.some((p) => p.code === name && propertyText(p.value) === 'true');
      const concept: Concept = {
        code, ...(str(raw.display) !== undefined ? { display: str(raw.display) } : {}),
        ...(str(raw.definition) !== undefined ? { definition: str(raw.definition) } : {}),
        designation: asArray<Json>(raw.designation), property, parents: [], children: [],
        inactive: flag('inactive') || property.some((p) => p.code === 'status' && INACTIVE_STATUS.has(propertyText(p.value) ?? '')),
        abstract: flag('notSelectable') || flag('abstract'),
      };
      if (!this.byCode.has(this.key(code))) {
        this.byCode.set(this.key(code), concept);
        this.concepts.push(concept);
      }
      if (parent !== undefined) this.link(parent, code);
      this.add(asArray<Json>(raw.concept), code);
    }
  }

  private link(parent: string, child: string): void {
    const p = this.get(parent);
    const c = this.get(child);
    if (!p || !c) return;
    if (!p.children.includes(c.code)) p.children.push(c.code);
    if (!c.parents.includes(p.code)) c.parents.push(p.code);
  }

  get(code: string): Concept | undefined { return this.byCode.get(this.key(code)); }

  /** The codes reached from `code` (not itself) along one direction of the hierarchy, each once, cycles or not. */
  private closure(code: string, edge: 'children' | 'parents'): Set<string> {
    const out = new Set<string>();
    const todo = [...(this.get(code)?.[edge] ?? [])];
    for (let next = todo.pop(); next !== undefined; next = todo.pop()) {
      if (out.has(next)) continue;
      out.add(next);
      todo.push(...(this.get(next)?.[edge] ?? []));
    }
    return out;
  }

  /** The codes below `code` (not itself). */
  descendants(code: string): Set<string> { return this.closure(code, 'children'); }

  /** The codes above `code` (not itself). */
  ancestors(code: string): Set<string> { return this.closure(code, 'parents'); }

  /** R4 $subsumes: how concept a relates to concept b (both must exist). */
  subsumption(a: string, b: string): 'equivalent' | 'subsumes' | 'subsumed-by' | 'not-subsumed' {
    const ca = this.get(a)!;
    const cb = this.get(b)!;
    if (ca === cb) return 'equivalent';
    if (this.ancestors(cb.code).has(ca.code)) return 'subsumes';
    if (this.ancestors(ca.code).has(cb.code)) return 'subsumed-by';
    return 'not-subsumed';
  }
}
