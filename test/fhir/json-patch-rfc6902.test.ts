/**
 * RFC 6902 conformance of src/fhir/json-patch.ts: every example of Appendix A, then cases written from the text of
 * §4 (operations), §5 (error handling) and RFC 6901 (JSON Pointer), in the manner of the json-patch-tests
 * "spec_tests", plus prototype-pollution paths. — https://www.rfc-editor.org/rfc/rfc6902
 */
import t, { type Test } from 'tap';
import { FhirError } from '../../src/errors.js';
import { applyJsonPatch } from '../../src/fhir/json-patch.js';
import type { Resource } from '../../src/fhir/types.js';

/** A case: the document, the patch, and either the expected result or the status the patch must fail with. */
interface Case { comment: string; doc: object; patch: unknown; expected?: unknown; error?: 400 | 409 }

const run = (c: Case) => applyJsonPatch(structuredClone(c.doc) as Resource, structuredClone(c.patch));

function check(t: Test, cases: Case[]): void {
  for (const c of cases) {
    if (c.error === undefined) {
      t.strictSame(run(c), c.expected, c.comment);
      continue;
    }
    try {
      run(c);
      t.fail(`${c.comment}: expected an error ${c.error}`);
    } catch (e) {
      t.ok(e instanceof FhirError, `${c.comment}: a FhirError`);
      t.equal((e as FhirError).status, c.error, c.comment);
    }
  }
}

t.test('RFC 6902 Appendix A', async (t) => {
  check(t, [
    { comment: 'A.1 adding an object member', doc: { foo: 'bar' }, patch: [{ op: 'add', path: '/baz', value: 'qux' }],
      expected: { baz: 'qux', foo: 'bar' } },
    { comment: 'A.2 adding an array element', doc: { foo: ['bar', 'baz'] }, patch: [{ op: 'add', path: '/foo/1', value: 'qux' }],
      expected: { foo: ['bar', 'qux', 'baz'] } },
    { comment: 'A.3 removing an object member', doc: { baz: 'qux', foo: 'bar' }, patch: [{ op: 'remove', path: '/baz' }],
      expected: { foo: 'bar' } },
    { comment: 'A.4 removing an array element', doc: { foo: ['bar', 'qux', 'baz'] }, patch: [{ op: 'remove', path: '/foo/1' }],
      expected: { foo: ['bar', 'baz'] } },
    { comment: 'A.5 replacing a value', doc: { baz: 'qux', foo: 'bar' }, patch: [{ op: 'replace', path: '/baz', value: 'boo' }],
      expected: { baz: 'boo', foo: 'bar' } },
    { comment: 'A.6 moving a value', doc: { foo: { bar: 'baz', waldo: 'fred' }, qux: { corge: 'grault' } },
      patch: [{ op: 'move', from: '/foo/waldo', path: '/qux/thud' }],
      expected: { foo: { bar: 'baz' }, qux: { corge: 'grault', thud: 'fred' } } },
    { comment: 'A.7 moving an array element', doc: { foo: ['all', 'grass', 'cows', 'eat'] },
      patch: [{ op: 'move', from: '/foo/1', path: '/foo/3' }], expected: { foo: ['all', 'cows', 'eat', 'grass'] } },
    { comment: 'A.8 testing a value: success', doc: { baz: 'qux', foo: ['a', 2, 'c'] },
      patch: [{ op: 'test', path: '/baz', value: 'qux' }, { op: 'test', path: '/foo/1', value: 2 }],
      expected: { baz: 'qux', foo: ['a', 2, 'c'] } },
    { comment: 'A.9 testing a value: error', doc: { baz: 'qux' }, patch: [{ op: 'test', path: '/baz', value: 'bar' }], error: 409 },
    { comment: 'A.10 adding a nested member object', doc: { foo: 'bar' },
      patch: [{ op: 'add', path: '/child', value: { grandchild: {} } }], expected: { foo: 'bar', child: { grandchild: {} } } },
    { comment: 'A.11 ignoring unrecognized elements', doc: { foo: 'bar' },
      patch: [{ op: 'add', path: '/baz', value: 'qux', xyz: 123 }], expected: { foo: 'bar', baz: 'qux' } },
    { comment: 'A.12 adding to a nonexistent target', doc: { foo: 'bar' },
      patch: [{ op: 'add', path: '/baz/bat', value: 'qux' }], error: 400 },
    // A.13 (an operation with two "op" members) is a parser question: JSON.parse keeps the last member, which here
    // makes the operation a remove of a member that does not exist — still an error, as the RFC requires.
    { comment: 'A.13 invalid JSON Patch document', doc: { foo: 'bar' },
      patch: JSON.parse('[{ "op": "add", "path": "/baz", "value": "qux", "op": "remove" }]'), error: 400 },
    { comment: 'A.14 ~ escape ordering', doc: { '/': 9, '~1': 10 }, patch: [{ op: 'test', path: '/~01', value: 10 }],
      expected: { '/': 9, '~1': 10 } },
    { comment: 'A.15 comparing strings and numbers', doc: { '/': 9, '~1': 10 },
      patch: [{ op: 'test', path: '/~01', value: '10' }], error: 409 },
    { comment: 'A.16 adding an array value', doc: { foo: ['bar'] }, patch: [{ op: 'add', path: '/foo/-', value: ['abc', 'def'] }],
      expected: { foo: ['bar', ['abc', 'def']] } },
  ]);
});

