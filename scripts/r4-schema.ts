// Builds the R4 JSON schema for ajv from the R4 StructureDefinitions, cross-checked with Medplum's copy — https://hl7.org/fhir/R4/json.html#schema
/*
 * Why not just prune Medplum's fhir.schema.json: besides its own resource types it adds elements to R4 types
 * (Meta.project…, OperationOutcome.status, Reference.resource, modifierExtension on Element-typed children), its
 * complex types lack `type: object` (so `"name": "x"` passes), integers are `type: number` (1.5 passes as a
 * positiveInt), `_x` is missing for canonical elements, required primitives are not required, and its regexes
 * mean XML Schema's \s but run as JavaScript's (which also matches no-break space). So every definition is
 * rebuilt here from the (restored) R4 StructureDefinitions, keeping the R4 schema's names and shape, and the
 * differences from Medplum's definitions are reported.
 */

export interface RawType { code: string; targetProfile?: string[]; profile?: string[]; extension?: { url: string; valueUrl?: string }[] }
export interface RawElement {
  id: string; path: string; min?: number; max?: string; type?: RawType[]; contentReference?: string;
  isSummary?: boolean; isModifier?: boolean; base?: { path: string; min?: number; max?: string };
  binding?: { strength: string; valueSet?: string };
}
export interface RawSd {
  id: string; url: string; name: string; type: string; kind: string; abstract: boolean; version?: string;
  baseDefinition?: string; derivation?: string; snapshot: { element: RawElement[] };
}
export interface Schema {
  type?: string | string[]; $ref?: string; pattern?: string; items?: Schema; properties?: Record<string, Schema>;
  [keyword: string]: unknown;
}
type Definitions = Record<string, Schema>;

const SYSTEM = 'http://hl7.org/fhirpath/System.';
/** XML Schema's \s (the R4 regexes' dialect) is exactly these four characters. */
const WS = ' \\t\\n\\r';
const INT32 = { minimum: -2147483648, maximum: 2147483647 };
/** Primitive definitions; the date/time/oid/uuid patterns are taken from the R4 schema unchanged. */
const PRIMITIVES: Record<string, Schema> = {
  base64Binary: { type: 'string', pattern: `^[${WS}]*[A-Za-z0-9+/=][A-Za-z0-9+/=${WS}]*$` },
  boolean: { type: 'boolean' },
  canonical: { type: 'string', pattern: `^[^${WS}]+$` },
  code: { type: 'string', pattern: `^[^${WS}]+([${WS}][^${WS}]+)*$` },
  decimal: { type: 'number' },
  id: { type: 'string', pattern: '^[A-Za-z0-9\\-.]{1,64}$' },
  integer: { type: 'integer', ...INT32 },
  markdown: { type: 'string', pattern: `[^${WS}]` },
  positiveInt: { type: 'integer', ...INT32, minimum: 1 },
  string: { type: 'string', pattern: `[^${WS}]` },
  unsignedInt: { type: 'integer', ...INT32, minimum: 0 },
  uri: { type: 'string', pattern: `^[^${WS}]+$` },
  url: { type: 'string', pattern: `^[^${WS}]+$` },
  /** Narrative.div: XHTML whose root is a div (R4 narrative.html); xhtml has no `_div` extension form. */
  xhtml: { type: 'string', pattern: `^[${WS}]*<div[${WS}>]` },
};
const FROM_R4_SCHEMA = ['date', 'dateTime', 'instant', 'time', 'oid', 'uuid'];

/**
 * How an ajv enum error finds its ValueSet: the element's name and the allowed codes (ajv reports the schema path
 * relative to the definition, without its name, but always the allowed values). src/validation/bindings.ts builds the same key.
 */
export const enumKey = (name: string, codes: readonly unknown[]) => `${name}|${codes.filter((c) => c !== null).join(' ')}`;

const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
const ref = (name: string): Schema => ({ $ref: `#/definitions/${name}` });
const nullable = (name: string) => `${name}-or-null`;
/**
 * Arrays are shared definitions (`HumanName-array`) rather than inline: ajv's standalone code then shrinks from
 * 7.7 to 6.2 MB and loads in 250 instead of 410 ms. FHIR JSON arrays are never empty (R4 json.html#arrays).
 */
const arrayOf = (name: string): Schema => ref(`${name}-array`);

/** The codes a `code` element's required binding allows, with its ValueSet's URL; undefined when not enumerable. */
export type RequiredCodes = (e: RawElement) => { valueSet: string; codes: string[] } | undefined;

