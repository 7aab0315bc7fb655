/** FHIRPath Patch: a Parameters resource of add/insert/delete/replace/move operations — http://hl7.org/fhir/R4/fhirpatch.html */
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';
import { FhirError, badRequest, fhirPathPatchInvalid as invalid, fhirPathPatchUnprocessable as unprocessable, fhirPathResolveOutside }
  from '../errors.js';
import type { Resource } from './types.js';

export { assertIdentityUnchanged } from './json-patch.js';

type Json = Record<string, unknown>;
type OpType = 'add' | 'insert' | 'delete' | 'replace' | 'move';
interface Value { data: unknown; type: string | null } // type: FHIR type of value[x] or resource; null: nested parts
interface Operation { n: number; type: OpType; path: string; name?: string; value?: Value;
  index?: number; source?: number; destination?: number }
/** What we use of fhirpath's ResourceNode (results of evaluate with resolveInternalTypes: false). */
interface Node { data: unknown; path: string | null; parentResNode: Node | null; propName?: string | null;
  index?: number | null; fhirNodeDataType: string | null }
/** Where a selected element lives in the JSON: `parent[key]`, or `parent[key][index]` for a list item. */
interface Place { node: Node; parent: Json; key: string; index: number | null }
interface List { parent: Json; key: string; elementPath: string | null }

const OP_TYPES: readonly OpType[] = ['add', 'insert', 'delete', 'replace', 'move'];
const PART_NAMES = ['type', 'path', 'name', 'value', 'index', 'source', 'destination'];
const REQUIRED: Record<OpType, (keyof Operation)[]> =
  { add: ['name', 'value'], insert: ['value', 'index'], delete: [], replace: ['value'], move: ['source', 'destination'] };
const ELEMENT_NAME = /^[A-Za-z][A-Za-z0-9]*$/;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** Applies the operations in order to a deep copy of `resource`; the input is never modified. */
export function applyFhirPathPatch(resource: Resource, params: Resource): Resource {
  if (params?.resourceType !== 'Parameters') throw badRequest('FHIRPath Patch body must be a Parameters resource');
  const parameters = params.parameter ?? [];
  if (!Array.isArray(parameters)) throw badRequest('Parameters.parameter must be an array');
  const operations = parameters.map(readOperation);
  const result = structuredClone(resource);
  for (const op of operations) APPLY[op.type](result, op);
  return result;
}

const APPLY: Record<OpType, (resource: Resource, op: Operation) => void> =
  { add: addElement, insert: insertItem, delete: deleteElement, replace: replaceElement, move: moveItem };

function readOperation(parameter: unknown, n: number): Operation {
  if (!isObject(parameter) || parameter.name !== 'operation') throw invalid(n, "parameter must be named 'operation'");
  if (!Array.isArray(parameter.part)) throw invalid(n, 'operation has no parts');
  const parts = new Map<string, Json>();
  for (const part of parameter.part) {
    const name = isObject(part) ? part.name : undefined;
    if (typeof name !== 'string' || !PART_NAMES.includes(name)) throw invalid(n, `unknown part '${String(name)}'`);
    if (parts.has(name)) throw invalid(n, `part '${name}' is repeated`);
    parts.set(name, part as Json);
  }
  const type = primitivePart(parts, 'type', n, 'valueCode') as OpType;
  if (!OP_TYPES.includes(type)) throw invalid(n, `unknown operation type '${type}'`);
  const op: Operation = { n, type, path: primitivePart(parts, 'path', n, 'valueString') as string };
  if (parts.has('name')) op.name = primitivePart(parts, 'name', n, 'valueString') as string;
  if (op.name !== undefined && !ELEMENT_NAME.test(op.name)) throw invalid(n, `'${op.name}' is not an element name`);
  for (const key of ['index', 'source', 'destination'] as const) {
    if (parts.has(key)) op[key] = primitivePart(parts, key, n, 'valueInteger') as number;
  }
  if (parts.has('value')) op.value = readValue(parts.get('value') as Json, n);
  const missing = REQUIRED[op.type].filter((key) => op[key] === undefined);
  if (missing.length > 0) throw invalid(n, `${op.type} requires part(s) ${missing.join(', ')}`);
  return op;
}