t.test('§4.1 add', async (t) => {
  check(t, [
    { comment: 'replaces an existing member', doc: { foo: 1 }, patch: [{ op: 'add', path: '/foo', value: 2 }], expected: { foo: 2 } },
    { comment: "'' replaces the whole document", doc: { foo: 1 }, patch: [{ op: 'add', path: '', value: { bar: 2 } }],
      expected: { bar: 2 } },
    { comment: 'the empty-string member', doc: { foo: 1 }, patch: [{ op: 'add', path: '/', value: 2 }], expected: { foo: 1, '': 2 } },
    { comment: 'a member named by digits inside an object', doc: { foo: {} }, patch: [{ op: 'add', path: '/foo/1', value: 'x' }],
      expected: { foo: { 1: 'x' } } },
    { comment: 'null is a value', doc: { foo: 1 }, patch: [{ op: 'add', path: '/bar', value: null }], expected: { foo: 1, bar: null } },
    { comment: 'falsy values are values', doc: {}, patch: [{ op: 'add', path: '/a', value: false }, { op: 'add', path: '/b', value: 0 },
      { op: 'add', path: '/c', value: '' }], expected: { a: false, b: 0, c: '' } },
    { comment: 'into an array at index 0', doc: { foo: [1, 2] }, patch: [{ op: 'add', path: '/foo/0', value: 0 }],
      expected: { foo: [0, 1, 2] } },
    { comment: 'into an array at its length (append)', doc: { foo: [1, 2] }, patch: [{ op: 'add', path: '/foo/2', value: 3 }],
      expected: { foo: [1, 2, 3] } },
    { comment: "'-' appends", doc: { foo: [] }, patch: [{ op: 'add', path: '/foo/-', value: 'x' }], expected: { foo: ['x'] } },
    { comment: 'into a nested array', doc: { foo: [[1]] }, patch: [{ op: 'add', path: '/foo/0/-', value: 2 }],
      expected: { foo: [[1, 2]] } },
    { comment: 'an index past the end fails', doc: { foo: [1, 2] }, patch: [{ op: 'add', path: '/foo/3', value: 3 }], error: 400 },
    { comment: 'a negative index fails', doc: { foo: [1, 2] }, patch: [{ op: 'add', path: '/foo/-1', value: 3 }], error: 400 },
    { comment: 'a leading zero fails (RFC 6901 §4)', doc: { foo: [1, 2] }, patch: [{ op: 'add', path: '/foo/01', value: 3 }],
      error: 400 },
    { comment: 'an exponent is not an index', doc: { foo: [1, 2] }, patch: [{ op: 'add', path: '/foo/1e0', value: 3 }], error: 400 },
    { comment: 'a word is not an index', doc: { foo: [1, 2] }, patch: [{ op: 'add', path: '/foo/bar', value: 3 }], error: 400 },
    { comment: 'the parent must exist', doc: { foo: 1 }, patch: [{ op: 'add', path: '/bar/baz', value: 1 }], error: 400 },
    { comment: 'the parent must be a container', doc: { foo: 'x' }, patch: [{ op: 'add', path: '/foo/bar', value: 1 }], error: 400 },
    { comment: 'the value member is required', doc: {}, patch: [{ op: 'add', path: '/a' }], error: 400 },
  ]);
});

