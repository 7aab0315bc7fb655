/**
 * JSON Patch (RFC 6902, JSON Pointer per RFC 6901) for the FHIR patch interaction — https://www.rfc-editor.org/rfc/rfc6902
 * Ours rather than a library's: fast-json-patch, rfc6902 and json-patch each fail cases of test/fhir/json-patch.test.ts
 * and json-patch-rfc6902.test.ts — pointers resolve only own members (no prototype chain: '__proto__' is data, an
 * inherited '/toString' does not exist), RFC 6901 array indexes (no '01'), strict '~' escapes, atomic application.
 */
import { badRequest, conflict } from '../errors.js';
import type { Resource } from './types.js';

type Json = Record<string, unknown>;
type Op = 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
interface Operation { i: number; op: Op; path: string[]; value?: unknown; from?: string[] }

const OPS: readonly Op[] = ['add', 'remove', 'replace', 'move', 'copy', 'test'];
const NEEDS_VALUE: readonly Op[] = ['add', 'replace', 'test'];
const NEEDS_FROM: readonly Op[] = ['move', 'copy'];
const ARRAY_INDEX = /^(0|[1-9][0-9]*)$/;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const fail = (i: number, op: string, message: string) => badRequest(`JSON Patch operation ${i} (${op}): ${message}`);

/** Applies `patch` to a deep copy of `resource`; the input is never modified. */
export function applyJsonPatch(resource: Resource, patch: unknown): Resource {
  if (!Array.isArray(patch)) throw badRequest('JSON Patch document must be an array of operations');
  const operations = patch.map(readOperation);
  let doc: unknown = structuredClone(resource);
  for (const operation of operations) doc = applyOperation(doc, operation);
  if (!isObject(doc)) throw badRequest('JSON Patch must leave a resource object at the document root');
  return doc as Resource;
}

/** Patching must never change a resource's identity — http://hl7.org/fhir/R4/http.html#patch */
export function assertIdentityUnchanged(before: Resource, after: Resource): void {
  if (after.resourceType !== before.resourceType) {
    throw badRequest(`Patch must not change resourceType (${before.resourceType} → ${String(after.resourceType)})`);
  }
  if (after.id !== before.id) {
    throw badRequest(`Patch must not change id (${String(before.id)} → ${String(after.id)})`);
  }
}

function readOperation(raw: unknown, i: number): Operation {
  if (!isObject(raw)) throw badRequest(`JSON Patch operation ${i} must be an object`);
  const op = raw.op;
  if (typeof op !== 'string') throw badRequest(`JSON Patch operation ${i} has no 'op'`);
  if (!OPS.includes(op as Op)) throw badRequest(`JSON Patch operation ${i} has unknown op '${op}'`);
  if (typeof raw.path !== 'string') throw fail(i, op, "missing or non-string 'path'");
  const operation: Operation = { i, op: op as Op, path: parsePointer(raw.path, i, op) };
  if (NEEDS_VALUE.includes(operation.op)) {
    if (!Object.hasOwn(raw, 'value')) throw fail(i, op, "missing 'value'");
    operation.value = raw.value;
  }
  if (NEEDS_FROM.includes(operation.op)) {
    if (typeof raw.from !== 'string') throw fail(i, op, "missing or non-string 'from'");
    operation.from = parsePointer(raw.from, i, op);
  }
  return operation;
}

/** RFC 6901 §3–4: '' is the whole document; '~1' decodes to '/', then '~0' to '~'. */
function parsePointer(pointer: string, i: number, op: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw fail(i, op, `JSON Pointer '${pointer}' must be empty or start with '/'`);
  return pointer.slice(1).split('/').map((token) => {
    if (/~[^01]|~$/.test(token)) throw fail(i, op, `JSON Pointer '${pointer}' has an invalid '~' escape`);
    return token.replaceAll('~1', '/').replaceAll('~0', '~');
  });
}

function applyOperation(doc: unknown, o: Operation): unknown {
  switch (o.op) {
    case 'add': return addAt(doc, o.path, structuredClone(o.value), o);
    case 'remove': return removeAt(doc, o.path, o);
    case 'replace': return replaceAt(doc, o.path, structuredClone(o.value), o);
    case 'move': return moveTo(doc, o);
    case 'copy': return addAt(doc, o.path, structuredClone(valueAt(doc, o.from ?? [], o, 'from')), o);
    case 'test': return testAt(doc, o);
  }
}