interface Context {
  sd: RawSd; names: Map<string, string>; primitives: Set<string>; parents: Set<string>; requiredCodes: RequiredCodes;
  /** ValueSet URL by each enum's element name and codes (enumKey), for error messages. */
  bindings: Record<string, string>;
}

/** The schema's name for each object path of a type: the type itself, then Type_Last (numbered when taken). */
function objectNames(sd: RawSd, parents: Set<string>): Map<string, string> {
  const names = new Map([[sd.type, sd.type]]);
  const used = new Set([sd.type]);
  for (const e of sd.snapshot.element.slice(1)) {
    if (!parents.has(e.path)) continue;
    const base = `${sd.type}_${cap(e.path.split('.').pop()!)}`;
    let name = base;
    for (let i = 1; used.has(name); i++) name = `${base}${i}`;
    used.add(name);
    names.set(e.path, name);
  }
  return names;
}

/** The definition an element's value refers to; R4 prints Resource.id as System.String but it is an id. */
function targetOf(c: Context, e: RawElement): string {
  if (e.contentReference) return c.names.get(e.contentReference.slice(1)) ?? fail(`no ${e.contentReference}`);
  const nested = c.names.get(e.path);
  if (nested) return nested;
  const [t, more] = e.type ?? [];
  if (!t || more) return fail(`${e.path} has ${e.type?.length ?? 0} types`);
  if (t.code === 'Resource') return 'ResourceList';
  if (!t.code.startsWith(SYSTEM)) return t.code;
  if (e.base?.path === 'Resource.id') return 'id';
  return t.extension?.find((x) => x.url.endsWith('/structuredefinition-fhir-type'))?.valueUrl ?? 'string';
}

function fail(message: string): never {
  throw new Error(`r4-schema: ${message}`);
}

/** Whether the JSON form allows `_name` (R4 json.html#primitive); System.* attributes (ids, Extension.url) do not. */
function hasExtensionForm(c: Context, t: RawType | undefined): boolean {
  return t !== undefined && c.primitives.has(t.code) && t.code !== 'xhtml';
}

function objectSchema(c: Context, path: string): Schema {
  const props: Record<string, Schema> = {};
  const required: string[] = [];
  const oneNeeded: string[][] = [];
  const isResource = path === c.sd.type && c.sd.kind === 'resource';
  if (isResource) { props.resourceType = { const: c.sd.type }; required.push('resourceType'); }
  for (const e of c.sd.snapshot.element) {
    const name = e.path.slice(path.length + 1);
    if (!e.path.startsWith(`${path}.`) || name.includes('.')) continue;
    const needed = (e.min ?? 0) > 0;
    if (name.endsWith('[x]')) {
      const keys: string[] = [];
      for (const t of e.type ?? []) {
        const key = name.slice(0, -3) + cap(t.code);
        props[key] = ref(t.code);
        keys.push(key);
        if (hasExtensionForm(c, t)) { props[`_${key}`] = ref('Element'); keys.push(`_${key}`); }
      }
      if (needed) oneNeeded.push(keys);
      continue;
    }
    const target = targetOf(c, e);
    const primitive = !c.names.has(e.path) && hasExtensionForm(c, e.type?.[0]);
    const many = e.max !== '1';
    const bound = target === 'code' && primitive ? c.requiredCodes(e) : undefined;
    if (bound) {
      // A required binding of a code: the ValueSet's codes (which all match the code pattern) are the only values.
      const code = PRIMITIVES.code!.pattern;
      props[name] = many ? { type: 'array', minItems: 1, items: { type: ['string', 'null'], pattern: code, enum: [...bound.codes, null] } }
        : { type: 'string', pattern: code, enum: bound.codes };
      c.bindings[enumKey(name, bound.codes)] = bound.valueSet;
    } else props[name] = many ? arrayOf(primitive ? nullable(target) : target) : ref(target);
    if (primitive) props[`_${name}`] = many ? arrayOf(nullable('Element')) : ref('Element');
    if (needed && primitive) oneNeeded.push([name, `_${name}`]);
    else if (needed) required.push(name);
  }
  const schema: Schema = { type: 'object', properties: props, additionalProperties: false };
  if (!isResource) schema.minProperties = 1;
  if (required.length > 0) schema.required = required;
  // A required primitive may be given as its value, its `_x` extension form, or (choice) any one type.
  if (oneNeeded.length > 0) schema.allOf = oneNeeded.map((keys) => ({ anyOf: keys.map((k) => ({ required: [k] })) }));
  return schema;
}