t.test('§4.2 remove', async (t) => {
  check(t, [
    { comment: 'an object member', doc: { foo: 1, bar: [1, 2] }, patch: [{ op: 'remove', path: '/bar' }], expected: { foo: 1 } },
    { comment: 'an array element shifts the rest left', doc: { foo: [1, 2, 3] }, patch: [{ op: 'remove', path: '/foo/0' }],
      expected: { foo: [2, 3] } },
    { comment: 'a nested member', doc: { foo: { bar: { baz: 1, qux: 2 } } }, patch: [{ op: 'remove', path: '/foo/bar/baz' }],
      expected: { foo: { bar: { qux: 2 } } } },
    { comment: 'a member whose value is null', doc: { foo: null }, patch: [{ op: 'remove', path: '/foo' }], expected: {} },
    { comment: 'the target must exist', doc: { foo: 1 }, patch: [{ op: 'remove', path: '/bar' }], error: 400 },
    { comment: 'an index past the end fails', doc: { foo: [1] }, patch: [{ op: 'remove', path: '/foo/1' }], error: 400 },
    { comment: "'-' names no element", doc: { foo: [1] }, patch: [{ op: 'remove', path: '/foo/-' }], error: 400 },
  ]);
});

t.test('§4.3 replace', async (t) => {
  check(t, [
    { comment: 'an object member', doc: { foo: 1 }, patch: [{ op: 'replace', path: '/foo', value: [1] }], expected: { foo: [1] } },
    { comment: 'an array element', doc: { foo: [1, 2] }, patch: [{ op: 'replace', path: '/foo/1', value: 3 }],
      expected: { foo: [1, 3] } },
    { comment: 'with null', doc: { foo: 1 }, patch: [{ op: 'replace', path: '/foo', value: null }], expected: { foo: null } },
    { comment: "'' replaces the whole document", doc: { foo: 1 }, patch: [{ op: 'replace', path: '', value: { bar: 1 } }],
      expected: { bar: 1 } },
    { comment: 'the target must exist', doc: { foo: 1 }, patch: [{ op: 'replace', path: '/bar', value: 1 }], error: 400 },
    { comment: 'an index past the end fails', doc: { foo: [1] }, patch: [{ op: 'replace', path: '/foo/1', value: 1 }], error: 400 },
    { comment: 'the value member is required', doc: { foo: 1 }, patch: [{ op: 'replace', path: '/foo' }], error: 400 },
  ]);
});

t.test('§4.4 move', async (t) => {
  check(t, [
    { comment: 'to a new member', doc: { foo: 1 }, patch: [{ op: 'move', from: '/foo', path: '/bar' }], expected: { bar: 1 } },
    { comment: 'over an existing member', doc: { foo: 1, bar: 2 }, patch: [{ op: 'move', from: '/foo', path: '/bar' }],
      expected: { bar: 1 } },
    { comment: 'onto itself', doc: { foo: 1 }, patch: [{ op: 'move', from: '/foo', path: '/foo' }], expected: { foo: 1 } },
    { comment: 'out of an array into an object', doc: { foo: [1, 2], bar: {} }, patch: [{ op: 'move', from: '/foo/0', path: '/bar/x' }],
      expected: { foo: [2], bar: { x: 1 } } },
    { comment: 'to the end of an array', doc: { foo: [1, 2, 3] }, patch: [{ op: 'move', from: '/foo/0', path: '/foo/-' }],
      expected: { foo: [2, 3, 1] } },
    { comment: 'into a sibling', doc: { foo: { a: 1 }, bar: { b: 2 } }, patch: [{ op: 'move', from: '/foo', path: '/bar/foo' }],
      expected: { bar: { b: 2, foo: { a: 1 } } } },
    { comment: 'from must exist', doc: { foo: 1 }, patch: [{ op: 'move', from: '/bar', path: '/baz' }], error: 400 },
    { comment: 'from must not be a proper prefix of path', doc: { foo: { bar: 1 } },
      patch: [{ op: 'move', from: '/foo', path: '/foo/bar/baz' }], error: 400 },
    { comment: 'the from member is required', doc: { foo: 1 }, patch: [{ op: 'move', path: '/bar' }], error: 400 },
  ]);
});