function moveTo(doc: unknown, o: Operation): unknown {
  const from = o.from ?? [];
  if (from.length < o.path.length && from.every((t, k) => t === o.path[k])) {
    throw fail(o.i, o.op, "'from' must not be a proper prefix of 'path'");
  }
  const value = valueAt(doc, from, o, 'from');
  return addAt(removeAt(doc, from, o), o.path, value, o);
}

function testAt(doc: unknown, o: Operation): unknown {
  const found = lookup(doc, o.path);
  if (!found.exists || !jsonEqual(found.value, o.value)) {
    throw conflict(`JSON Patch operation ${o.i} (test) failed: value at '${pointerText(o.path)}' does not match`);
  }
  return doc;
}

/** The container holding the last token of `path`; every step on the way must exist. */
function parentOf(doc: unknown, path: string[], o: Operation): Json | unknown[] {
  const found = lookup(doc, path.slice(0, -1));
  if (!found.exists) throw fail(o.i, o.op, `path '${pointerText(path)}' does not exist`);
  if (!isObject(found.value) && !Array.isArray(found.value)) {
    throw fail(o.i, o.op, `path '${pointerText(path)}' does not lead into an object or array`);
  }
  return found.value;
}

function arrayIndex(token: string, length: number, o: Operation, allowEnd: boolean): number {
  if (allowEnd && token === '-') return length;
  const index = ARRAY_INDEX.test(token) ? Number(token) : NaN;
  if (!(index < length + (allowEnd ? 1 : 0))) {
    throw fail(o.i, o.op, `array index '${token}' is out of range (length ${length})`);
  }
  return index;
}

function addAt(doc: unknown, path: string[], value: unknown, o: Operation): unknown {
  if (path.length === 0) return value;
  const parent = parentOf(doc, path, o);
  const token = path[path.length - 1] as string;
  if (Array.isArray(parent)) parent.splice(arrayIndex(token, parent.length, o, true), 0, value);
  else setOwn(parent, token, value);
  return doc;
}

function removeAt(doc: unknown, path: string[], o: Operation): unknown {
  if (path.length === 0) throw fail(o.i, o.op, 'cannot remove the whole document');
  const parent = parentOf(doc, path, o);
  const token = path[path.length - 1] as string;
  if (Array.isArray(parent)) parent.splice(arrayIndex(token, parent.length, o, false), 1);
  else if (Object.hasOwn(parent, token)) delete parent[token];
  else throw fail(o.i, o.op, `path '${pointerText(path)}' does not exist`);
  return doc;
}

function replaceAt(doc: unknown, path: string[], value: unknown, o: Operation): unknown {
  if (path.length === 0) return value;
  valueAt(doc, path, o, 'path');
  const parent = parentOf(doc, path, o);
  const token = path[path.length - 1] as string;
  if (Array.isArray(parent)) parent[arrayIndex(token, parent.length, o, false)] = value;
  else setOwn(parent, token, value);
  return doc;
}

function valueAt(doc: unknown, path: string[], o: Operation, what: 'path' | 'from'): unknown {
  const found = lookup(doc, path);
  if (!found.exists) throw fail(o.i, o.op, `${what} '${pointerText(path)}' does not exist`);
  return found.value;
}

function lookup(doc: unknown, path: string[]): { exists: boolean; value?: unknown } {
  let current = doc;
  for (const token of path) {
    if (Array.isArray(current) && ARRAY_INDEX.test(token) && Number(token) < current.length) {
      current = current[Number(token)];
    } else if (isObject(current) && Object.hasOwn(current, token)) {
      current = current[token];
    } else {
      return { exists: false };
    }
  }
  return { exists: true, value: current };
}

/** Own data property, so a token like '__proto__' can never reach the prototype chain. */
function setOwn(target: Json, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
}

/** RFC 6902 §4.6 equality: same JSON type and value; object member order is irrelevant. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, k) => jsonEqual(x, b[k]));
  }
  if (isObject(a) && isObject(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]));
  }
  return a === b;
}

const pointerText = (path: string[]) => path.map((t) => '/' + t.replaceAll('~', '~0').replaceAll('/', '~1')).join('');
