import t from 'tap';
import { loadDefinitions } from '../../src/fhir/definitions.js';
import type { Resource } from '../../src/fhir/types.js';
import { compileIndexPlans, extractIndexRows } from '../../src/search/extract.js';
import { decimalRange } from '../../src/search/extract-ranges.js';
import type { IndexRows } from '../../src/search/extract-types.js';
import { createSearchRegistry } from '../../src/search/registry.js';

const registry = createSearchRegistry(loadDefinitions());
const extract = (r: object): IndexRows => extractIndexRows(registry, r as Resource);
const of = <T extends { param: string }>(rows: T[], param: string) =>
  rows.filter((r) => r.param === param).map(({ param: _p, ...rest }) => rest);
const token = (system: string | null, code: string | null, display: string | null = null, typeSystem: string | null = null,
  typeCode: string | null = null) => ({ system, code, code_ci: code?.toLowerCase() ?? null, display, type_system: typeSystem, type_code: typeCode });

t.test('string: HumanName parts each a value, accents and case removed in norm, exact kept', async (t) => {
  const rows = extract({ resourceType: 'Patient', name: [{ family: 'Mejía', given: ['Gustavo', 'José'], prefix: ['Sr.'],
    text: 'Gustavo  Mejía' }] }).string;
  t.same(of(rows, 'family'), [{ norm: 'mejia', exact: 'Mejía', word: false }]);
  t.same(of(rows, 'given').map((r) => r.norm), ['gustavo', 'jose']);
  t.same(of(rows, 'name'), [
    { norm: 'mejia', exact: 'Mejía', word: false }, { norm: 'gustavo', exact: 'Gustavo', word: false },
    { norm: 'jose', exact: 'José', word: false }, { norm: 'sr', exact: 'Sr.', word: false },
    { norm: 'gustavo mejia', exact: 'Gustavo  Mejía', word: false }, { norm: 'mejia', exact: 'Gustavo  Mejía', word: true },
  ], 'family, given, prefix, text; whitespace collapsed; each later word of a name part also starts a row');
});

t.test('string: multi-word family matches on each word; Address parts; non-string types skipped', async (t) => {
  const rows = extract({ resourceType: 'Patient', name: [{ family: 'Carreno Quinones' }], address: [{ use: 'home',
    line: ['1 Main St'], city: 'Boston', district: 'Suffolk', state: 'MA', postalCode: '02101', country: 'US',
    period: { start: '2001' } }] }).string;
  t.same(of(rows, 'family'), [{ norm: 'carreno quinones', exact: 'Carreno Quinones', word: false },
    { norm: 'quinones', exact: 'Carreno Quinones', word: true }]);
  t.same(of(rows, 'address').map((r) => r.norm), ['1 main st', 'boston', 'suffolk', 'ma', '02101', 'us'], 'use/period not searched');
  t.same(of(rows, 'address-city'), [{ norm: 'boston', exact: 'Boston', word: false }]);
});

t.test('token: Coding/CodeableConcept with text, Identifier with type, ContactPoint, boolean, code, id', async (t) => {
  const rows = extract({ resourceType: 'Patient', id: 'Pat-1', active: true, gender: 'female',
    identifier: [{ system: 'urn:oid:1.2.36', value: 'MRN-12', type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }], text: 'Medical Record' } },
      { value: 'no-system' }],
    telecom: [{ system: 'phone', value: '555-0100', use: 'home' }, { system: 'email', value: 'a@b.org' }],
    maritalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-MaritalStatus', code: 'M', display: 'Married' }], text: 'Married' },
    communication: [{ language: { coding: [{ system: 'urn:ietf:bcp:47', code: 'nl' }, { system: 'urn:ietf:bcp:47', code: 'nl' }], text: 'Dutch' } }],
  }).token;
  t.same(of(rows, '_id'), [token(null, 'Pat-1')]);
  t.same(of(rows, 'active'), [token(null, 'true')]);
  t.same(of(rows, 'gender'), [token(null, 'female')]);
  t.same(of(rows, 'identifier'), [token('urn:oid:1.2.36', 'MRN-12', 'medical record', 'http://terminology.hl7.org/CodeSystem/v2-0203', 'MR'),
    token(null, 'no-system')], 'type coding for :of-type, type.text for :text');
  t.same(of(rows, 'telecom'), [token(null, '555-0100'), token(null, 'a@b.org')], 'ContactPoint: value only');
  t.same(of(rows, 'phone'), [token(null, '555-0100')]);
  t.same(of(rows, 'email'), [token(null, 'a@b.org')]);
  t.same(of(rows, 'language'), [token('urn:ietf:bcp:47', 'nl'), token(null, null, 'dutch')],
    'duplicate codings give one row; CodeableConcept.text its own row');
  const marital = extract({ resourceType: 'Observation', code: { coding: [{ system: 'http://loinc.org', code: '8480-6', display: 'Systolic BP' }], text: 'Systolic BP' } }).token;
  t.same(of(marital, 'code'), [token('http://loinc.org', '8480-6', 'systolic bp')], 'text equal to a display adds nothing');
});

