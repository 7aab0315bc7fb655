import t from 'tap';
import { FhirError } from '../../src/errors.js';
import { applyFhirPathPatch, assertIdentityUnchanged } from '../../src/fhir/fhirpath-patch.js';
import type { Resource } from '../../src/fhir/types.js';

type Part = Record<string, unknown>;
type Asserts = Pick<typeof t, 'equal' | 'match'>;

/** One `operation` parameter; `parts` maps part name → the part's value[x]/part/resource members. */
const operation = (type: string, parts: Record<string, Part> = {}) => ({
  name: 'operation',
  part: [{ name: 'type', valueCode: type }, ...Object.entries(parts).map(([name, part]) => ({ name, ...part }))],
});
const parameters = (...ops: object[]): Resource => ({ resourceType: 'Parameters', parameter: ops });
const path = (p: string) => ({ valueString: p });
const int = (i: number) => ({ valueInteger: i });

const patient = (): Resource => ({
  resourceType: 'Patient', id: 'example', active: true, birthDate: '1974-12-25', deceasedBoolean: false,
  identifier: [{ system: 'urn:a', value: '1' }, { system: 'urn:b', value: '2' }, { system: 'urn:c', value: '3' }],
  name: [{ use: 'official', family: 'Chalmers', given: ['Peter', 'James'], _given: [null, { id: 'g2' }] }],
  contact: [{ name: { text: 'Bénédicte' }, relationship: [{ text: 'partner' }] }],
  contained: [{ resourceType: 'Practitioner', id: 'gp', name: [{ family: 'Careful' }] }],
  generalPractitioner: [{ reference: '#gp' }],
});

const patch = (resource: Resource, ...ops: object[]) => applyFhirPathPatch(resource, parameters(...ops));

function failure(fn: () => unknown): FhirError {
  try {
    fn();
  } catch (e) {
    if (e instanceof FhirError) return e;
    throw e;
  }
  throw new Error('expected a FhirError');
}

function rejects(t: Asserts, fn: () => unknown, status: number, issue: string, message: RegExp): void {
  const e = failure(fn);
  t.equal(e.status, status, message.source);
  t.equal(e.issue, issue, message.source);
  t.match(e.message, message);
}

t.test('fhirpatch.html examples', async (t) => {
  const noBirthDate = { resourceType: 'Patient', id: 'example' };
  t.same(patch(noBirthDate, operation('add', { path: path('Patient'), name: path('birthDate'), value: { valueDate: '1930-01-01' } })),
    { resourceType: 'Patient', id: 'example', birthDate: '1930-01-01' }, 'add a primitive');
  t.same(patch(noBirthDate, operation('add', {
    path: path('Patient'), name: path('contact'), value: { part: [{ name: 'name', valueHumanName: { text: 'a name' } }] },
  })).contact, [{ name: { text: 'a name' } }], 'add a backbone element from nested parts');
  t.same(patch(patient(), operation('insert', {
    path: path('Patient.identifier'), index: int(1), value: { valueIdentifier: { system: 'http://example.org', value: 'new' } },
  })).identifier, [{ system: 'urn:a', value: '1' }, { system: 'http://example.org', value: 'new' },
    { system: 'urn:b', value: '2' }, { system: 'urn:c', value: '3' }], 'insert into a list');
  t.notOk('birthDate' in patch(patient(), operation('delete', { path: path('Patient.birthDate') })), 'delete');
  t.equal(patch(patient(), operation('replace', { path: path('Patient.birthDate'), value: { valueDate: '1930-01-01' } })).birthDate,
    '1930-01-01', 'replace');
  t.same((patch(patient(), operation('move', { path: path('Patient.identifier'), source: int(0), destination: int(2) }))
    .identifier as { value: string }[]).map((i) => i.value), ['2', '3', '1'], 'move');
});

