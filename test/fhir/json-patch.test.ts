import t from 'tap';
import { FhirError } from '../../src/errors.js';
import { applyJsonPatch, assertIdentityUnchanged, jsonEqual } from '../../src/fhir/json-patch.js';
import type { Resource } from '../../src/fhir/types.js';

const patient = (): Resource => ({
  resourceType: 'Patient', id: 'p1', active: true, gender: 'female',
  name: [{ family: 'Chalmers', given: ['Peter', 'James'] }],
  telecom: [{ system: 'phone', value: '555' }],
});

/** Runs `fn`, expecting a FhirError; returns it for status/issue assertions. */
function failure(fn: () => unknown): FhirError {
  try {
    fn();
  } catch (e) {
    if (e instanceof FhirError) return e;
    throw e;
  }
  throw new Error('expected a FhirError');
}

const asDoc = (doc: object) => doc as unknown as Resource;

t.test('add', async (t) => {
  t.same(applyJsonPatch(patient(), [{ op: 'add', path: '/birthDate', value: '1974-12-25' }]).birthDate, '1974-12-25');
  t.same(applyJsonPatch(patient(), [{ op: 'add', path: '/name/0/given/1', value: 'X' }]).name,
    [{ family: 'Chalmers', given: ['Peter', 'X', 'James'] }]);
  t.same(applyJsonPatch(patient(), [{ op: 'add', path: '/name/0/given/-', value: 'Y' }]).name,
    [{ family: 'Chalmers', given: ['Peter', 'James', 'Y'] }]);
  t.same(applyJsonPatch(patient(), [{ op: 'add', path: '/name/0/given/2', value: 'Z' }]).name,
    [{ family: 'Chalmers', given: ['Peter', 'James', 'Z'] }], 'index equal to length appends');
  t.equal(applyJsonPatch(patient(), [{ op: 'add', path: '/gender', value: 'male' }]).gender, 'male', 'existing member is replaced');
  t.equal(applyJsonPatch(patient(), [{ op: 'add', path: '/deceasedBoolean', value: null }]).deceasedBoolean, null, 'null is a value');
  t.same(applyJsonPatch(patient(), [{ op: 'add', path: '', value: { resourceType: 'Patient', id: 'p1' } }]),
    { resourceType: 'Patient', id: 'p1' }, "'' replaces the whole document");
});

t.test('remove', async (t) => {
  const out = applyJsonPatch(patient(), [{ op: 'remove', path: '/active' }, { op: 'remove', path: '/name/0/given/0' }]);
  t.notOk('active' in out);
  t.same(out.name, [{ family: 'Chalmers', given: ['James'] }]);
});

t.test('replace', async (t) => {
  const out = applyJsonPatch(patient(), [
    { op: 'replace', path: '/gender', value: 'other' },
    { op: 'replace', path: '/telecom/0', value: { system: 'email', value: 'a@b.c' } },
  ]);
  t.equal(out.gender, 'other');
  t.same(out.telecom, [{ system: 'email', value: 'a@b.c' }]);
});

t.test('move', async (t) => {
  const out = applyJsonPatch(patient(), [
    { op: 'move', from: '/name/0/given/1', path: '/name/0/given/0' },
    { op: 'move', from: '/gender', path: '/extension' },
  ]);
  t.same(out.name, [{ family: 'Chalmers', given: ['James', 'Peter'] }]);
  t.equal(out.extension, 'female');
  t.notOk('gender' in out);
  t.same(applyJsonPatch(patient(), [{ op: 'move', from: '/gender', path: '/gender' }]), patient(), 'move onto itself is a no-op');
});

t.test('copy', async (t) => {
  const out = applyJsonPatch(patient(), [{ op: 'copy', from: '/name/0', path: '/name/-' }]);
  t.same(out.name, [{ family: 'Chalmers', given: ['Peter', 'James'] }, { family: 'Chalmers', given: ['Peter', 'James'] }]);
  (out.name as { family: string }[])[1]!.family = 'Changed';
  t.equal((out.name as { family: string }[])[0]!.family, 'Chalmers', 'the copy is independent of its source');
});

