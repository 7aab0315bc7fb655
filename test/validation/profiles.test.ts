// Tests tenant profiles (issue #15 §4): StructureDefinitions written to a tenant are checked, get a snapshot, and are
// enforced on every resource that claims them and by $validate?profile= — http://hl7.org/fhir/R4/profiling.html
import t, { type Test } from 'tap';
import { type TestServer, startServer } from '../helpers/server.js';

const ACME = 'http://acme.org/fhir/StructureDefinition';
const CORE = 'http://hl7.org/fhir/StructureDefinition';

const ethnicityVs = { resourceType: 'ValueSet', url: 'http://acme.org/vs/ethnicity', status: 'active',
  compose: { include: [{ system: 'http://acme.org/cs/ethnicity', concept: [{ code: 'hisp', display: 'Hispanic' }, { code: 'nonhisp', display: 'Not Hispanic' }] }] } };

const ethnicity = { resourceType: 'StructureDefinition', url: `${ACME}/ethnicity`, name: 'Ethnicity', status: 'active', kind: 'complex-type',
  abstract: false, context: [{ type: 'element', expression: 'Patient' }], type: 'Extension', baseDefinition: `${CORE}/Extension`, derivation: 'constraint',
  differential: { element: [
    { id: 'Extension', path: 'Extension', max: '1' },
    { id: 'Extension.url', path: 'Extension.url', fixedUri: `${ACME}/ethnicity` },
    { id: 'Extension.value[x]', path: 'Extension.value[x]', min: 1, type: [{ code: 'Coding' }],
      binding: { strength: 'required', valueSet: 'http://acme.org/vs/ethnicity' } }] } };

const acmePatient = { resourceType: 'StructureDefinition', url: `${ACME}/acme-patient`, name: 'AcmePatient', status: 'active', kind: 'resource',
  abstract: false, type: 'Patient', baseDefinition: `${CORE}/Patient`, derivation: 'constraint',
  differential: { element: [
    { id: 'Patient', path: 'Patient' },
    { id: 'Patient.extension', path: 'Patient.extension', slicing: { discriminator: [{ type: 'value', path: 'url' }], rules: 'open' } },
    { id: 'Patient.extension:ethnicity', path: 'Patient.extension', sliceName: 'ethnicity', max: '1', type: [{ code: 'Extension', profile: [`${ACME}/ethnicity`] }] },
    { id: 'Patient.identifier', path: 'Patient.identifier', min: 1, slicing: { discriminator: [{ type: 'value', path: 'system' }], rules: 'open' } },
    { id: 'Patient.identifier:mrn', path: 'Patient.identifier', sliceName: 'mrn', min: 1, max: '1' },
    { id: 'Patient.identifier:mrn.system', path: 'Patient.identifier.system', min: 1, fixedUri: 'http://acme.org/mrn' },
    { id: 'Patient.name', path: 'Patient.name', min: 1 },
    { id: 'Patient.birthDate', path: 'Patient.birthDate', constraint: [{ key: 'acme-1', severity: 'error', human: 'Born in 1900 or later', expression: '$this >= @1900-01-01' }] },
    { id: 'Patient.generalPractitioner', path: 'Patient.generalPractitioner', type: [{ code: 'Reference', targetProfile: [`${CORE}/Practitioner`] }] },
  ] } };

const labObservation = { resourceType: 'StructureDefinition', url: `${ACME}/lab-result`, name: 'LabResult', status: 'active', kind: 'resource',
  abstract: false, type: 'Observation', baseDefinition: `${CORE}/Observation`, derivation: 'constraint',
  differential: { element: [
    { id: 'Observation.category', path: 'Observation.category', min: 1, slicing: { discriminator: [{ type: 'pattern', path: '$this' }], rules: 'closed' } },
    { id: 'Observation.category:lab', path: 'Observation.category', sliceName: 'lab', min: 1, max: '1',
      patternCodeableConcept: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] } },
    { id: 'Observation.code', path: 'Observation.code', patternCodeableConcept: { coding: [{ system: 'http://loinc.org' }] } },
    { id: 'Observation.value[x]', path: 'Observation.value[x]', type: [{ code: 'Quantity' }] },
  ] } };

const mrn = { system: 'http://acme.org/mrn', value: '123' };
const patient = (extra: object = {}) => ({ resourceType: 'Patient', meta: { profile: [`${ACME}/acme-patient`] },
  identifier: [mrn], name: [{ family: 'Conformant' }], ...extra });
