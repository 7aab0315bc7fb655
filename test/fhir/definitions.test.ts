// Tests the R4 definitions registry: types, search parameters, summary elements, element types — http://hl7.org/fhir/R4/structuredefinition.html
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadDefinitions } from '../../src/fhir/definitions.js';

const defs = loadDefinitions();
const codes = (type: string) => defs.searchParametersFor(type).map((p) => p.code);

t.test('resource types: the 146 concrete R4 types, without abstract ones', async (t) => {
  t.equal(defs.resourceTypes.size, 146);
  for (const type of ['Patient', 'Observation', 'Bundle', 'Parameters', 'Binary', 'VisionPrescription']) {
    t.ok(defs.isResourceType(type), type);
  }
  for (const type of ['Resource', 'DomainResource', 'SubscriptionStatus', 'Project', 'HumanName', 'patient']) {
    t.notOk(defs.isResourceType(type), type);
  }
});

t.test('search parameters: the 1,375 of R4 4.0.1, without Medplum additions', async (t) => {
  t.equal(defs.searchParameters().length, 1375);
  const urls = new Set(defs.searchParameters().map((p) => p.url));
  t.notOk(urls.has('http://hl7.org/fhir/SearchParameter/DetectedIssue-status'));
  t.notOk(urls.has('http://hl7.org/fhir/SearchParameter/DeviceDefinition-classification'));
  const patient = defs.searchParameters().find((p) => p.url === 'http://hl7.org/fhir/SearchParameter/clinical-patient');
  t.same(patient?.target, ['Patient', 'Group']);
  t.equal(patient?.type, 'reference');
});

t.test('searchParametersFor includes the Resource and DomainResource parameters', async (t) => {
  const patient = codes('Patient');
  for (const c of ['_id', '_lastUpdated', '_tag', '_profile', '_security', '_source', '_text', '_content',
    'family', 'birthdate', 'identifier', 'general-practitioner']) t.ok(patient.includes(c), c);
  t.notOk(codes('Bundle').includes('_text'), 'Bundle is not a DomainResource');
  t.ok(codes('Bundle').includes('_id'));
  t.ok(codes('Bundle').includes('composition'));
  t.same(defs.searchParametersFor('Nope'), []);
  const code = defs.searchParametersFor('Observation').find((p) => p.code === 'code');
  t.equal(code?.type, 'token');
  t.match(code?.expression, /Observation\.code/);
  const composite = defs.searchParametersFor('Observation').find((p) => p.code === 'code-value-quantity');
  t.equal(composite?.component?.length, 2);
});

t.test('elementTypes resolves datatypes, choices, contentReference and extensions', async (t) => {
  const cases: [string, string[] | undefined][] = [
    ['Patient.contact.name.family', ['string']],
    ['Patient.name', ['HumanName']],
    ['Patient.contact', ['BackboneElement']],
    ['Patient.id', ['id']],
    ['Patient.birthDate', ['date']],
    ['Patient.deceasedBoolean', ['boolean']],
    ['Patient.managingOrganization', ['Reference']],
    ['Patient.meta.profile', ['canonical']],
    ['Patient.extension', ['Extension']],
    ['Patient.extension.url', ['uri']],
    ['Patient.extension.valueString', ['string']],
    ['Patient.birthDate.extension.valueCode', ['code']],
    ['Observation.valueQuantity', ['Quantity']],
    ['Observation.valueQuantity.value', ['decimal']],
    ['Observation.component.referenceRange.low.value', ['decimal']],
    ['Claim.item.detail.subDetail', ['BackboneElement']],
    ['Claim.item.detail.subDetail.net.currency', ['code']],
    ['Questionnaire.item.item.item.linkId', ['string']],
    ['Parameters.parameter.part.valueString', ['string']],
    ['Bundle.entry.resource', ['Resource']],
    ['Bundle.entry.fullUrl', ['uri']],
    ['Patient.foo', undefined],
    ['Patient.valueFoo', undefined],
    ['Observation.valueFoo', undefined],
  ];
  for (const [path, expected] of cases) t.same(defs.elementTypes(path.split('.')[0]!, path), expected, path);
  t.same(defs.elementTypes('Observation', 'Observation.value')?.slice(0, 3), ['Quantity', 'CodeableConcept', 'string'],
    'a choice named without its type gives all its types');
  t.equal(defs.elementTypes('Patient', 'Observation.status'), undefined, 'the path must start with the type');
  t.equal(defs.elementTypes('Nope', 'Nope.id'), undefined);
});

t.test('summary and mandatory elements are top-level JSON names', async (t) => {
  const summary = defs.summaryElements('Patient');
  for (const n of ['id', 'meta', 'implicitRules', 'identifier', 'name', 'birthDate', 'deceasedBoolean',
    'deceasedDateTime', 'managingOrganization', 'link']) t.ok(summary.has(n), n);
  for (const n of ['text', 'contact', 'photo', 'contained', 'extension']) t.notOk(summary.has(n), n);
  t.same([...defs.mandatoryElements('Observation')].sort(), ['code', 'status']);
  t.ok(defs.mandatoryElements('MedicationRequest').has('medicationReference'));
  t.equal(defs.summaryElements('Nope').size, 0);
});

t.test('a missing or malformed definition file fails loading', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hearth-defs-'));
  t.throws(() => loadDefinitions(dir), /Cannot load profiles\/r4\/resources\.json/);
  mkdirSync(join(dir, 'profiles/r4'), { recursive: true });
  writeFileSync(join(dir, 'profiles/r4/resources.json'), '{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient"}}]}');
  t.throws(() => loadDefinitions(dir), /entry 0 is not a StructureDefinition/);
  writeFileSync(join(dir, 'profiles/r4/resources.json'), '{ not json');
  t.throws(() => loadDefinitions(dir), /Cannot load/);
});