t.test('test op passes on deep equality, ignoring object key order', async (t) => {
  const out = applyJsonPatch(patient(), [
    { op: 'test', path: '/name/0', value: { given: ['Peter', 'James'], family: 'Chalmers' } },
    { op: 'test', path: '/active', value: true },
    { op: 'replace', path: '/active', value: false },
  ]);
  t.equal(out.active, false);
});

t.test('failed test → 409 conflict', async (t) => {
  for (const op of [
    { op: 'test', path: '/gender', value: 'male' },
    { op: 'test', path: '/name/0/given', value: ['James', 'Peter'] },
    { op: 'test', path: '/active', value: 'true' },
    { op: 'test', path: '/birthDate', value: '1974-12-25' },
  ]) {
    const e = failure(() => applyJsonPatch(patient(), [{ op: 'add', path: '/language', value: 'en' }, op]));
    t.equal(e.status, 409, JSON.stringify(op));
    t.equal(e.issue, 'conflict');
    t.match(e.message, /operation 1 \(test\)/);
  }
});

t.test('the input resource and patch values are never modified', async (t) => {
  const input = patient();
  const value = { system: 'email', value: 'x@y.z' };
  const out = applyJsonPatch(input, [{ op: 'add', path: '/telecom/-', value }, { op: 'remove', path: '/name' }]);
  t.same(input, patient());
  (out.telecom as object[])[1] = {};
  t.same(value, { system: 'email', value: 'x@y.z' });
});

t.test('JSON Pointer escapes: ~1 is /, ~0 is ~ (RFC 6901 §4)', async (t) => {
  const doc = asDoc({ 'a/b': 1, 'm~n': 2, '~01': 3 });
  t.same(applyJsonPatch(doc, [
    { op: 'replace', path: '/a~1b', value: 10 },
    { op: 'replace', path: '/m~0n', value: 20 },
    { op: 'remove', path: '/~001' },
  ]), { 'a/b': 10, 'm~n': 20 });
});

t.test('RFC 6902 appendix A examples', async (t) => {
  t.same(applyJsonPatch(asDoc({ foo: 'bar' }), [{ op: 'add', path: '/baz', value: 'qux' }]), { foo: 'bar', baz: 'qux' });
  t.same(applyJsonPatch(asDoc({ foo: ['bar', 'baz'] }), [{ op: 'add', path: '/foo/1', value: 'qux' }]),
    { foo: ['bar', 'qux', 'baz'] });
  t.same(applyJsonPatch(asDoc({ foo: { bar: 'baz', waldo: 'fred' }, qux: { corge: 'grault' } }),
    [{ op: 'move', from: '/foo/waldo', path: '/qux/thud' }]),
  { foo: { bar: 'baz' }, qux: { corge: 'grault', thud: 'fred' } });
  t.same(applyJsonPatch(asDoc({ '/': 9, '~1': 10 }), [{ op: 'test', path: '/~01', value: 10 }]), { '/': 9, '~1': 10 });
  t.same(applyJsonPatch(asDoc({ foo: ['bar'] }), [{ op: 'add', path: '/foo/-', value: ['abc', 'def'] }]),
    { foo: ['bar', ['abc', 'def']] });
  t.equal(failure(() => applyJsonPatch(asDoc({ baz: 'qux' }), [{ op: 'test', path: '/baz', value: 'bar' }])).status, 409);
  t.equal(failure(() => applyJsonPatch(asDoc({ foo: 'bar' }), [{ op: 'add', path: '/baz/bat', value: 'qux' }])).status, 400);
});