function primitivePart(parts: Map<string, Json>, name: string, n: number, key: string): unknown {
  const value = parts.get(name)?.[key] ?? (key === 'valueCode' ? parts.get(name)?.valueString : undefined);
  const ok = key === 'valueInteger' ? Number.isInteger(value) : typeof value === 'string' && value !== '';
  if (!ok) throw invalid(n, `part '${name}' with a ${key} is required`);
  return value;
}

/** value[x] (primitive or complex datatype), a `resource`, or nested parts for anonymous/backbone types. */
function readValue(part: Json, n: number): Value {
  const keys = Object.keys(part).filter((k) => /^value[A-Z]/.test(k));
  if (keys.length > 1) throw invalid(n, `part '${String(part.name)}' has more than one value[x]`);
  // valueDateTime → dateTime, valueHumanName → HumanName: R4 primitive type names start lower-case.
  const lower = keys[0] ? keys[0].charAt(5).toLowerCase() + keys[0].slice(6) : '';
  if (keys[0]) return { data: part[keys[0]], type: lower in r4.type2Parent ? lower : keys[0].slice(5) };
  const resource = part.resource;
  if (isObject(resource) && typeof resource.resourceType === 'string') return { data: resource, type: resource.resourceType };
  if (Array.isArray(part.part) && part.part.length > 0) return { data: part.part, type: null };
  throw invalid(n, `part '${String(part.name)}' has no value[x], resource or parts`);
}