t.test('add', async (t) => {
  const out = patch(patient(),
    operation('add', { path: path('Patient'), name: path('gender'), value: { valueCode: 'male' } }),
    operation('add', { path: path('Patient.name[0]'), name: path('given'), value: { valueString: 'Jim' } }),
    operation('add', { path: path('Patient'), name: path('telecom'), value: { valueContactPoint: { system: 'phone', value: '1' } } }),
    operation('add', { path: path('Patient'), name: path('multipleBirth'), value: { valueInteger: 2 } }));
  t.equal(out.gender, 'male');
  t.same((out.name as Part[])[0], { use: 'official', family: 'Chalmers', given: ['Peter', 'James', 'Jim'], _given: [null, { id: 'g2' }, null] },
    'appends to a list, keeping _given aligned');
  t.same(out.telecom, [{ system: 'phone', value: '1' }], 'a repeating element is created as a list');
  t.equal(out.multipleBirthInteger, 2, 'a choice element gets its type suffix');
  t.same(patch(patient(), operation('add', {
    path: path('Patient'), name: path('extension'),
    value: { part: [{ name: 'url', valueUri: 'http://example.org/x' }, { name: 'value', valueQuantity: { value: 1, unit: 'kg' } }] },
  })).extension, [{ url: 'http://example.org/x', valueQuantity: { value: 1, unit: 'kg' } }], 'nested parts with a choice element');
  t.same(patch(patient(), operation('add', {
    path: path('Patient'), name: path('contained'), value: { resource: { resourceType: 'Organization', id: 'o' } },
  })).contained, [{ resourceType: 'Practitioner', id: 'gp', name: [{ family: 'Careful' }] }, { resourceType: 'Organization', id: 'o' }],
  'a resource value');
});

t.test('insert', async (t) => {
  const out = patch(patient(), operation('insert', { path: path('Patient.name.given'), index: int(0), value: { valueString: 'Pete' } }));
  t.same((out.name as Part[])[0], { use: 'official', family: 'Chalmers', given: ['Pete', 'Peter', 'James'], _given: [null, null, { id: 'g2' }] });
  const empty = patch(patient(), operation('insert', { path: path('Patient.telecom'), index: int(0), value: { valueContactPoint: { value: 'x' } } }));
  t.same(empty.telecom, [{ value: 'x' }], 'into a list that does not exist yet');
  t.equal((patch(patient(), operation('insert', { path: path('Patient.identifier'), index: int(3), value: { valueIdentifier: { value: 'end' } } }))
    .identifier as Part[])[3]!.value, 'end', 'index equal to the length appends');
});

t.test('replace', async (t) => {
  const out = patch(patient(),
    operation('replace', { path: path("Patient.identifier.where(system = 'urn:b')"), value: { valueIdentifier: { value: 'B' } } }),
    operation('replace', { path: path('Patient.name.given[1]'), value: { valueString: 'Jimmy' } }),
    operation('replace', { path: path('Patient.deceased'), value: { valueDateTime: '2020-02-02' } }),
    operation('replace', { path: path('Patient.contact[0].name'), value: { valueHumanName: { family: 'B' } } }));
  t.same((out.identifier as Part[])[1], { value: 'B' });
  t.same((out.name as Part[])[0]!.given, ['Peter', 'Jimmy']);
  t.equal(out.deceasedDateTime, '2020-02-02', 'a choice element may change type');
  t.notOk('deceasedBoolean' in out);
  t.same((out.contact as Part[])[0]!.name, { family: 'B' });
});

t.test('delete', async (t) => {
  const out = patch(patient(),
    operation('delete', { path: path('Patient.identifier[1]') }),
    operation('delete', { path: path('Patient.name.given[1]') }),
    operation('delete', { path: path('Patient.contact.relationship') }),
    operation('delete', { path: path('Patient.contact.name') }),
    operation('delete', { path: path('Patient.telecom') }));
  t.same((out.identifier as Part[]).map((i) => i.value), ['1', '3']);
  t.same((out.name as Part[])[0], { use: 'official', family: 'Chalmers', given: ['Peter'] }, 'the _given entry goes too');
  t.notOk('contact' in out, 'an element left empty is removed, and then its empty list');
  t.same(patch(patient(), operation('delete', { path: path("Patient.identifier.where(system = 'urn:none')") })), patient(),
    'no match is a no-op');
});

t.test('move', async (t) => {
  const out = patch(patient(), operation('move', { path: path('Patient.name.given'), source: int(1), destination: int(0) }));
  t.same((out.name as Part[])[0], { use: 'official', family: 'Chalmers', given: ['James', 'Peter'], _given: [{ id: 'g2' }, null] });
});

t.test('resolve() reaches contained resources only', async (t) => {
  const out = patch(patient(),
    operation('replace', { path: path('Patient.generalPractitioner.resolve().name.family'), value: { valueString: 'Kind' } }));
  t.same(out.contained, [{ resourceType: 'Practitioner', id: 'gp', name: [{ family: 'Kind' }] }]);
  const external = { ...patient(), generalPractitioner: [{ reference: 'Practitioner/1' }] };
  rejects(t, () => patch(external, operation('delete', { path: path('Patient.generalPractitioner.resolve().name') })),
    422, 'processing', /contained resources/);
});

