/** Resource validation: the R4 JSON schema (ajv) plus the FHIR JSON rules a schema cannot state — http://hl7.org/fhir/R4/json.html */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ErrorObject, Options } from 'ajv';
import type { Issue, IssueCode } from '../errors.js';
import { loadDefinitions, type Definitions } from '../fhir/definitions.js';
import { type RequiredBindings, loadRequiredBindings } from './bindings.js';
import { base64Elements, checkJsonLimits } from './limits.js';
import { loadInvariants } from './invariants.js';
import { checkReferences } from './references.js';

export interface Validator {
  validate(resource: unknown): Issue[];
  /** The R4 invariants a schema-valid resource fails (issue #15 §3): errors, and warnings when asked. */
  invariants(resource: Record<string, unknown>, warnings: boolean): Issue[];
}

export const SCHEMA_FILE = 'profiles/fhir.schema.json';
/** ajv standalone code for SCHEMA_FILE: compiling the schema takes ~2.5 s, loading this ~0.25 s. */
export const VALIDATOR_FILE = 'profiles/fhir.schema.validator.cjs';
/**
 * allErrors reports every fault (valid resources run no slower); `discriminator` dispatches on resourceType
 * instead of trying 146 oneOf branches; strictRequired is off because required primitives are `anyOf` groups.
 */
export const AJV_OPTIONS: Options = {
  allErrors: true, discriminator: true, messages: false, inlineRefs: false, allowUnionTypes: true,
  strict: true, strictRequired: false,
};
const DEFAULT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface CompiledSchema {
  (data: unknown): boolean;
  errors?: ErrorObject[] | null;
  schemaSha256?: string;
}

/**
 * Where an ajv instancePath points: its FHIRPath, the resource type and element path it lies in, and whether it
 * is in the `_x` form of a primitive (which holds an Element: id and extensions).
 */
interface Location { expression: string; type: string; element: string; extensionForm: boolean }

export const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

function loadCompiled(rootDir: string): CompiledSchema {
  const rebuild = 'run `npx tsx scripts/build-validator.ts`';
  const expected = sha256(readFileSync(join(rootDir, SCHEMA_FILE), 'utf8'));
  let compiled: CompiledSchema;
  try {
    compiled = createRequire(import.meta.url)(join(rootDir, VALIDATOR_FILE)) as CompiledSchema;
  } catch (e) {
    throw new Error(`Cannot load ${VALIDATOR_FILE} (${(e as Error).message}); ${rebuild}`);
  }
  if (compiled.schemaSha256 !== expected) throw new Error(`${VALIDATOR_FILE} is older than ${SCHEMA_FILE}; ${rebuild}`);
  return compiled;
}

const unescapePointer = (s: string) => s.replace(/~1/g, '/').replace(/~0/g, '~');
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function locate(resource: Record<string, unknown>, pointer: string): Location {
  const type = String(resource.resourceType);
  const at: Location = { expression: type, type, element: type, extensionForm: false };
  let node: unknown = resource;
  for (const raw of pointer.split('/').slice(1).map(unescapePointer)) {
    const indexed = Array.isArray(node);
    node = (node as Record<string, unknown> | undefined)?.[raw];
    if (indexed) { at.expression += `[${raw}]`; } else {
      const name = raw.replace(/^_/, '');
      at.extensionForm = name !== raw;
      at.expression += `.${name}`;
      at.element += `.${name}`;
    }
    if (isObject(node) && typeof node.resourceType === 'string') { at.type = node.resourceType; at.element = at.type; }
  }
  return at;
}

const JSON_TYPES: Record<string, string> = {
  object: 'a JSON object', array: 'an array', string: 'a JSON string', number: 'a JSON number',
  integer: 'a JSON integer', boolean: 'true or false', null: 'null',
};

function expectedType(defs: Definitions, at: Location, e: ErrorObject): string {
  const json = ([] as string[]).concat(e.params.type as string | string[]).filter((t) => t !== 'null')[0] ?? 'object';
  if (json === 'array') return 'an array (this element repeats)';
  if (at.element === at.type) return 'a resource (a JSON object)';
  if (at.extensionForm) return 'Element (a JSON object)';
  const fhir = defs.elementTypes(at.type, at.element)?.join(' | ');
  return fhir ? `${fhir} (${JSON_TYPES[json] ?? json})` : JSON_TYPES[json] ?? json;
}