t.test('malformed patch documents → 400 invalid naming the operation index', async (t) => {
  const cases: [string, unknown, RegExp][] = [
    ['not an array', { op: 'add', path: '/a', value: 1 }, /must be an array/],
    ['operation not an object', ['add'], /operation 0 must be an object/],
    ['op missing', [{ path: '/a', value: 1 }], /operation 0 has no 'op'/],
    ['unknown op', [{ op: 'merge', path: '/a', value: 1 }], /operation 0 has unknown op 'merge'/],
    ['path missing', [{ op: 'remove' }], /operation 0 \(remove\).*'path'/],
    ['path not a string', [{ op: 'remove', path: 3 }], /operation 0 \(remove\).*'path'/],
    ['value missing on add', [{ op: 'add', path: '/a' }], /operation 0 \(add\): missing 'value'/],
    ['value missing on replace', [{ op: 'replace', path: '/gender' }], /missing 'value'/],
    ['value missing on test', [{ op: 'test', path: '/gender' }], /missing 'value'/],
    ['from missing on move', [{ op: 'move', path: '/a' }], /operation 0 \(move\).*'from'/],
    ['from missing on copy', [{ op: 'copy', path: '/a' }], /operation 0 \(copy\).*'from'/],
    ['pointer without leading slash', [{ op: 'remove', path: 'gender' }], /must be empty or start with '\/'/],
    ['bad ~ escape', [{ op: 'remove', path: '/a~2b' }], /invalid '~' escape/],
    ['remove missing member', [{ op: 'remove', path: '/birthDate' }], /'\/birthDate' does not exist/],
    ['remove whole document', [{ op: 'remove', path: '' }], /cannot remove the whole document/],
    ['replace missing member', [{ op: 'replace', path: '/birthDate', value: 'x' }], /does not exist/],
    ['replace below missing member', [{ op: 'replace', path: '/contact/0/name', value: {} }], /does not exist/],
    ['move from missing member', [{ op: 'move', from: '/birthDate', path: '/x' }], /from '\/birthDate' does not exist/],
    ['copy from missing member', [{ op: 'copy', from: '/birthDate', path: '/x' }], /from '\/birthDate' does not exist/],
    ['move into own child', [{ op: 'move', from: '/name', path: '/name/0/x' }], /proper prefix/],
    ['add past the array end', [{ op: 'add', path: '/telecom/2', value: {} }], /index '2' is out of range/],
    ['remove at the array length', [{ op: 'remove', path: '/telecom/1' }], /index '1' is out of range/],
    ['remove with -', [{ op: 'remove', path: '/telecom/-' }], /index '-' is out of range/],
    ['leading zero index', [{ op: 'add', path: '/telecom/01', value: {} }], /index '01' is out of range/],
    ['non-numeric index', [{ op: 'replace', path: '/telecom/x', value: {} }], /does not exist/],
    ['add under missing parent', [{ op: 'add', path: '/contact/0/name', value: {} }], /does not exist/],
    ['add under a primitive', [{ op: 'add', path: '/gender/x', value: 1 }], /does not lead into an object or array/],
    ['root replaced by a non-object', [{ op: 'replace', path: '', value: 'x' }], /resource object/],
  ];
  for (const [name, patch, message] of cases) {
    const e = failure(() => applyJsonPatch(patient(), patch));
    t.equal(e.status, 400, name);
    t.equal(e.issue, 'invalid', name);
    t.match(e.message, message, name);
  }
  t.match(failure(() => applyJsonPatch(patient(), [{ op: 'test', path: '/active', value: true }, { op: 'remove', path: '/x' }])).message,
    /operation 1 \(remove\)/, 'the index is of the failing operation');
});

t.test("a '__proto__' token is an ordinary member, never the prototype", async (t) => {
  const out = applyJsonPatch(patient(), [{ op: 'add', path: '/__proto__', value: { polluted: true } }]);
  t.ok(Object.hasOwn(out, '__proto__'));
  t.equal(({} as { polluted?: boolean }).polluted, undefined);
  t.equal((out as { polluted?: boolean }).polluted, undefined);
});

t.test('jsonEqual follows JSON value semantics', async (t) => {
  t.ok(jsonEqual({ a: [1, { b: null }] }, { a: [1, { b: null }] }));
  t.notOk(jsonEqual({ a: 1 }, { a: 1, b: undefined }));
  t.notOk(jsonEqual([1], { 0: 1 }));
  t.notOk(jsonEqual(1, '1'));
});

t.test('assertIdentityUnchanged', async (t) => {
  t.doesNotThrow(() => assertIdentityUnchanged(patient(), { ...patient(), gender: 'male' }));
  for (const after of [{ ...patient(), id: 'p2' }, { ...patient(), resourceType: 'Person' }, { resourceType: 'Patient' }]) {
    const e = failure(() => assertIdentityUnchanged(patient(), after));
    t.equal(e.status, 400);
    t.equal(e.issue, 'invalid');
  }
  const patched = applyJsonPatch(patient(), [{ op: 'replace', path: '/id', value: 'other' }]);
  t.equal(failure(() => assertIdentityUnchanged(patient(), patched)).status, 400, 'the caller catches id changes');
});