t.test('the input resource is never modified', async (t) => {
  const input = patient();
  patch(input, operation('delete', { path: path('Patient.name') }), operation('add', { path: path('Patient'), name: path('gender'), value: { valueCode: 'male' } }));
  t.same(input, patient());
});

t.test('identity changes are left to the caller', async (t) => {
  const out = patch(patient(), operation('replace', { path: path('Patient.id'), value: { valueId: 'other' } }));
  t.equal(out.id, 'other');
  rejects(t, () => assertIdentityUnchanged(patient(), out), 400, 'invalid', /must not change id/);
});

t.test('malformed Parameters → 400 invalid', async (t) => {
  const cases: [string, Resource, RegExp][] = [
    ['not Parameters', { resourceType: 'Patient' }, /must be a Parameters resource/],
    ['parameter not a list', { resourceType: 'Parameters', parameter: {} }, /must be an array/],
    ['wrong parameter name', parameters({ name: 'op', part: [] }), /operation 0: parameter must be named 'operation'/],
    ['no parts', parameters({ name: 'operation' }), /operation has no parts/],
    ['unknown part', parameters(operation('delete', { path: path('Patient.active'), extra: path('x') })), /unknown part 'extra'/],
    ['repeated part', parameters({ name: 'operation', part: [{ name: 'type', valueCode: 'delete' }, { name: 'type', valueCode: 'delete' }] }),
      /part 'type' is repeated/],
    ['missing type', parameters({ name: 'operation', part: [{ name: 'path', valueString: 'Patient' }] }), /part 'type'/],
    ['unknown type', parameters(operation('upsert', { path: path('Patient') })), /unknown operation type 'upsert'/],
    ['missing path', parameters(operation('delete')), /part 'path'/],
    ['add without name', parameters(operation('add', { path: path('Patient'), value: { valueCode: 'male' } })), /requires part\(s\) name/],
    ['add without value', parameters(operation('add', { path: path('Patient'), name: path('gender') })), /requires part\(s\) value/],
    ['insert without index', parameters(operation('insert', { path: path('Patient.identifier'), value: { valueIdentifier: {} } })), /index/],
    ['replace without value', parameters(operation('replace', { path: path('Patient.active') })), /requires part\(s\) value/],
    ['move without destination', parameters(operation('move', { path: path('Patient.identifier'), source: int(0) })), /destination/],
    ['index not an integer', parameters(operation('insert', { path: path('Patient.identifier'), index: { valueString: '1' }, value: { valueIdentifier: {} } })),
      /valueInteger/],
    ['bad element name', parameters(operation('add', { path: path('Patient'), name: path('__proto__'), value: { valueString: 'x' } })),
      /not an element name/],
    ['value without content', parameters(operation('replace', { path: path('Patient.active'), value: {} })), /no value\[x\], resource or parts/],
    ['two value[x]', parameters(operation('replace', { path: path('Patient.active'), value: { valueBoolean: true, valueString: 'x' } })),
      /more than one value\[x\]/],
    ['unparseable path', parameters(operation('delete', { path: path('Patient.name.where(') })), /cannot evaluate path/],
  ];
  for (const [name, params, message] of cases) {
    const e = failure(() => applyFhirPathPatch(patient(), params));
    t.equal(e.status, 400, name);
    t.equal(e.issue, 'invalid', name);
    t.match(e.message, message, name);
  }
  t.same(failure(() => applyFhirPathPatch(patient(), parameters(operation('delete', { path: path('Patient.active') }), operation('nope'))))
    .expression, ['Parameters.parameter[1]'], 'the failing operation is named');
});