function valueMessage(defs: Definitions, at: Location, e: ErrorObject): string {
  const fhir = defs.elementTypes(at.type, at.element)?.join(' | ') ?? 'value';
  if (e.keyword === 'minimum' || e.keyword === 'maximum') return `Number out of range for ${fhir}`;
  if (fhir === 'string' || fhir === 'markdown') return 'Strings must contain non-whitespace content';
  if (fhir === 'xhtml') return 'Narrative must be XHTML with a <div> root element';
  return `Invalid ${fhir} value`;
}

function commonPrefix(a: string, b: string): string {
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  return a.slice(0, i);
}

/**
 * A failed `anyOf` of `required` branches: a primitive (`status` or `_status`) or a choice (`medication[x]`, one
 * of medicationCodeableConcept, medicationReference, whose type names start with a capital).
 */
function missingGroup(children: ErrorObject[], at: Location): Issue {
  const names = children.map((c) => String(c.params.missingProperty)).filter((n) => !n.startsWith('_'));
  if (names.length === 1) return issue('required', `Missing required element '${names[0]}'`, `${at.expression}.${names[0]}`);
  let stem = names.reduce(commonPrefix);
  while (stem && !names.every((n) => /[A-Z]/.test(n.charAt(stem.length)))) stem = stem.slice(0, -1);
  return issue('required', `Missing required element '${stem}[x]' (one of ${names.join(', ')})`, `${at.expression}.${stem}`);
}

function issue(code: IssueCode, diagnostics: string, expression: string): Issue {
  return { severity: 'error', code, diagnostics, expression: [expression] };
}

/** The value an ajv instancePath points at. */
function valueAt(resource: Record<string, unknown>, pointer: string): unknown {
  let node: unknown = resource;
  for (const raw of pointer.split('/').slice(1).map(unescapePointer)) node = (node as Record<string, unknown> | undefined)?.[raw];
  return node;
}

function notInValueSet(bindings: RequiredBindings, resource: Record<string, unknown>, e: ErrorObject, at: Location): Issue {
  const value = valueAt(resource, e.instancePath);
  const name = e.schemaPath.replace(/(\/items)?\/enum$/, '').split('/').pop() ?? '';
  const valueSet = bindings.valueSetOfEnum(name, (e.params as { allowedValues?: unknown[] }).allowedValues ?? []) ?? 'of this element';
  return issue('code-invalid', value === null ? `null is not a code of the required value set ${valueSet}`
    : `The code '${String(value)}' is not in the required value set ${valueSet}`, at.expression);
}

function toIssue(defs: Definitions, bindings: RequiredBindings, resource: Record<string, unknown>, e: ErrorObject,
  errors: ErrorObject[]): Issue {
  const at = locate(resource, e.instancePath);
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties':
      return issue('structure', `Unknown element '${String(p.additionalProperty)}'`, `${at.expression}.${String(p.additionalProperty)}`);
    case 'required':
      return issue('required', `Missing required element '${String(p.missingProperty)}'`, `${at.expression}.${String(p.missingProperty)}`);
    case 'anyOf': return missingGroup(errors.filter((c) => isChildOf(c, e)), at);
    case 'discriminator':
      return p.tagValue === undefined
        ? issue('required', "Missing required element 'resourceType'", `${at.expression}.resourceType`)
        : issue('structure', `Unknown resource type '${String(p.tagValue)}'`, `${at.expression}.resourceType`);
    case 'type': return issue('structure', `Wrong type: expected ${expectedType(defs, at, e)}`, at.expression);
    case 'minItems': return issue('structure', 'Arrays must not be empty', at.expression);
    case 'minProperties': return issue('structure', 'Objects must not be empty', at.expression);
    case 'pattern': case 'minimum': case 'maximum': return issue('value', valueMessage(defs, at, e), at.expression);
    case 'const': return issue('structure', `Must be '${String(p.allowedValue)}'`, at.expression);
    case 'enum': return notInValueSet(bindings, resource, e, at);
    default: return issue('structure', `Invalid content (${e.keyword})`, at.expression);
  }
}

const isChildOf = (c: ErrorObject, e: ErrorObject) =>
  c !== e && c.instancePath === e.instancePath && c.schemaPath.startsWith(`${e.schemaPath}/`);