t.test('reference: relative, versioned, absolute, urn, contained, canonical, identifier, resolve() is Type', async (t) => {
  const rows = extract({ resourceType: 'Observation', subject: { reference: 'Patient/p1/_history/3', identifier: { system: 'urn:mrn', value: 'X9' } },
    encounter: { reference: 'http://other.org/fhir/Encounter/e1' }, focus: [{ reference: '#contained' }, { reference: 'urn:uuid:1234' }],
    performer: [{ reference: 'Practitioner/d1' }, { type: 'Patient', identifier: { value: 'only-id' } }],
    basedOn: [{ reference: 'Group/not-a-request' }] });
  const ref = (ref_type: string | null, ref_id: string | null, ref_version: string | null, url: string | null) => ({ ref_type, ref_id, ref_version, url });
  t.same(of(rows.reference, 'subject'), [ref('Patient', 'p1', '3', null)]);
  t.same(of(rows.reference, 'patient'), [ref('Patient', 'p1', '3', null)], 'resolve() is Patient keeps the Patient reference');
  t.same(of(rows.reference, 'encounter'), [ref('Encounter', 'e1', null, 'http://other.org/fhir/Encounter/e1')]);
  t.same(of(rows.reference, 'focus'), [ref(null, null, null, 'urn:uuid:1234')], 'contained #id skipped');
  t.same(of(rows.reference, 'performer'), [ref('Practitioner', 'd1', null, null)]);
  t.same(of(rows.token, 'subject:identifier'), [token('urn:mrn', 'X9')], 'Reference.identifier as a token row');
  t.same(of(rows.token, 'performer:identifier'), [token(null, 'only-id')]);
  t.same(of(rows.token, 'patient:identifier'), [token('urn:mrn', 'X9')]);
  const qr = extract({ resourceType: 'QuestionnaireResponse', questionnaire: 'http://x.org/Questionnaire/q|2.0' }).reference;
  t.same(of(qr, 'questionnaire'), [ref(null, null, '2.0', 'http://x.org/Questionnaire/q')], 'canonical: url and version apart');
  const account = extract({ resourceType: 'Account', subject: [{ reference: 'Group/g' }, { reference: 'Patient/p' }] }).reference;
  t.same(of(account, 'patient'), [ref('Patient', 'p', null, null)], 'where(resolve() is Patient) drops the Group');
});

t.test('uri: as stored; canonical meta.profile splits its version', async (t) => {
  const rows = extract({ resourceType: 'ValueSet', url: 'http://x.org/ValueSet/v', meta: { profile: ['http://p.org/sd|1.1', 'http://p.org/other'] } }).uri;
  t.same(of(rows, 'url'), [{ uri: 'http://x.org/ValueSet/v', version: null }]);
  t.same(of(rows, '_profile'), [{ uri: 'http://p.org/sd', version: '1.1' }, { uri: 'http://p.org/other', version: null }]);
});

