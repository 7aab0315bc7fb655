// Tests resource validation against the R4 JSON schema and FHIR JSON rules — http://hl7.org/fhir/R4/json.html
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import t from 'tap';
import type { Issue } from '../../src/errors.js';
import { loadDefinitions } from '../../src/fhir/definitions.js';
import { VALIDATOR_FILE, createValidator } from '../../src/validation/validate.js';

const defs = loadDefinitions();
const validator = createValidator(defs);
const check = (r: unknown) => validator.validate(r);
const brief = (issues: Issue[]) => issues.map((i) => ({ code: i.code, expression: i.expression?.[0] }));

const patient = {
  resourceType: 'Patient', id: 'example', meta: { lastUpdated: '2020-01-01T00:00:00Z' }, active: true,
  text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Peter Chalmers</div>' },
  name: [{ use: 'official', family: 'Chalmers', given: ['Peter', 'James'] }], gender: 'male', birthDate: '1974-12-25',
  _birthDate: { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/patient-birthTime', valueDateTime: '1974-12-25T14:35:45-05:00' }] },
  deceasedBoolean: false, multipleBirthInteger: 2,
  contact: [{ relationship: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0131', code: 'N' }] }],
    name: { family: 'du Marché', _family: { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/humanname-own-prefix', valueString: 'VV' }] } } }],
  managingOrganization: { reference: 'Organization/1' },
};
const observation = { resourceType: 'Observation', status: 'final', code: { text: 'weight' }, valueQuantity: { value: 70.5, unit: 'kg' } };

t.test('a valid Patient and Observation are accepted', async (t) => {
  t.same(check(patient), []);
  t.same(check(observation), []);
  t.same(check({ ...patient, name: [{ family: 'No\u00a0break space' }] }), [], 'no-break space is content, not whitespace');
});

t.test('unknown elements are rejected with their FHIRPath', async (t) => {
  const issues = check({ ...patient, favouriteColour: 'blue' });
  t.same(brief(issues), [{ code: 'structure', expression: 'Patient.favouriteColour' }]);
  t.match(issues[0]!.diagnostics, /Unknown element 'favouriteColour'/);
  t.same(brief(check({ ...patient, contact: [{ name: { family: 'x', nick: 'y' } }] })),
    [{ code: 'structure', expression: 'Patient.contact[0].name.nick' }]);
  t.same(brief(check({ ...observation, valueFoo: 1 })), [{ code: 'structure', expression: 'Observation.valueFoo' }]);
  t.same(brief(check({ ...patient, meta: { project: 'x' } })), [{ code: 'structure', expression: 'Patient.meta.project' }],
    'Medplum-only elements are not R4');
});

t.test('missing required elements are rejected with code required', async (t) => {
  const { status: _s, ...noStatus } = observation;
  const issues = check(noStatus);
  t.same(brief(issues), [{ code: 'required', expression: 'Observation.status' }]);
  t.match(issues[0]!.diagnostics, /Missing required element 'status'/);
  t.same(check({ ...noStatus, _status: { extension: [{ url: 'http://example.org/why', valueString: 'unknown' }] } }), [],
    'a required primitive may be given by its extensions only');
  const med = check({ resourceType: 'MedicationRequest', status: 'active', intent: 'order', subject: { reference: 'Patient/1' } });
  t.same(brief(med), [{ code: 'required', expression: 'MedicationRequest.medication' }]);
  t.match(med[0]!.diagnostics, /medication\[x\].*medicationCodeableConcept, medicationReference/);
  t.same(brief(check({ ...patient, extension: [{ valueString: 'x' }] })), [{ code: 'required', expression: 'Patient.extension[0].url' }]);
});

t.test('wrong primitive types are rejected with the exact expression', async (t) => {
  const issues = check({ ...patient, name: [{ family: 'x' }, { given: ['Peter', 42] }] });
  t.same(brief(issues), [{ code: 'structure', expression: 'Patient.name[1].given[1]' }]);
  t.match(issues[0]!.diagnostics, /expected string/);
  t.same(brief(check({ ...patient, active: 'true' })), [{ code: 'structure', expression: 'Patient.active' }]);
  t.same(brief(check({ ...patient, multipleBirthInteger: 1.5 })), [{ code: 'structure', expression: 'Patient.multipleBirthInteger' }]);
  t.same(brief(check({ ...observation, valueQuantity: { value: '70' } })),
    [{ code: 'structure', expression: 'Observation.valueQuantity.value' }]);
  t.same(brief(check({ ...patient, gender: ['male'] })), [{ code: 'structure', expression: 'Patient.gender' }]);
  t.same(brief(check({ ...patient, name: { family: 'x' } })), [{ code: 'structure', expression: 'Patient.name' }]);
  t.same(brief(check({ ...patient, _birthDate: 'x' })), [{ code: 'structure', expression: 'Patient.birthDate' }]);
});

t.test('values that break a primitive type are rejected with code value', async (t) => {
  t.same(brief(check({ ...patient, birthDate: '1974-13-25' })), [{ code: 'value', expression: 'Patient.birthDate' }]);
  t.same(brief(check({ ...patient, id: 'has space' })), [{ code: 'value', expression: 'Patient.id' }]);
  t.same(brief(check({ ...patient, id: 'x'.repeat(65) })), [{ code: 'value', expression: 'Patient.id' }]);
  t.same(brief(check({ resourceType: 'Patient', photo: [{ size: 0 }] })), [], 'unsignedInt 0');
  t.same(brief(check({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, valueSampledData:
    { origin: { value: 1 }, period: 1, dimensions: 0 } })), [{ code: 'value', expression: 'Observation.valueSampledData.dimensions' }]);
  t.same(brief(check({ ...patient, text: { status: 'generated', div: 'no markup' } })), [{ code: 'value', expression: 'Patient.text.div' }]);
});

t.test('empty strings, arrays and objects are invalid FHIR JSON', async (t) => {
  t.same(brief(check({ ...patient, name: [{ family: '' }] })), [{ code: 'value', expression: 'Patient.name[0].family' }]);
  t.same(brief(check({ ...patient, name: [{ family: ' \t ' }] })), [{ code: 'value', expression: 'Patient.name[0].family' }]);
  t.same(brief(check({ ...patient, gender: '' })), [{ code: 'value', expression: 'Patient.gender' }]);
  t.same(brief(check({ ...patient, identifier: [] })), [{ code: 'structure', expression: 'Patient.identifier' }]);
  t.same(brief(check({ ...patient, managingOrganization: {} })), [{ code: 'structure', expression: 'Patient.managingOrganization' }]);
});

t.test('a resource must be an object with a known resourceType', async (t) => {
  for (const bad of [null, 'Patient', [patient], 42]) t.same(brief(check(bad)), [{ code: 'structure', expression: undefined }]);
  t.same(brief(check({ id: 'x' })), [{ code: 'required', expression: 'resourceType' }]);
  for (const type of ['Nope', 'Resource', 'DomainResource', 'Project', 7]) {
    t.same(brief(check({ resourceType: type })), [{ code: 'structure', expression: 'resourceType' }], String(type));
  }
});

t.test('contained resources and Bundle entries are validated in place', async (t) => {
  const issues = check({ ...patient, contained: [{ resourceType: 'Foo' }, { id: 'x' }, { resourceType: 'Organization', nmae: 'x' }] });
  t.same(brief(issues), [
    { code: 'structure', expression: 'Patient.contained[0].resourceType' },
    { code: 'required', expression: 'Patient.contained[1].resourceType' },
    { code: 'structure', expression: 'Patient.contained[2].nmae' },
  ]);
  const bundle = { resourceType: 'Bundle', type: 'collection', entry: [{ resource: patient }, { resource: { ...observation, subject: 'Patient/1' } }] };
  const bundleIssues = check(bundle);
  t.same(brief(bundleIssues), [{ code: 'structure', expression: 'Bundle.entry[1].resource.subject' }]);
  t.match(bundleIssues[0]!.diagnostics, /expected Reference/);
});

t.test('null in primitive arrays only where the _x twin fills the place', async (t) => {
  const ext = { extension: [{ url: 'http://example.org/x', valueString: 'y' }] };
  t.same(check({ ...patient, name: [{ given: ['a', null], _given: [null, ext] }] }), []);
  t.same(check({ ...patient, name: [{ _given: [ext, ext] }] }), []);
  for (const name of [{ given: ['a', null] }, { given: ['a', null], _given: [null, null] }, { given: ['a'], _given: [null, ext] },
    { _given: [null, ext] }]) {
    t.same(brief(check({ ...patient, name: [name] })), [{ code: 'structure', expression: 'Patient.name[0].given' }], JSON.stringify(name));
  }
});

t.test('several faults give one issue each', async (t) => {
  const issues = check({ resourceType: 'Observation', code: {}, valueQuantity: { value: 'x' }, foo: 1 });
  t.same(brief(issues).map((i) => i.expression).sort(),
    ['Observation.code', 'Observation.foo', 'Observation.status', 'Observation.valueQuantity.value']);
});

t.test('compiled code that does not match the schema fails loading', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hearth-validator-'));
  mkdirSync(join(dir, 'profiles'));
  writeFileSync(join(dir, 'profiles/fhir.schema.json'), '{}');
  t.throws(() => createValidator(defs, dir), /Cannot load/);
  symlinkSync(resolve(import.meta.dirname, '../..', VALIDATOR_FILE), join(dir, VALIDATOR_FILE));
  t.throws(() => createValidator(defs, dir), /older than profiles\/fhir\.schema\.json/);
});