t.test('§4.5 copy', async (t) => {
  check(t, [
    { comment: 'to a new member', doc: { foo: { a: 1 } }, patch: [{ op: 'copy', from: '/foo', path: '/bar' }],
      expected: { foo: { a: 1 }, bar: { a: 1 } } },
    { comment: 'into an array', doc: { foo: [1, 2] }, patch: [{ op: 'copy', from: '/foo/0', path: '/foo/-' }],
      expected: { foo: [1, 2, 1] } },
    { comment: 'into its own subtree', doc: { foo: { a: 1 } }, patch: [{ op: 'copy', from: '/foo', path: '/foo/b' }],
      expected: { foo: { a: 1, b: { a: 1 } } } },
    { comment: 'the copy is independent of the original', doc: { foo: { a: 1 } },
      patch: [{ op: 'copy', from: '/foo', path: '/bar' }, { op: 'replace', path: '/bar/a', value: 2 }],
      expected: { foo: { a: 1 }, bar: { a: 2 } } },
    { comment: 'from must exist', doc: { foo: 1 }, patch: [{ op: 'copy', from: '/bar', path: '/baz' }], error: 400 },
    { comment: 'the from member is required', doc: { foo: 1 }, patch: [{ op: 'copy', path: '/bar' }], error: 400 },
  ]);
});

t.test('§4.6 test', async (t) => {
  const doc = { s: 'x', n: 1, t: true, f: false, z: null, a: [1, 'b', { c: 1 }], o: { p: 1, q: [2] }, '': 'empty' };
  check(t, [
    { comment: 'every JSON type', doc, expected: doc, patch: [
      { op: 'test', path: '/s', value: 'x' }, { op: 'test', path: '/n', value: 1 }, { op: 'test', path: '/t', value: true },
      { op: 'test', path: '/f', value: false }, { op: 'test', path: '/z', value: null },
      { op: 'test', path: '/a', value: [1, 'b', { c: 1 }] }, { op: 'test', path: '/o', value: { q: [2], p: 1 } },
      { op: 'test', path: '/', value: 'empty' }, { op: 'test', path: '', value: doc }] },
    { comment: '1 and 1.0 are the same number', doc, expected: doc, patch: JSON.parse('[{ "op": "test", "path": "/n", "value": 1.0 }]') },
    { comment: 'array order matters', doc, patch: [{ op: 'test', path: '/a', value: ['b', 1, { c: 1 }] }], error: 409 },
    { comment: 'an extra member differs', doc, patch: [{ op: 'test', path: '/o', value: { p: 1, q: [2], r: 3 } }], error: 409 },
    { comment: 'a missing member differs', doc, patch: [{ op: 'test', path: '/o', value: { p: 1 } }], error: 409 },
    { comment: 'null is not false', doc, patch: [{ op: 'test', path: '/z', value: false }], error: 409 },
    { comment: 'false is not 0', doc, patch: [{ op: 'test', path: '/f', value: 0 }], error: 409 },
    { comment: 'an array is not an object with index keys', doc, patch: [{ op: 'test', path: '/o/q', value: { 0: 2 } }], error: 409 },
    { comment: 'a missing target fails', doc, patch: [{ op: 'test', path: '/missing', value: null }], error: 409 },
    { comment: 'the value member is required', doc, patch: [{ op: 'test', path: '/s' }], error: 400 },
  ]);
});

t.test('§4 operation objects and RFC 6901 pointers', async (t) => {
  check(t, [
    { comment: 'unknown op', doc: {}, patch: [{ op: 'spam', path: '/a', value: 1 }], error: 400 },
    { comment: 'missing op', doc: {}, patch: [{ path: '/a', value: 1 }], error: 400 },
    { comment: 'missing path', doc: {}, patch: [{ op: 'add', value: 1 }], error: 400 },
    { comment: 'path not a string', doc: {}, patch: [{ op: 'add', path: ['a'], value: 1 }], error: 400 },
    { comment: 'from not a string', doc: { a: 1 }, patch: [{ op: 'copy', from: 1, path: '/b' }], error: 400 },
    { comment: 'a pointer must start with /', doc: { a: 1 }, patch: [{ op: 'remove', path: 'a' }], error: 400 },
    { comment: "'~' must be followed by 0 or 1", doc: { 'a~2': 1 }, patch: [{ op: 'remove', path: '/a~2' }], error: 400 },
    { comment: "a trailing '~' is invalid", doc: { 'a~': 1 }, patch: [{ op: 'remove', path: '/a~' }], error: 400 },
    { comment: '~1 is /, ~0 is ~', doc: { 'a/b': 1, 'c~d': 2 },
      patch: [{ op: 'move', from: '/a~1b', path: '/c~0d' }], expected: { 'c~d': 1 } },
    { comment: 'a trailing slash names the empty-string member', doc: { foo: { '': 1 } },
      patch: [{ op: 'replace', path: '/foo/', value: 2 }], expected: { foo: { '': 2 } } },
    { comment: 'the document is not an array of operations', doc: {}, patch: { op: 'add', path: '/a', value: 1 }, error: 400 },
    { comment: 'an operation is not an object', doc: {}, patch: ['add'], error: 400 },
    { comment: 'an empty patch changes nothing', doc: { a: 1 }, patch: [], expected: { a: 1 } },
  ]);
});