t.test('date: partial dates cover their precision; zoneless = UTC; offsets normalised; instants are points', async (t) => {
  const d = (type: string, date: Record<string, unknown>) => of(extract({ resourceType: type, ...date }).date, 'birthdate');
  t.same(d('Patient', { birthDate: '1995' }), [{ lo: '1995-01-01T00:00:00.000Z', hi: '1996-01-01T00:00:00.000Z' }]);
  t.same(d('Patient', { birthDate: '1995-02' }), [{ lo: '1995-02-01T00:00:00.000Z', hi: '1995-03-01T00:00:00.000Z' }]);
  t.same(d('Patient', { birthDate: '1995-10-02' }), [{ lo: '1995-10-02T00:00:00.000Z', hi: '1995-10-03T00:00:00.000Z' }]);
  const effective = (v: string) => of(extract({ resourceType: 'Observation', effectiveDateTime: v }).date, 'date');
  t.same(effective('2013-01-14T10:00'), [{ lo: '2013-01-14T10:00:00.000Z', hi: '2013-01-14T10:01:00.000Z' }], 'whole minute');
  t.same(effective('2013-01-14T10:00:05+02:00'), [{ lo: '2013-01-14T08:00:05.000Z', hi: '2013-01-14T08:00:06.000Z' }]);
  t.same(effective('2013-01-14T10:00:05.25Z'), [{ lo: '2013-01-14T10:00:05.250Z', hi: '2013-01-14T10:00:05.251Z' }]);
  t.same(effective('not a date'), []);
  const updated = of(extract({ resourceType: 'Patient', meta: { lastUpdated: '2020-05-01T10:00:00Z' } }).date, '_lastUpdated');
  t.same(updated, [{ lo: '2020-05-01T10:00:00.000Z', hi: '2020-05-01T10:00:00.001Z' }], 'instant → [t, t+1ms)');
});

t.test('date: Period open ends are infinite; Timing spans its events and bounds', async (t) => {
  const period = (p: object) => of(extract({ resourceType: 'Encounter', period: p }).date, 'date');
  t.same(period({ start: '2013-01-21' }), [{ lo: '2013-01-21T00:00:00.000Z', hi: 'infinity' }]);
  t.same(period({ end: '2013-01-21T10:30:00Z' }), [{ lo: '-infinity', hi: '2013-01-21T10:30:01.000Z' }]);
  t.same(period({}), [], 'a Period without start or end has no value');
  const timing = extract({ resourceType: 'CarePlan', activity: [{ detail: { scheduledTiming: { event: ['2020-03-05', '2020-01-02T08:00:00Z'],
    repeat: { boundsPeriod: { start: '2019-12', end: '2020-02' } } } } }] }).date;
  t.same(of(timing, 'activity-date'), [{ lo: '2019-12-01T00:00:00.000Z', hi: '2020-03-06T00:00:00.000Z' }]);
});

t.test('number and quantity: precision ranges, integers exact, Money, Range', async (t) => {
  t.same(decimalRange(100), { value: '100', lo: '99.5', hi: '100.5' });
  t.same(decimalRange(5.4), { value: '5.4', lo: '5.35', hi: '5.45' });
  t.same(decimalRange(-1.25), { value: '-1.25', lo: '-1.255', hi: '-1.245' });
  t.same(decimalRange(1e-7), { value: '0.0000001', lo: '0.00000005', hi: '0.00000015' });
  t.same(decimalRange(1.5e21), { value: '1500000000000000000000', lo: '1450000000000000000000', hi: '1550000000000000000000' });
  const risk = extract({ resourceType: 'RiskAssessment', prediction: [{ probabilityDecimal: 0.02 }, { probabilityRange: { low: { value: 1 } } }] }).number;
  t.same(of(risk, 'probability'), [{ value: '0.02', lo: '0.015', hi: '0.025' }, { value: '1', lo: '1', hi: 'Infinity' }]);
  const seq = extract({ resourceType: 'MolecularSequence', variant: [{ start: 100 }] }).number;
  t.same(of(seq, 'variant-start'), [{ value: '100', lo: '100', hi: '100' }], 'integer elements match exactly');
  const obs = extract({ resourceType: 'Observation', valueQuantity: { value: 5.4, unit: 'mg', system: 'http://unitsofmeasure.org', code: 'mg' } }).quantity;
  t.same(of(obs, 'value-quantity'), [{ system: 'http://unitsofmeasure.org', code: 'mg', unit: 'mg', value: '5.4', lo: '5.35', hi: '5.45' }]);
  const invoice = extract({ resourceType: 'Invoice', totalGross: { value: 12.5, currency: 'EUR' } }).quantity;
  t.same(of(invoice, 'totalgross'), [{ system: 'urn:iso:std:iso:4217', code: 'EUR', unit: null, value: '12.5', lo: '12.45', hi: '12.55' }]);
  const onset = extract({ resourceType: 'Condition', onsetAge: { value: 40, unit: 'yr', system: 'http://unitsofmeasure.org', code: 'a' } }).quantity;
  t.same(of(onset, 'onset-age'), [{ system: 'http://unitsofmeasure.org', code: 'a', unit: 'yr', value: '40', lo: '39.5', hi: '40.5' }]);
  t.same(of(extract({ resourceType: 'Observation', valueSampledData: { origin: { value: 1 }, period: 1, dimensions: 1 } }).quantity, 'value-quantity'), [],
    'SampledData has no quantity value');
});

