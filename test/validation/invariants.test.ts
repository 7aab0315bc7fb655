/**
 * R4 invariants on write (issue #15 §3): the FHIRPath constraints of the core StructureDefinitions, evaluated with
 * fhirpath.js on every node their element path or data type names; a failed error-severity constraint is 422 naming
 * the key and the element, nothing written; warnings only in $validate. The plain-code fast paths of the most common
 * invariants give fhirpath.js's verdict on every node of the R4 examples, the Synthea fixtures and edge cases.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { loadDefinitions } from '../../src/fhir/definitions.js';
import { loadInvariants } from '../../src/validation/invariants.js';
import { startServer } from '../helpers/server.js';

interface Outcome { issue: { severity: string; code: string; expression?: string[]; diagnostics?: string }[] }

const NARRATIVE = { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">x</div>' };
const obs = (more: Record<string, unknown>) => ({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, ...more });

t.test('an error-severity invariant that fails is 422 naming the key and the element; nothing is written', async (t) => {
  const s = await startServer(t);
  const accepted: [string, Record<string, unknown>][] = [
    ['obs-6: a value without dataAbsentReason', obs({ valueQuantity: { value: 1, unit: 'mg', system: 'http://unitsofmeasure.org', code: 'mg' } })],
    ['per-1: start before end', { resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' }, period: { start: '2020-01-01', end: '2020-02-01' } }],
    ['per-1: different precisions are not compared', { resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' },
      period: { start: '2020-01', end: '2020-01-01T10:00:00Z' } }],
    ['dom-3: a contained resource that is referenced', obs({ contained: [{ resourceType: 'Specimen', id: 'sp' }], specimen: { reference: '#sp' } })],
    ['ext-1: an extension with a value', { resourceType: 'Patient', extension: [{ url: 'http://example.org/x', valueString: 'y' }] }],
  ];
  for (const [name, body] of accepted) {
    const res = await s.request('POST', body.resourceType as string, { body });
    t.equal(res.statusCode, 201, `${name}: ${res.statusCode === 201 ? '' : res.body}`);
  }
  const refused: [string, Record<string, unknown>, string, string][] = [
    ['obs-6', obs({ valueString: 'x', dataAbsentReason: { text: 'unknown' } }), 'obs-6', 'Observation'],
    ['obs-7', obs({ code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] }, valueString: 'x',
      component: [{ code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] }, valueString: 'y' }] }), 'obs-7', 'Observation'],
    ['per-1', { resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' }, period: { start: '2020-02-01', end: '2020-01-01' } },
      'per-1', 'Encounter.period'],
    ['qty-3, in a choice element', obs({ valueQuantity: { value: 1, code: 'mg' } }), 'qty-3', 'Observation.valueQuantity'],
    ['tim-1, deep in a data type', { resourceType: 'MedicationRequest', status: 'active', intent: 'order', subject: { reference: 'Patient/p' },
      medicationCodeableConcept: { text: 'x' }, dosageInstruction: [{ timing: { repeat: { duration: 5 } } }] },
    'tim-1', 'MedicationRequest.dosageInstruction[0].timing.repeat'],
    ['ext-1', { resourceType: 'Patient', extension: [{ url: 'http://example.org/x', valueString: 'y', extension: [{ url: 'a', valueString: 'b' }] }] },
      'ext-1', 'Patient.extension[0]'],
    ['pat-1, in a backbone element', { resourceType: 'Patient', contact: [{ gender: 'male' }] }, 'pat-1', 'Patient.contact[0]'],
    ['dom-3, an unreferenced contained resource', obs({ contained: [{ resourceType: 'Specimen', id: 'lonely' }] }), 'dom-3', 'Observation'],
    ['in a contained resource', obs({ contained: [{ resourceType: 'Observation', id: 'c', status: 'final', code: { text: 'y' },
      valueString: 'v', dataAbsentReason: { text: 'z' } }], hasMember: [{ reference: '#c' }] }), 'obs-6', 'Observation.contained[0]'],
  ];
  await s.request('PUT', 'Patient/p', { body: { resourceType: 'Patient', id: 'p' } });
  for (const [name, body, key, expression] of refused) {
    const type = body.resourceType as string;
    const before = (await s.request('GET', `${type}?_summary=count`)).json().total;
    const res = await s.request('POST', type, { body });
    t.equal(res.statusCode, 422, name);
    const issue = (res.json() as Outcome).issue[0]!;
    t.equal(issue.code, 'invariant', name);
    t.match(issue.diagnostics, new RegExp(`^${key}: `), name);
    t.same(issue.expression, [expression], name);
    t.equal((await s.request('GET', `${type}?_summary=count`)).json().total, before, `${name}: nothing written`);
  }
  const tx = await s.request('POST', '', { body: { resourceType: 'Bundle', type: 'transaction', entry: [
    { resource: obs({}), request: { method: 'POST', url: 'Observation' } },
    { resource: refused[0]![1], request: { method: 'POST', url: 'Observation' } }] } });
  t.equal(tx.statusCode, 422, 'a transaction with one such entry fails whole');
  const patched = await s.request('PATCH', 'Patient/p', { headers: { 'content-type': 'application/json-patch+json' },
    body: [{ op: 'add', path: '/contact', value: [{ gender: 'male' }] }] });
  t.equal(patched.statusCode, 422, 'the result of a patch is checked too');
});

t.test('$validate lists warnings (dom-6: no narrative) beside errors; writes never fail on a warning', async (t) => {
  const s = await startServer(t);
  const bare = await s.request('POST', 'Patient/$validate', { body: { resourceType: 'Patient' } });
  t.same((bare.json() as Outcome).issue.map((i) => [i.severity, i.code, i.expression?.[0]]), [['warning', 'invariant', 'Patient']]);
  t.match((bare.json() as Outcome).issue[0]!.diagnostics, /^dom-6: /);
  const narrated = await s.request('POST', 'Patient/$validate', { body: { resourceType: 'Patient', text: NARRATIVE } });
  t.same((narrated.json() as Outcome).issue.map((i) => i.severity), ['information']);
  const both = await s.request('POST', 'Observation/$validate', { body: obs({ valueString: 'x', dataAbsentReason: { text: 'u' } }) });
  t.same((both.json() as Outcome).issue.map((i) => [i.severity, i.diagnostics?.slice(0, 5)]).sort(),
    [['error', 'obs-6'], ['warning', 'dom-6']]);
  t.equal((await s.request('POST', 'Patient', { body: { resourceType: 'Patient' } })).statusCode, 201, 'a warning does not refuse a write');
});

/** Every resource of a folder of JSON files, Bundles' entries included. */
function corpus(dir: string): Record<string, unknown>[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')));
}