const lab = (extra: object = {}) => ({ resourceType: 'Observation', meta: { profile: [`${ACME}/lab-result`] }, status: 'final',
  category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }],
  code: { coding: [{ system: 'http://loinc.org', code: '2345-7' }] }, valueQuantity: { value: 5.4, unit: 'mmol/L' }, ...extra });

async function setup(t: Test): Promise<TestServer> {
  const s = await startServer(t);
  for (const body of [ethnicityVs, ethnicity, acmePatient, labObservation]) {
    const r = await s.request('POST', body.resourceType, { body });
    t.equal(r.statusCode, 201, `${body.resourceType} ${(body as { url: string }).url}: ${r.body.slice(0, 400)}`);
  }
  return s;
}

t.test('a profile is checked when written and gets a snapshot', async (t) => {
  const s = await setup(t);
  const refused = async (sd: object, text: RegExp, expression?: string) => {
    const r = await s.request('POST', 'StructureDefinition', { body: sd });
    t.equal(r.statusCode, 422, r.body.slice(0, 300));
    t.match(r.json().issue[0].diagnostics, text);
    if (expression) t.match(r.json().issue[0].expression[0], expression);
  };
  await refused({ ...acmePatient, url: `${ACME}/child`, baseDefinition: `${ACME}/nowhere` }, /nowhere is not known/, 'StructureDefinition.baseDefinition');
  await refused({ ...acmePatient, url: `${ACME}/ext-missing`, differential: { element: [
    { id: 'Patient.extension:x', path: 'Patient.extension', sliceName: 'x', type: [{ code: 'Extension', profile: [`${ACME}/no-such-extension`] }] }] } },
  /no-such-extension/);
  await refused({ ...acmePatient, url: `${ACME}/bad-fhirpath`, differential: { element: [
    { id: 'Patient.name', path: 'Patient.name', constraint: [{ key: 'bad-1', severity: 'error', human: 'x', expression: 'name.where(' }] }] } }, /bad-1 does not compile/);
  await refused({ ...acmePatient, url: `${ACME}/bad-vs`, differential: { element: [
    { id: 'Patient.gender', path: 'Patient.gender', binding: { strength: 'required', valueSet: 'http://acme.org/vs/none' } }] } }, /vs\/none \(bound to Patient.gender\) is not known/);
  await refused({ ...acmePatient, url: `${ACME}/bad-path`, differential: { element: [{ id: 'Observation.code', path: 'Observation.code' }] } }, /sdf-8a|not within Patient/);
  const stored = (await s.request('GET', `StructureDefinition?url=${ACME}/acme-patient`)).json().entry[0].resource;
  const ids = stored.snapshot.element.map((e: { id: string }) => e.id);
  t.ok(ids.includes('Patient.gender'), 'the base elements are in the generated snapshot');
  t.ok(ids.indexOf('Patient.identifier:mrn') > ids.indexOf('Patient.identifier'), 'a slice follows its element');
  t.ok(ids.indexOf('Patient.identifier:mrn.system') > ids.indexOf('Patient.identifier:mrn'));
  t.equal(stored.snapshot.element.find((e: { id: string }) => e.id === 'Patient.name').min, 1, 'the differential is merged in');
});