/** FHIRPath operators that are also FHIR element names (Narrative.div): after a '.' they name the element. */
const KEYWORD_MEMBER = /\.(div|mod|and|or|xor|implies)(?![\w`(])/g;

/**
 * The path with element names that the FHIRPath grammar reads as operators (`text.div`) quoted as delimited
 * identifiers (`text.\`div\``), outside string literals; the HL7 FHIRPath Patch test cases patch Narrative.div.
 */
export function quoteKeywordMembers(path: string): string {
  return path.split(/('(?:[^'\\]|\\.)*')/).map((part, i) => (i % 2 === 1 ? part : part.replace(KEYWORD_MEMBER, '.`$1`'))).join('');
}

/** Evaluates `path` keeping ResourceNodes, whose parentResNode/propName/index locate each result in the JSON. */
function select(resource: Resource, path: string, n: number): Node[] {
  try {
    const results: unknown[] = fhirpath.evaluate(resource, quoteKeywordMembers(path), {}, r4, EVALUATION);
    if (!results.every((r) => isObject(r) && 'parentResNode' in r)) throw unprocessable(n, `'${path}' selects non-elements`);
    return results as Node[];
  } catch (e) {
    if (e instanceof FhirError) throw e; // includes resolve() reaching outside the resource
    throw invalid(n, `cannot evaluate path '${path}': ${(e as Error).message}`);
  }
}

/** Keep ResourceNodes; internalStructures hands resolve() ResourceNodes so it can return located nodes too. */
const EVALUATION = { async: false as const, resolveInternalTypes: false,
  userInvocationTable: { resolve: { fn: resolveContained, arity: { 0: [] }, internalStructures: true } } };

/** resolve() may only reach contained resources (fhirpatch.html base rules), so patching never does I/O. */
function resolveContained(this: { model: unknown }, inputs: unknown[]): Node[] {
  return inputs.flatMap((input) => {
    const reference = isObject(input) && isObject(input.data) ? input.data.reference : undefined;
    if (typeof reference !== 'string' || !reference.startsWith('#')) throw fhirPathResolveOutside();
    let root = input as unknown as Node;
    while (root.parentResNode) root = root.parentResNode;
    if (reference === '#') return [root];
    const contained: Node[] = fhirpath.util.makeChildResNodes(this, root, 'contained', this.model);
    return contained.filter((c) => isObject(c.data) && c.data.id === reference.slice(1));
  });
}

function single(nodes: Node[], op: Operation): Node {
  if (nodes.length !== 1) throw unprocessable(op.n, `path '${op.path}' matches ${nodes.length} elements, not exactly one`);
  return nodes[0] as Node;
}

/** The JSON key of a node is its propName, or propName + type for a choice element (value → valueQuantity). */
function place(node: Node, op: Operation): Place {
  const parent = node.parentResNode;
  const name = node.propName;
  if (!parent || !isObject(parent.data) || !name) throw unprocessable(op.n, `path '${op.path}' is not a patchable element`);
  const data = parent.data;
  const has = (k: string) => Object.hasOwn(data, k) || Object.hasOwn(data, `_${k}`);
  const choice = name + capitalize(node.fhirNodeDataType ?? '');
  const key = has(name) ? name : has(choice) ? choice : undefined;
  if (key === undefined) throw new Error(`fhirpath node '${name}' was not found in its parent`);
  return { node, parent: data, key, index: node.index ?? null };
}

/** An insert/move path names a list: its items (all in one list), or `container.name` when that is empty. */
function selectList(resource: Resource, op: Operation): List {
  const items = select(resource, op.path, op.n).map((item) => place(item, op));
  const first = items[0];
  if (first) {
    if (first.index === null || items.some((p) => p.parent !== first.parent || p.key !== first.key)) {
      throw unprocessable(op.n, `path '${op.path}' does not select a single list`);
    }
    return { parent: first.parent, key: first.key, elementPath: elementPath(first.node.parentResNode?.path, first.key) };
  }
  const split = /^(.+)\.([A-Za-z][A-Za-z0-9]*)$/.exec(op.path);
  if (!split) throw unprocessable(op.n, `path '${op.path}' matches nothing`);
  const container = single(select(resource, split[1] as string, op.n), op);
  const key = split[2] as string;
  const path = elementPath(container.path, key);
  if (!isObject(container.data) || (path && r4.path2Type[path] && !r4.path2Repeating[path])) {
    throw unprocessable(op.n, `path '${op.path}' is not a list`);
  }
  return { parent: container.data, key, elementPath: path };
}

/** Model path of element `name` under a node path (Patient, HumanName, Patient.contact), or null if unknown. */
function elementPath(parentPath: string | null | undefined, name: string): string | null {
  if (!parentPath) return null;
  const path = `${parentPath}.${name}`;
  return r4.pathsDefinedElsewhere[path] ?? path;
}

/** JSON key, model path, declared type and all possible keys for element `name` holding `value`. */
function target(parentPath: string | null, name: string, value: Value, n: number) {
  const path = elementPath(parentPath, name);
  const choices = path ? r4.choiceTypePaths[path] : undefined;
  if (!path || !choices) {
    const type = path ? r4.path2Type[path] : undefined;
    if (path && !type && r4.path2Type[`${parentPath}.id`]) throw unprocessable(n, `${parentPath} has no element '${name}'`);
    return { key: name, keys: [name], path, type };
  }
  const suffix = value.type ? capitalize(value.type) : '';
  if (!choices.includes(suffix)) throw unprocessable(n, `${name}[x] cannot hold a ${value.type ?? 'nested-parts'} value`);
  return { key: name + suffix, keys: choices.map((c) => name + c), path: path + suffix, type: value.type ?? undefined };
}

const lineage = (type: string): string[] => [type, ...(r4.type2Parent[type] ? lineage(r4.type2Parent[type]) : [])];

/** 422 unless the value's type equals, specialises or generalises the declared one (code ↔ string, Age ↔ Quantity). */
function checkType(declared: string | undefined, value: Value, what: string, n: number): void {
  if (!declared) return;
  // Parameters has no valueXhtml: Narrative.div takes a valueString (its JSON form is a string).
  const fits = declared === 'xhtml' ? value.type === 'string' : declared.startsWith('System.') ? /^[a-z]/.test(value.type ?? '') // Resource.id, Extension.url
    : value.type === null ? /^[A-Z]/.test(declared) && declared !== 'Resource'
    : lineage(value.type).includes(declared) || lineage(declared).includes(value.type);
  if (!fits) throw unprocessable(n, `${what} is ${declared}; a ${value.type ?? 'nested-parts'} value does not fit`);
}

/** The JSON for a value; nested parts become an object shaped by the model (repeating elements as arrays). */
function materialize(value: Value, path: string | null, n: number): unknown {
  if (value.type !== null) return structuredClone(value.data);
  const typePath = path ? (r4.path2TypeWithoutElements[path] ?? path) : null;
  const out: Json = {};
  for (const part of value.data as unknown[]) {
    const name = isObject(part) ? part.name : undefined;
    if (typeof name !== 'string' || !ELEMENT_NAME.test(name)) throw invalid(n, 'a nested value part needs an element name');
    const child = readValue(part as Json, n);
    const t = target(typePath, name, child, n);
    checkType(t.type, child, name, n);
    const data = materialize(child, t.path, n);
    out[t.key] = out[t.key] !== undefined ? [out[t.key], data].flat() : t.path && r4.path2Repeating[t.path] ? [data] : data;
  }
  return out;
}

/** add: `name` becomes a child of the element at `path`, appended if it is a list; it must not exist otherwise. */
function addElement(resource: Resource, op: Operation): void {
  const node = single(select(resource, op.path, op.n), op);
  const value = op.value as Value;
  if (!isObject(node.data)) throw unprocessable(op.n, `path '${op.path}' is not an element that can have children`);
  const container = node.data;
  const t = target(node.path, op.name as string, value, op.n);
  checkType(t.type, value, t.key, op.n);
  const data = materialize(value, t.path, op.n);
  const existing = container[t.key];
  if (Array.isArray(existing)) {
    existing.push(data);
    spliceSibling(container, t.key, existing.length - 1, 0, null);
  } else if (t.keys.some((k) => container[k] !== undefined || container[`_${k}`] !== undefined)) {
    throw unprocessable(op.n, `element '${op.name}' already exists; use replace`);
  } else {
    container[t.key] = t.path && r4.path2Repeating[t.path] ? [data] : data;
  }
}

function insertItem(resource: Resource, op: Operation): void {
  const list = selectList(resource, op);
  const items = (list.parent[list.key] ?? []) as unknown[];
  const index = checkIndex(op.index as number, items.length + 1, op);
  checkType(list.elementPath ? r4.path2Type[list.elementPath] : undefined, op.value as Value, list.key, op.n);
  items.splice(index, 0, materialize(op.value as Value, list.elementPath, op.n));
  list.parent[list.key] = items;
  spliceSibling(list.parent, list.key, index, 0, null);
}

function moveItem(resource: Resource, op: Operation): void {
  const list = selectList(resource, op);
  const items = (list.parent[list.key] ?? []) as unknown[];
  const source = checkIndex(op.source as number, items.length, op);
  const destination = checkIndex(op.destination as number, items.length, op);
  items.splice(destination, 0, ...items.splice(source, 1));
  const siblings = list.parent[`_${list.key}`];
  if (Array.isArray(siblings)) siblings.splice(destination, 0, ...siblings.splice(source, 1));
}

function checkIndex(index: number, limit: number, op: Operation): number {
  if (index < 0 || index >= limit) throw unprocessable(op.n, `index ${index} is out of range for '${op.path}'`);
  return index;
}

function replaceElement(resource: Resource, op: Operation): void {
  const at = place(single(select(resource, op.path, op.n), op), op);
  const value = op.value as Value;
  const t = target(at.node.parentResNode?.path ?? null, at.node.propName as string, value, op.n);
  checkType(t.type ?? at.node.fhirNodeDataType ?? undefined, value, op.path, op.n);
  const data = materialize(value, t.path, op.n);
  if (at.index !== null) (at.parent[at.key] as unknown[])[at.index] = data;
  else if (t.key === at.key) at.parent[at.key] = data;
  else {
    removePlace(at); // a choice element changing type, e.g. deceasedBoolean → deceasedDateTime
    at.parent[t.key] = data;
  }
}

/** delete: no-op when nothing matches; elements and lists left empty are removed too (R4 JSON has no empty ones). */
function deleteElement(resource: Resource, op: Operation): void {
  const nodes = select(resource, op.path, op.n);
  let at: Place | null = nodes.length === 0 ? null : place(single(nodes, op), op);
  while (at) {
    removePlace(at);
    const parent = at.node.parentResNode as Node;
    at = parent.parentResNode && Object.keys(parent.data as Json).length === 0 ? place(parent, op) : null;
  }
}

function removePlace({ parent, key, index }: Place): void {
  const list = parent[key];
  if (index !== null && Array.isArray(list)) {
    list.splice(index, 1);
    spliceSibling(parent, key, index, 1);
    if (list.length === 0) delete parent[key];
  } else {
    delete parent[key];
    delete parent[`_${key}`];
  }
}

/** Keeps a primitive list's `_name` array (ids/extensions) aligned — http://hl7.org/fhir/R4/json.html#primitive */
function spliceSibling(parent: Json, key: string, start: number, deleteCount: number, ...items: null[]): void {
  const siblings = parent[`_${key}`];
  if (!Array.isArray(siblings)) return;
  siblings.splice(start, deleteCount, ...items);
  if (siblings.every((s) => s === null)) delete parent[`_${key}`];
}
