/** Registry of the R4 StructureDefinitions and SearchParameters loaded at boot — http://hl7.org/fhir/R4/structuredefinition.html */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The SearchParameter fields search needs — http://hl7.org/fhir/R4/searchparameter.html */
export interface SearchParameterDef {
  id?: string;
  url: string;
  name: string;
  code: string;
  base: readonly string[];
  type: 'number' | 'date' | 'string' | 'token' | 'reference' | 'composite' | 'quantity' | 'uri' | 'special';
  /** Absent for _text, _content and _query, which R4 defines without one. */
  expression?: string;
  xpathUsage?: string;
  target?: readonly string[];
  multipleOr?: boolean;
  multipleAnd?: boolean;
  comparator?: readonly string[];
  modifier?: readonly string[];
  chain?: readonly string[];
  component?: readonly { definition: string; expression: string }[];
}

export interface Definitions {
  /** Concrete R4 resource types (146; Resource and DomainResource are abstract and left out). */
  resourceTypes: ReadonlySet<string>;
  isResourceType(t: string): boolean;
  searchParameters(): readonly SearchParameterDef[];
  /** The parameters of `type`, including those based on Resource and (for domain resources) DomainResource. */
  searchParametersFor(type: string): readonly SearchParameterDef[];
  /** Top-level JSON names kept by _summary=true: isSummary elements plus id, meta, implicitRules. */
  summaryElements(type: string): ReadonlySet<string>;
  /** Top-level JSON names of elements with min ≥ 1 (kept by _summary=text and _elements). */
  mandatoryElements(type: string): ReadonlySet<string>;
  /** FHIR type codes of a dotted element path without indexes, e.g. `Observation.valueQuantity.value` → decimal. */
  elementTypes(type: string, path: string): string[] | undefined;
  /**
   * The resource types a Reference element may point at (its targetProfiles), e.g. `Observation.subject` → Patient,
   * Group, Device, Location; undefined when the element is not a Reference or may point at any resource.
   */
  referenceTargets(type: string, path: string): ReadonlySet<string> | undefined;
  /** The R4 snapshot elements of a resource or data type (trimmed: id, path, min, max, type, base), for profiles. */
  coreElements(type: string): readonly Record<string, unknown>[] | undefined;
}

interface ElementDef {
  path: string;
  min?: number;
  type?: { code: string; targetProfile?: string[] }[];
  contentReference?: string;
  isSummary?: boolean;
}
interface StructureDef {
  url: string; type: string; kind: string; abstract?: boolean; baseDefinition?: string; derivation?: string;
  snapshot: { element: ElementDef[] };
}
/** One type's elements by path, and its choice elements (`value[x]`) by parent path. */
interface TypeIndex { elements: Map<string, ElementDef>; choices: Map<string, ElementDef[]> }

const DEFAULT_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RESOURCE_TYPES = 'profiles/r4/resources.json';
const DATA_TYPES = 'profiles/r4/types.json';
const SEARCH_PARAMS = 'search-params/r4-core.json';
const SUMMARY_ALWAYS = ['id', 'meta', 'implicitRules'];
const CACHE_LIMIT = 20_000;

function readBundle<T>(rootDir: string, file: string, resourceType: string): T[] {
  let bundle: { resourceType?: string; entry?: { resource?: { resourceType?: string } }[] };
  try {
    bundle = JSON.parse(readFileSync(join(rootDir, file), 'utf8'));
  } catch (e) {
    throw new Error(`Cannot load ${file}: ${(e as Error).message}`);
  }
  if (bundle.resourceType !== 'Bundle' || !Array.isArray(bundle.entry)) throw new Error(`${file} is not a Bundle`);
  return bundle.entry.map((e, i) => {
    if (e.resource?.resourceType !== resourceType) throw new Error(`${file}: entry ${i} is not a ${resourceType}`);
    return e.resource as T;
  });
}

function indexType(sd: StructureDef): TypeIndex {
  const elements = new Map<string, ElementDef>();
  const choices = new Map<string, ElementDef[]>();
  for (const e of sd.snapshot?.element ?? []) {
    if (typeof e.path !== 'string') throw new Error(`StructureDefinition ${sd.url} has an element without a path`);
    elements.set(e.path, e);
    if (!e.path.endsWith('[x]')) continue;
    const parent = e.path.slice(0, e.path.lastIndexOf('.'));
    choices.set(parent, [...(choices.get(parent) ?? []), e]);
  }
  return { elements, choices };
}

const capitalise = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** The element (and its single concrete type, for a choice) named `name` under `parent` in one type. */
function findChild(index: TypeIndex, parent: string, name: string): { element: ElementDef; choice?: string } | undefined {
  const element = index.elements.get(`${parent}.${name}`) ?? index.elements.get(`${parent}.${name}[x]`);
  if (element) return { element };
  for (const c of index.choices.get(parent) ?? []) {
    const stem = c.path.slice(parent.length + 1, -3);
    if (!name.startsWith(stem)) continue;
    const code = c.type?.find((t) => capitalise(t.code) === name.slice(stem.length))?.code;
    if (code) return { element: c, choice: code };
  }
  return undefined;
}

interface Resolved { codes: string[]; types: NonNullable<ElementDef['type']> }