t.test('composite: one row per container element, components from the same element', async (t) => {
  const rows = extract({ resourceType: 'Observation', code: { coding: [{ system: 'http://loinc.org', code: '85354-9' }] },
    component: [{ code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] }, valueQuantity: { value: 120, code: 'mm[Hg]' } },
      { code: { coding: [{ system: 'http://loinc.org', code: '8462-4' }] }, valueQuantity: { value: 80, code: 'mm[Hg]' } },
      { code: { coding: [{ system: 'http://loinc.org', code: 'no-value' }] } }] }).composite;
  const q = (value: string, lo: string, hi: string) => ({ system: null, code: 'mm[Hg]', unit: null, value, lo, hi });
  t.same(of(rows, 'component-code-value-quantity'), [
    { parts: [[token('http://loinc.org', '8480-6')], [q('120', '119.5', '120.5')]] },
    { parts: [[token('http://loinc.org', '8462-4')], [q('80', '79.5', '80.5')]] },
  ]);
  t.same(of(rows, 'code-value-quantity'), [], 'the Observation itself has no value');
  t.equal(of(rows, 'combo-code-value-quantity').length, 2);
});

t.test('bad shapes and unsupported types yield no rows, never an exception', async (t) => {
  const weird = [
    { resourceType: 'Patient', name: 'not an array', birthDate: 12, identifier: [null, 5, { system: 7 }], telecom: {}, active: 'yes' },
    { resourceType: 'Observation', valueQuantity: { value: 'ten' }, effectivePeriod: { start: 'soon' }, subject: 'Patient/1' },
    { resourceType: 'NotAType', id: 'x' },
    { resourceType: 'Bundle', entry: [{ resource: { resourceType: 'Composition', id: 'c' } }] },
  ];
  for (const r of weird) t.doesNotThrow(() => extract(r), r.resourceType);
  t.same(extract(weird[2]!), { string: [], token: [], reference: [], date: [], number: [], quantity: [], uri: [], composite: [] });
});

t.test('special and expression-less parameters are skipped and listed', async (t) => {
  t.same(compileIndexPlans(registry).skipped.map((s) => s.code).sort(), ['_content', '_query', '_text', 'near']);
});

t.test('a registry with custom SearchParameters indexes them too; core plans are reused', async (t) => {
  const defs = loadDefinitions();
  const custom = { url: 'http://example.org/SearchParameter/eye-colour', name: 'eyeColour', code: 'eye-colour', base: ['Patient'],
    type: 'token' as const, expression: "Patient.extension.where(url='http://example.org/eye-colour').value" };
  const tenant = createSearchRegistry(defs, [custom]);
  const patient = { resourceType: 'Patient', gender: 'male', extension: [{ url: 'http://example.org/eye-colour', valueCode: 'brown' },
    { url: 'http://example.org/other', valueCode: 'x' }] } as unknown as Resource;
  const rows = extractIndexRows(tenant, patient).token;
  t.same(of(rows, 'eye-colour'), [token(null, 'brown')]);
  t.same(of(rows, 'gender'), [token(null, 'male')]);
  const reference = compileIndexPlans(tenant, { fhirpathOnly: true });
  t.same(of(extractIndexRows(tenant, patient, reference).token, 'eye-colour'), [token(null, 'brown')], 'fhirpath agrees');
  t.same(of(extractIndexRows(registry, patient).token, 'eye-colour'), [], 'other registries do not know it');
});