t.test('§5 a patch applies whole or not at all, and never touches its input', async (t) => {
  const doc = { foo: [1, 2], bar: { baz: 1 } } as unknown as Resource;
  const patch = [{ op: 'add', path: '/foo/-', value: 3 }, { op: 'remove', path: '/bar/baz' }, { op: 'remove', path: '/missing' }];
  const before = structuredClone(doc);
  t.throws(() => applyJsonPatch(doc, patch));
  t.strictSame(doc, before, 'the earlier operations left no trace on the input');
  const ok = applyJsonPatch(doc, patch.slice(0, 2));
  t.strictSame(ok, { foo: [1, 2, 3], bar: {} });
  t.strictSame(doc, before, 'a successful patch returns a new document');
  t.not(ok.foo, doc.foo, 'sharing no arrays with the input');
  const failed = [{ op: 'replace', path: '/foo/0', value: 9 }, { op: 'test', path: '/foo/0', value: 1 }];
  t.equal((() => { try { applyJsonPatch(doc, failed); } catch (e) { return (e as FhirError).status; } return 0; })(), 409);
  t.strictSame(doc, before, 'a failed test undoes nothing because nothing was done to the input');
});

t.test('prototype pollution: __proto__, constructor and prototype never reach a prototype', async (t) => {
  const resource = () => ({ resourceType: 'Patient', id: 'p1', name: [{ family: 'X' }] }) as Resource;
  const attempts: [string, unknown[]][] = [
    ['add below __proto__', [{ op: 'add', path: '/__proto__/polluted', value: true }]],
    ['add below constructor/prototype', [{ op: 'add', path: '/constructor/prototype/polluted', value: true }]],
    ['add below constructor', [{ op: 'add', path: '/constructor/polluted', value: true }]],
    ['replace a static of Object', [{ op: 'replace', path: '/constructor/keys', value: 'x' }]],
    ['add below an array element prototype', [{ op: 'add', path: '/name/__proto__/polluted', value: true }]],
    ['add below a nested __proto__', [{ op: 'add', path: '/name/0/__proto__/polluted', value: true }]],
    ['copy into __proto__', [{ op: 'copy', from: '/name/0', path: '/__proto__/polluted' }]],
    ['move into constructor', [{ op: 'move', from: '/id', path: '/constructor/prototype/polluted' }]],
    ['remove an inherited member', [{ op: 'remove', path: '/toString' }]],
    ['replace an inherited member', [{ op: 'replace', path: '/hasOwnProperty', value: 1 }]],
    ['copy from an inherited member', [{ op: 'copy', from: '/constructor', path: '/x' }]],
  ];
  const keys = Object.keys;
  for (const [name, patch] of attempts) {
    let status = 0;
    try {
      applyJsonPatch(resource(), patch);
    } catch (e) {
      status = e instanceof FhirError ? e.status : -1;
    }
    t.equal(status, 400, `${name} is refused as a path that does not exist`);
  }
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype untouched');
  t.equal(([] as unknown as Record<string, unknown>).polluted, undefined, 'Array.prototype untouched');
  t.equal((Object as unknown as Record<string, unknown>).polluted, undefined, 'Object untouched');
  t.equal(Object.keys, keys, 'Object.keys untouched');
  t.equal(((): number => {
    try {
      applyJsonPatch(resource(), [{ op: 'test', path: '/constructor', value: {} }]);
    } catch (e) {
      return (e as FhirError).status;
    }
    return 0;
  })(), 409, 'test of an inherited member finds nothing there');

  const own = applyJsonPatch(resource(), [{ op: 'add', path: '/__proto__', value: { polluted: true } },
    { op: 'add', path: '/__proto__/more', value: 1 }, { op: 'add', path: '/constructor', value: { prototype: {} } },
    { op: 'add', path: '/constructor/prototype/polluted', value: true }]);
  t.ok(Object.hasOwn(own, '__proto__') && Object.hasOwn(own, 'constructor'), 'added as ordinary own members');
  t.equal(Object.getPrototypeOf(own), Object.prototype, 'the prototype is unchanged');
  t.strictSame(JSON.parse(JSON.stringify(own)).__proto__, { polluted: true, more: 1 }, 'and serialized as data');
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype still untouched');
});