/** The type codes of a dotted path and the element's type entries (one, for a resolved choice). */
function resolveElement(types: Map<string, TypeIndex>, type: string, path: string): Resolved | undefined {
  const [first, ...names] = path.split('.');
  if (first !== type || !types.has(type)) return undefined;
  let index = types.get(type)!;
  let parent = type;
  let codes: string[] = [type];
  let entries: NonNullable<ElementDef['type']> = [];
  for (const name of names) {
    const found = findChild(index, parent, name);
    if (!found) return undefined;
    let { element } = found;
    if (element.contentReference) {
      element = index.elements.get(element.contentReference.slice(1)) ?? element;
    }
    entries = (element.type ?? []).filter((t) => !found.choice || t.code === found.choice);
    codes = found.choice ? [found.choice] : (element.type ?? []).map((t) => t.code);
    if (index.elements.has(`${element.path}.id`)) {
      parent = element.path; // a backbone element: its children are in this same type
    } else if (codes.length === 1 && types.has(codes[0]!)) {
      index = types.get(codes[0]!)!;
      parent = codes[0]!;
    } else {
      parent = '';
    }
  }
  return { codes, types: entries };
}

/** Reference(A|B) → {A, B}; undefined for Reference(Any) (Resource), no targets, or not a Reference. */
function targetsOf(resolved: Resolved): ReadonlySet<string> | undefined {
  const ref = resolved.types.filter((t) => t.code === 'Reference');
  if (ref.length === 0) return undefined;
  const names = ref.flatMap((t) => t.targetProfile ?? []).map((u) => u.slice(u.lastIndexOf('/') + 1));
  return names.length === 0 || names.includes('Resource') ? undefined : new Set(names);
}

/** JSON property names of the top-level elements of `type` that satisfy `keep`, with choices expanded. */
function topLevelNames(index: TypeIndex, type: string, keep: (e: ElementDef) => boolean): Set<string> {
  const names = new Set<string>();
  for (const e of index.elements.values()) {
    const name = e.path.slice(type.length + 1);
    if (!e.path.startsWith(`${type}.`) || name.includes('.') || !keep(e)) continue;
    if (!name.endsWith('[x]')) names.add(name);
    else for (const t of e.type ?? []) names.add(name.slice(0, -3) + capitalise(t.code));
  }
  return names;
}

function isDomainResource(byType: Map<string, StructureDef>, type: string): boolean {
  for (let sd = byType.get(type); sd; sd = byType.get(sd.baseDefinition?.split('/').pop() ?? '')) {
    if (sd.type === 'DomainResource') return true;
  }
  return false;
}

function paramsByType(params: SearchParameterDef[], byType: Map<string, StructureDef>, resourceTypes: Set<string>) {
  const result = new Map<string, SearchParameterDef[]>();
  for (const type of resourceTypes) {
    const bases = new Set([type, 'Resource', ...(isDomainResource(byType, type) ? ['DomainResource'] : [])]);
    result.set(type, params.filter((p) => p.base.some((b) => bases.has(b))));
  }
  return result;
}

function checkParams(params: SearchParameterDef[]): SearchParameterDef[] {
  for (const p of params) {
    if (typeof p.code !== 'string' || typeof p.type !== 'string' || !Array.isArray(p.base)) {
      throw new Error(`${SEARCH_PARAMS}: SearchParameter ${p.url} lacks code, type or base`);
    }
  }
  return params;
}

/** Reads the definition files synchronously; any bad file throws, so the server fails to boot. */
export function loadDefinitions(rootDir: string = DEFAULT_ROOT): Definitions {
  const sds = [...readBundle<StructureDef>(rootDir, RESOURCE_TYPES, 'StructureDefinition'),
    ...readBundle<StructureDef>(rootDir, DATA_TYPES, 'StructureDefinition')]
    .filter((sd) => sd.derivation !== 'constraint'); // SimpleQuantity etc. profile a type, they do not define one
  const byType = new Map(sds.map((sd) => [sd.type, sd]));
  const types = new Map(sds.map((sd) => [sd.type, indexType(sd)]));
  const resourceTypes = new Set(sds.filter((sd) => sd.kind === 'resource' && !sd.abstract).map((sd) => sd.type));
  if (resourceTypes.size === 0) throw new Error(`${RESOURCE_TYPES} defines no resource types`);
  const params = checkParams(readBundle<SearchParameterDef>(rootDir, SEARCH_PARAMS, 'SearchParameter'));
  const byResource = paramsByType(params, byType, resourceTypes);
  const summaries = new Map([...resourceTypes].map((t) => [t, topLevelNames(types.get(t)!, t,
    (e) => e.isSummary === true || SUMMARY_ALWAYS.includes(e.path.slice(t.length + 1)))]));
  const mandatory = new Map([...resourceTypes].map((t) => [t, topLevelNames(types.get(t)!, t, (e) => (e.min ?? 0) > 0)]));
  // One resolution per (type, path) serves both lookups. Paths come from client data and recursive elements
  // (Questionnaire.item.item…) make them unbounded, hence the limit.
  const cache = new Map<string, { codes: string[]; targets: ReadonlySet<string> | undefined } | null>();
  const element = (type: string, path: string) => {
    const key = `${type}|${path}`;
    let hit = cache.get(key);
    if (hit === undefined) {
      const resolved = resolveElement(types, type, path);
      hit = resolved ? { codes: resolved.codes, targets: targetsOf(resolved) } : null;
      if (cache.size >= CACHE_LIMIT) cache.clear();
      cache.set(key, hit);
    }
    return hit ?? undefined;
  };
  const none: ReadonlySet<string> = new Set();
  return {
    resourceTypes,
    isResourceType: (t) => resourceTypes.has(t),
    searchParameters: () => params,
    searchParametersFor: (t) => byResource.get(t) ?? [],
    summaryElements: (t) => summaries.get(t) ?? none,
    mandatoryElements: (t) => mandatory.get(t) ?? none,
    elementTypes: (type, path) => element(type, path)?.codes,
    referenceTargets: (type, path) => element(type, path)?.targets,
    coreElements: (type) => byType.get(type)?.snapshot.element as unknown as Record<string, unknown>[] | undefined,
  };
}
