import t from 'tap';
import type { Bundle } from '../../src/fhir/types.js';
import { DEFAULT_SEED, countResources, patientBundle } from '../../bench/generate.js';
import { startServer } from '../helpers/server.js';

const TYPES = ['Patient', 'Practitioner', 'Organization', 'Coverage', 'Encounter', 'Observation', 'Condition',
  'Procedure', 'MedicationRequest', 'Immunization', 'Claim', 'ExplanationOfBenefit'];

t.test('the generator is deterministic: the same seed and index give the same bundle', async (t) => {
  t.equal(JSON.stringify(patientBundle(DEFAULT_SEED, 7).bundle), JSON.stringify(patientBundle(DEFAULT_SEED, 7).bundle));
  t.not(JSON.stringify(patientBundle(DEFAULT_SEED, 7).bundle), JSON.stringify(patientBundle(DEFAULT_SEED, 8).bundle));
  t.not(JSON.stringify(patientBundle(1, 7).bundle), JSON.stringify(patientBundle(2, 7).bundle));
});

t.test('twenty patients cover every Synthea resource type the bench needs', async (t) => {
  const { byType } = countResources(DEFAULT_SEED, 20);
  for (const type of TYPES) t.ok((byType[type] ?? 0) > 0, `${type} generated`);
});

t.test('generated bundles load as transactions with 200 and every entry 201', async (t) => {
  const s = await startServer(t);
  for (const i of [0, 1, 2, 3]) {
    const g = patientBundle(DEFAULT_SEED, i);
    const res = await s.request('POST', '', { body: g.bundle, headers: { prefer: 'return=minimal' } });
    t.equal(res.statusCode, 200, `bundle ${i} loads: ${res.statusCode === 200 ? '' : res.body.slice(0, 300)}`);
    if (res.statusCode !== 200) continue;
    const out = res.json() as Bundle;
    t.equal(out.entry!.length, g.resources);
    t.same(out.entry!.filter((e) => e.response!.status !== '201 Created' && !e.response!.status.startsWith('201')), []);
    const patient = (await s.request('GET', out.entry![g.patientEntry]!.response!.location!
      .replace(/^.*\/fhir\/[^/]+\//, ''))).json();
    t.equal(patient.name[0].family, g.person.family, 'non-ASCII names survive the round trip');
  }
});