t.test('unprocessable operations → 422 processing', async (t) => {
  const cases: [string, object, RegExp][] = [
    ['replace matching nothing', operation('replace', { path: path('Patient.gender'), value: { valueCode: 'male' } }), /matches 0 elements/],
    ['add under nothing', operation('add', { path: path('Patient.contact[5]'), name: path('gender'), value: { valueCode: 'male' } }),
      /matches 0 elements/],
    ['replace matching several', operation('replace', { path: path('Patient.identifier'), value: { valueIdentifier: {} } }), /matches 3 elements/],
    ['delete matching several', operation('delete', { path: path('Patient.identifier') }), /matches 3 elements/],
    ['move matching nothing', operation('move', { path: path('Patient.name.where(use = \'old\')'), source: int(0), destination: int(0) }),
      /matches nothing/],
    ['insert index past the end', operation('insert', { path: path('Patient.identifier'), index: int(4), value: { valueIdentifier: {} } }),
      /index 4 is out of range/],
    ['insert negative index', operation('insert', { path: path('Patient.identifier'), index: int(-1), value: { valueIdentifier: {} } }),
      /index -1 is out of range/],
    ['move source out of range', operation('move', { path: path('Patient.identifier'), source: int(3), destination: int(0) }), /index 3/],
    ['move destination out of range', operation('move', { path: path('Patient.identifier'), source: int(0), destination: int(3) }), /index 3/],
    ['insert into a single element', operation('insert', { path: path('Patient.birthDate'), index: int(0), value: { valueDate: '2000-01-01' } }),
      /does not select a single list/],
    ['insert into a non-repeating absent element', operation('insert', { path: path('Patient.gender'), index: int(0), value: { valueCode: 'x' } }),
      /is not a list/],
    ['add an existing element', operation('add', { path: path('Patient'), name: path('birthDate'), value: { valueDate: '2000-01-01' } }),
      /already exists; use replace/],
    ['add another type of an existing choice', operation('add', { path: path('Patient'), name: path('deceased'), value: { valueDateTime: '2000' } }),
      /already exists/],
    ['add an unknown element', operation('add', { path: path('Patient'), name: path('nickname'), value: { valueString: 'x' } }),
      /Patient has no element 'nickname'/],
    ['add to a primitive', operation('add', { path: path('Patient.birthDate'), name: path('x'), value: { valueString: 'x' } }),
      /is not an element that can have children/],
    ['wrong primitive type', operation('replace', { path: path('Patient.birthDate'), value: { valueBoolean: true } }), /is date; a boolean/],
    ['wrong complex type', operation('insert', { path: path('Patient.identifier'), index: int(0), value: { valueHumanName: {} } }),
      /is Identifier; a HumanName/],
    ['choice type not allowed', operation('replace', { path: path('Patient.deceased'), value: { valueString: 'yes' } }),
      /deceased\[x\] cannot hold a string/],
    ['nested parts for a primitive', operation('replace', { path: path('Patient.birthDate'), value: { part: [{ name: 'x', valueString: 'y' }] } }),
      /nested-parts value does not fit/],
    ['unknown element inside nested parts', operation('add', { path: path('Patient'), name: path('contact'), value: { part: [{ name: 'bogus', valueString: 'y' }] } }),
      /has no element 'bogus'/],
    ['replacing the resource itself', operation('replace', { path: path('Patient'), value: { resource: { resourceType: 'Patient' } } }),
      /not a patchable element/],
    ['a path that computes a value', operation('replace', { path: path('Patient.identifier.count()'), value: { valueInteger: 1 } }),
      /selects non-elements/],
  ];
  for (const [name, op, message] of cases) {
    const e = failure(() => patch(patient(), op));
    t.equal(e.status, 422, name);
    t.equal(e.issue, 'processing', name);
    t.match(e.message, message, name);
  }
});

t.test('compatible specialisations of a type are accepted', async (t) => {
  t.equal(patch(patient(), operation('add', { path: path('Patient'), name: path('gender'), value: { valueString: 'male' } })).gender, 'male',
    'string for code');
  t.equal(patch(patient(), operation('replace', { path: path('Patient.id'), value: { valueString: 'x' } })).id, 'x', 'string for id');
});

t.test('paths naming Narrative.div patch it (was 400: the engine read div as its division operator)', async (t) => {
  const narrated = { ...patient(), text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">old</div>' } };
  const div = '<div xmlns="http://www.w3.org/1999/xhtml">new</div>';
  const replaced = patch(narrated, operation('replace', { path: path('Patient.text.div'), value: { valueString: div } }));
  t.equal((replaced.text as { div: string }).div, div);
  const removed = patch(narrated, operation('delete', { path: path('Patient.text.div') }));
  t.equal((removed.text as { div?: string }).div, undefined);
  const added = patch({ ...patient(), text: { status: 'generated' } } as Resource,
    operation('add', { path: path('Patient.text'), name: { valueString: 'div' }, value: { valueString: div } }));
  t.equal((added.text as { div: string }).div, div);
  const literal = patch(narrated, operation('replace', { path: path("Patient.name.where(family = 'x.div' or family = 'Chalmers').family"),
    value: { valueString: 'Div' } }));
  t.equal((literal.name as { family: string }[])[0]!.family, 'Div', 'string literals and the or operator are left alone');
});