function structureDefinitions(c: Omit<Context, 'sd' | 'names' | 'parents'>, sds: RawSd[], defs: Definitions): void {
  for (const sd of sds) {
    // Element is abstract but is the `_x` extension form; Resource/DomainResource/BackboneElement are never used alone.
    if (sd.kind === 'primitive-type' || (sd.abstract && sd.type !== 'Element') || sd.derivation === 'constraint') continue;
    const parents = new Set(sd.snapshot.element.map((e) => e.path.split('.').slice(0, -1).join('.')));
    const names = objectNames(sd, parents);
    const ctx = { ...c, sd, names, parents };
    for (const [path, name] of names) defs[name] = objectSchema(ctx, path);
  }
}

function primitiveDefinitions(primitives: Set<string>, r4: Definitions): Definitions {
  const defs: Definitions = {};
  for (const p of [...primitives].sort()) {
    const def = PRIMITIVES[p] ?? (FROM_R4_SCHEMA.includes(p) ? { type: 'string', pattern: r4[p]?.pattern } : undefined);
    defs[p] = def ?? fail(`no schema for primitive ${p}`);
  }
  return defs;
}

/**
 * The `X-array` definitions used, and `X-or-null` for their items where FHIR JSON arrays of primitives (and their
 * `_x` arrays) may hold null at a position the other array fills (R4 json.html#primitive).
 */
function addArrays(defs: Definitions): void {
  const used = new Set<string>();
  JSON.stringify(defs, (_k, v) => {
    if (typeof v === 'string' && v.endsWith('-array')) used.add(v.slice('#/definitions/'.length, -'-array'.length));
    return v;
  });
  for (const name of [...used].sort()) {
    defs[`${name}-array`] = { type: 'array', minItems: 1, items: ref(name) };
    if (!name.endsWith('-or-null')) continue;
    const base = defs[name.slice(0, -'-or-null'.length)]!;
    defs[name] = { ...base, type: [base.type as string, 'null'] };
  }
}

function describeDifferences(ours: Definitions, medplum: Definitions): string[] {
  const lines: string[] = [];
  const dropped = Object.keys(medplum).filter((k) => !(k in ours));
  lines.push(`dropped ${dropped.length} definitions not in R4: ${dropped.join(' ')}`);
  for (const [name, def] of Object.entries(ours)) {
    const [mine, theirs] = [def.properties, medplum[name]?.properties];
    if (!mine || !theirs) continue;
    const removed = Object.keys(theirs).filter((k) => !(k in mine));
    const added = Object.keys(mine).filter((k) => !(k in theirs));
    const retyped = Object.keys(mine).filter((k) => theirs[k] && refOf(theirs[k]) !== undefined
      && refOf(theirs[k]) !== refOf(mine[k]!));
    if (removed.length + added.length + retyped.length === 0) continue;
    lines.push(`${name}: ${[removed.length ? `removed ${removed}` : '', added.length ? `added ${added}` : '',
      retyped.length ? `retyped ${retyped}` : ''].filter(Boolean).join('; ')}`);
  }
  return lines;
}

const refOf = (s: Schema): string | undefined => (s.enum || s.items?.enum ? 'code'
  : (s.$ref ?? s.items?.$ref)?.split('/').pop()?.replace(/(-or-null)?(-array)?$/, ''));

/** The R4 schema: ResourceList dispatches on resourceType with ajv's `discriminator` (which rejects `mapping`). */
export function buildSchema(sds: RawSd[], medplum: { definitions: Definitions }, description: string,
  requiredCodes: RequiredCodes): { schema: Schema; report: string[]; bindings: Record<string, string> } {
  const primitives = new Set(sds.filter((s) => s.kind === 'primitive-type').map((s) => s.type));
  const defs = primitiveDefinitions(primitives, medplum.definitions);
  const bindings: Record<string, string> = {};
  structureDefinitions({ primitives, requiredCodes, bindings }, sds, defs);
  addArrays(defs);
  const resources = sds.filter((s) => s.kind === 'resource' && !s.abstract).map((s) => s.type).sort();
  defs.ResourceList = { $ref: '#' };
  const schema = {
    description, $schema: 'http://json-schema.org/draft-07/schema#', $id: 'http://hl7.org/fhir/json-schema/4.0',
    type: 'object', discriminator: { propertyName: 'resourceType' },
    oneOf: resources.map(ref), definitions: defs,
  };
  return { schema, report: describeDifferences(defs, medplum.definitions), bindings };
}