t.test('the plain-code invariants give fhirpath.js\'s verdict on every node of the examples, Synthea and edge cases', async (t) => {
  const root = path.resolve(import.meta.dirname, '../..');
  const defs = loadDefinitions(root);
  const fast = loadInvariants(defs, root);
  const reference = loadInvariants(defs, root, { native: false });
  const edge: Record<string, unknown>[] = [
    ...[['2020', '2019'], ['2020-01', '2020-01-01'], ['2020-01-01T10:00:00+02:00', '2020-01-01T09:00:00Z'],
      ['2020-01-01T10:00:00.5Z', '2020-01-01T10:00:00Z'], ['2020-01-01T10:00', '2020-01-01T11:00'], ['2021-03-04', '2021-03-04']]
      .map(([start, end]) => ({ resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' }, period: { start, end } })),
    obs({ valueQuantity: { value: 1, _code: { extension: [{ url: 'x', valueString: 'y' }] } } }),
    obs({ valueQuantity: { value: 1, code: 'mg', _system: { extension: [{ url: 'x', valueString: 'y' }] } } }),
    obs({ code: { coding: [{ code: 'a', system: 's' }] }, valueBoolean: true, component: [{ code: { coding: [{ system: 's', code: 'a' }] } }] }),
    obs({ code: { coding: [{ code: 'a', system: 's', display: 'A' }] }, valueBoolean: true, component: [{ code: { coding: [{ system: 's', code: 'a' }] } }] }),
    obs({ _valueString: { extension: [{ url: 'x', valueString: 'y' }] }, dataAbsentReason: { text: 'd' } }),
    { resourceType: 'Patient', extension: [{ url: 'a' }, { url: 'b', extension: [{ url: 'c', valueCode: 'd' }], valueString: 'e' },
      { url: 'f', _valueString: { id: 'x' } }], telecom: [{ value: '1' }, { system: 'phone', value: '2' }, { _value: { id: 'v' } }] },
  ];
  const resources = [...corpus(path.join(root, 'test/fixtures/r4-examples')), ...corpus(path.join(root, 'test/fixtures/synthea')), ...edge];
  let disagreements = 0;
  for (const r of resources) {
    const a = JSON.stringify(fast.check(r, true));
    const b = JSON.stringify(reference.check(r, true));
    if (a !== b) {
      disagreements++;
      t.fail(`${String(r.resourceType)}/${String(r.id)}: ${a} ≠ fhirpath.js ${b}`);
    }
  }
  t.equal(disagreements, 0, `${resources.length} resources, the same issues both ways`);
  t.ok(resources.length > 700);
});