/** One issue per fault: the `required` branches of a failed `anyOf` are reported once, by the anyOf. */
function toIssues(defs: Definitions, bindings: RequiredBindings, resource: Record<string, unknown>, errors: ErrorObject[]): Issue[] {
  const groups = errors.filter((e) => e.keyword === 'anyOf');
  // A value of the wrong JSON type, or not a code at all, fails the enum too: that error is the one to report.
  const typed = new Set(errors.filter((e) => e.keyword === 'type' || e.keyword === 'pattern').map((e) => e.instancePath));
  const issues = errors.filter((e) => !groups.some((g) => isChildOf(e, g)) && !(e.keyword === 'enum' && typed.has(e.instancePath)))
    .map((e) => toIssue(defs, bindings, resource, e, errors));
  const seen = new Set<string>();
  return issues.filter((i) => {
    const key = `${i.code}|${i.diagnostics}|${i.expression?.[0]}`;
    return seen.has(key) ? false : (seen.add(key), true);
  });
}

/**
 * A null in an array of primitives, or in its `_x` twin, only holds a place the other array fills; both arrays
 * then have the same length (R4 json.html#primitive). The schema allows null items; this checks the pairing.
 * `path` is a stack of FHIRPath pieces, joined only when reporting.
 */
function checkPrimitivePairs(node: unknown, path: string[], issues: Issue[]): void {
  if (Array.isArray(node)) {
    node.forEach((item, i) => { path.push(`[${i}]`); checkPrimitivePairs(item, path, issues); path.pop(); });
    return;
  }
  if (!isObject(node)) return;
  for (const key in node) {
    const value = node[key];
    if (typeof value !== 'object' || value === null) continue;
    const name = key.startsWith('_') ? key.slice(1) : key;
    path.push(`.${name}`);
    if (Array.isArray(value) && pairingBroken(node, key, value)) {
      issues.push(issue('structure', `Arrays '${name}' and '_${name}' must have the same length and no position null in both`,
        path.join('')));
    }
    checkPrimitivePairs(value, path, issues);
    path.pop();
  }
}

function pairingBroken(node: Record<string, unknown>, key: string, value: unknown[]): boolean {
  const extensions = key.startsWith('_');
  const twin = node[extensions ? key.slice(1) : `_${key}`];
  if (!Array.isArray(twin)) return value.includes(null);
  return extensions && (twin.length !== value.length || value.some((v, i) => v === null && twin[i] === null));
}

function checkEnvelope(defs: Definitions, resource: unknown): Issue[] {
  if (!isObject(resource)) return [{ severity: 'error', code: 'structure', diagnostics: 'A resource must be a JSON object' }];
  const type = resource.resourceType;
  if (type === undefined) return [issue('required', "Missing required element 'resourceType'", 'resourceType')];
  if (typeof type !== 'string' || !defs.isResourceType(type)) {
    return [issue('structure', `Unknown resource type '${String(type)}'`, 'resourceType')];
  }
  return [];
}

/** A validator over the compiled R4 schema; loading fails (and so the boot) if the compiled code is missing or stale. */
export function createValidator(defs: Definitions = loadDefinitions(), rootDir: string = DEFAULT_ROOT): Validator {
  const compiled = loadCompiled(rootDir);
  const isBase64 = base64Elements(defs);
  const bindings = loadRequiredBindings(rootDir);
  const invariants = loadInvariants(defs, rootDir);
  return {
    invariants: (resource, warnings) => invariants.check(resource, warnings),
    validate(resource: unknown): Issue[] {
      // First, and without recursion: ajv's generated code recurses per level and overflowed the stack (issue #12 §7).
      const limit = checkJsonLimits(resource, isBase64);
      if (limit) return [limit];
      const envelope = checkEnvelope(defs, resource);
      if (envelope.length > 0) return envelope;
      const r = resource as Record<string, unknown>;
      if (!compiled(r)) return toIssues(defs, bindings, r, compiled.errors ?? []);
      const issues: Issue[] = [];
      checkPrimitivePairs(r, [String(r.resourceType)], issues);
      bindings.checkCodeableConcepts(r, issues);
      checkReferences(defs, r, issues);
      return issues;
    },
  };
}