t.test('a resource claiming a profile must conform to it; nothing is written otherwise', async (t) => {
  const s = await setup(t);
  t.equal((await s.request('POST', 'Patient', { body: patient() })).statusCode, 201, 'a conformant Patient');
  const withEthnicity = patient({ extension: [{ url: `${ACME}/ethnicity`, valueCoding: { system: 'http://acme.org/cs/ethnicity', code: 'hisp' } }] });
  t.equal((await s.request('POST', 'Patient', { body: withEthnicity })).statusCode, 201, 'with a valid extension');
  const refused = async (body: object, text: RegExp, expression: string) => {
    const r = await s.request('POST', String((body as { resourceType: string }).resourceType), { body });
    t.equal(r.statusCode, 422, r.body.slice(0, 300));
    const issue = r.json().issue.find((i: { diagnostics: string }) => text.test(i.diagnostics));
    t.ok(issue, `${text} in ${r.body.slice(0, 500)}`);
    t.same(issue?.expression, [expression]);
  };
  await refused(patient({ identifier: [{ system: 'http://other.org/id', value: '9' }] }), /Slice identifier:mrn: minimum required = 1, but only found 0/, 'Patient.identifier');
  await refused(patient({ name: undefined }), /Patient.name: minimum required = 1/, 'Patient.name');
  await refused(patient({ birthDate: '1850-02-03' }), /acme-1: Born in 1900 or later/, 'Patient.birthDate');
  await refused(patient({ generalPractitioner: [{ reference: 'Organization/1' }] }), /must point at Practitioner, not Organization/, 'Patient.generalPractitioner[0]');
  await refused(patient({ extension: [{ url: `${ACME}/ethnicity`, valueCoding: { system: 'http://acme.org/cs/ethnicity', code: 'martian' } }] }),
    /martian is not in the ValueSet http:\/\/acme.org\/vs\/ethnicity \(required binding\)/, 'Patient.extension[0].valueCoding');
  await refused(patient({ extension: [{ url: `${ACME}/ethnicity`, valueString: 'hisp' }] }), /String is not an allowed type for value\[x\]/, 'Patient.extension[0].valueString');
  await refused(lab({ valueString: 'high', valueQuantity: undefined }), /String is not an allowed type/, 'Observation.valueString');
  await refused(lab({ category: [...lab().category, { text: 'other' }] }), /matches none of the slices/, 'Observation.category[1]');
  await refused(lab({ code: { coding: [{ system: 'http://snomed.info/sct', code: '1' }] } }), /must match the pattern/, 'Observation.code');
  t.equal((await s.request('POST', 'Observation', { body: lab() })).statusCode, 201, 'a conformant lab result');
  const atEnd = { ...acmePatient, url: `${ACME}/mrn-first`, name: 'MrnFirst', differential: { element: [
    { id: 'Patient.identifier', path: 'Patient.identifier', slicing: { discriminator: [{ type: 'value', path: 'system' }], rules: 'openAtEnd' } },
    { id: 'Patient.identifier:mrn', path: 'Patient.identifier', sliceName: 'mrn', min: 1, max: '1' },
    { id: 'Patient.identifier:mrn.system', path: 'Patient.identifier.system', fixedUri: 'http://acme.org/mrn' }] } };
  t.equal((await s.request('POST', 'StructureDefinition', { body: atEnd })).statusCode, 201);
  const other = { system: 'http://other.org/id', value: '9' };
  const claimsAtEnd = (identifier: object[]) => ({ resourceType: 'Patient', meta: { profile: [`${ACME}/mrn-first`] }, identifier });
  t.equal((await s.request('POST', 'Patient', { body: claimsAtEnd([mrn, other]) })).statusCode, 201, 'openAtEnd: others after the slices');
  await refused(claimsAtEnd([other, mrn]), /comes before a sliced one \(openAtEnd\)/, 'Patient.identifier[0]');
  const total = (await s.request('GET', 'Patient?_summary=count')).json().total;
  t.equal(total, 3, 'no refused Patient was written');

  const bundle = { resourceType: 'Bundle', type: 'transaction', entry: [
    { resource: patient({ identifier: [{ system: 'http://acme.org/mrn', value: 'tx-1' }] }), request: { method: 'POST', url: 'Patient' } },
    { resource: patient({ identifier: [{ system: 'http://other.org/id', value: 'tx-2' }] }), request: { method: 'POST', url: 'Patient' } }] };
  t.equal((await s.request('POST', '', { body: bundle })).statusCode, 422, 'a transaction with one non-conformant entry');
  t.equal((await s.request('GET', 'Patient?_summary=count')).json().total, 3, '… writes nothing');
  const update = await s.request('POST', 'Patient', { body: patient() });
  const id = update.json().id;
  const patched = await s.request('PATCH', `Patient/${id}`, { body: [{ op: 'remove', path: '/name' }], headers: { 'content-type': 'application/json-patch+json' } });
  t.equal(patched.statusCode, 422, 'a patch whose result breaks the profile');

  const unknown = { resourceType: 'Patient', meta: { profile: ['http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient'] }, name: [{ family: 'Elsewhere' }] };
  t.equal((await s.request('POST', 'Patient', { body: unknown })).statusCode, 201, 'a profile the tenant does not hold is not enforced');
});

t.test('a profile based on another of the tenant\'s; $validate with profile=', async (t) => {
  const s = await setup(t);
  const child = { ...acmePatient, url: `${ACME}/acme-vip`, name: 'AcmeVip', baseDefinition: `${ACME}/acme-patient`,
    differential: { element: [{ id: 'Patient.telecom', path: 'Patient.telecom', min: 1 }] } };
  t.equal((await s.request('POST', 'StructureDefinition', { body: child })).statusCode, 201);
  const vip = await s.request('POST', 'Patient', { body: { ...patient(), meta: { profile: [`${ACME}/acme-vip`] }, name: undefined } });
  t.equal(vip.statusCode, 422);
  const texts = vip.json().issue.map((i: { diagnostics: string }) => i.diagnostics).join('\n');
  t.match(texts, /Patient.telecom: minimum required = 1/, 'the profile\'s own rule');
  t.match(texts, /Patient.name: minimum required = 1/, 'its base profile\'s rule');

  const validate = async (query: string, body: object) => (await s.request('POST', `Patient/$validate${query}`, { body })).json();
  const bare = { resourceType: 'Patient', name: [{ family: 'Bare' }] };
  const out = await validate(`?profile=${ACME}/acme-patient`, bare);
  t.ok(out.issue.some((i: { severity: string; diagnostics: string }) => i.severity === 'error' && /identifier/.test(i.diagnostics)), JSON.stringify(out));
  const ok = await validate(`?profile=${ACME}/acme-patient`, { ...patient(), meta: undefined });
  t.notOk(ok.issue.some((i: { severity: string }) => i.severity === 'error'), JSON.stringify(ok));
  const missing = await validate('?profile=http://nowhere.org/StructureDefinition/x', bare);
  t.ok(missing.issue.some((i: { severity: string; code: string; diagnostics: string }) => i.severity === 'error' && i.code === 'not-supported'
    && /not known/.test(i.diagnostics)), JSON.stringify(missing));
  const params = await s.request('POST', 'Patient/$validate', { body: { resourceType: 'Parameters', parameter: [
    { name: 'resource', resource: bare }, { name: 'profile', valueUri: `${ACME}/acme-patient` }] } });
  t.ok(params.json().issue.some((i: { severity: string }) => i.severity === 'error'), 'profile as a parameter');

  const caps = (await s.request('GET', 'metadata')).json();
  const entry = (type: string) => caps.rest[0].resource.find((r: { type: string }) => r.type === type);
  t.same(entry('Patient').supportedProfile, [`${ACME}/acme-patient`, `${ACME}/acme-vip`], 'the CapabilityStatement lists the tenant\'s profiles');
  t.same(entry('Observation').supportedProfile, [`${ACME}/lab-result`]);
  t.notOk(entry('Encounter').supportedProfile);
});

t.test('profiles a tenant requires of every resource of a type', async (t) => {
  const s = await setup(t);
  const admin = (body?: object) => s.request(body ? 'PUT' : 'GET', `/admin/tenants/${s.slug}/profiles`,
    { headers: { authorization: 'Bearer test-admin-token-0123456789' }, ...(body ? { body } : {}) });
  const bare = { resourceType: 'Patient', name: [{ family: 'Unclaimed' }] };
  t.equal((await s.request('POST', 'Patient', { body: bare })).statusCode, 201, 'nothing required yet');
  const set = await admin({ requiredProfiles: { Patient: [`${ACME}/acme-patient`] } });
  t.equal(set.statusCode, 200, set.body);
  t.same((await admin()).json(), { requiredProfiles: { Patient: [`${ACME}/acme-patient`] } });
  const refused = await s.request('POST', 'Patient', { body: bare });
  t.equal(refused.statusCode, 422, 'a Patient that claims nothing must still conform');
  t.match(refused.json().issue[0].diagnostics, /Patient.identifier: minimum required = 1/);
  t.equal((await s.request('POST', 'Patient', { body: { ...bare, identifier: [mrn] } })).statusCode, 201);
  t.equal((await s.request('POST', 'Observation', { body: { resourceType: 'Observation', status: 'final', code: { text: 'x' } } })).statusCode, 201,
    'other types are not bound');
  const validated = (await s.request('POST', 'Patient/$validate', { body: bare })).json();
  t.ok(validated.issue.some((i: { severity: string }) => i.severity === 'error'), '$validate applies them too');
  const unknown = await admin({ requiredProfiles: { Patient: [`${ACME}/lab-result`] } });
  t.equal(unknown.statusCode, 422, 'a profile of another type');
  t.match(unknown.json().issue[0].diagnostics, /lab-result is not a profile of Patient/);
  t.equal((await admin({ requiredProfiles: { Nonsense: [] } })).statusCode, 400);
  t.equal((await admin({ requiredProfiles: {} })).statusCode, 200);
  t.equal((await s.request('POST', 'Patient', { body: bare })).statusCode, 201, 'no longer required');
});
