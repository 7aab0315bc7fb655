// Tests that $validate reports the R4 core extensible and preferred bindings as warnings, and only warnings (issue #15 §1)
// — https://hl7.org/fhir/R4/terminologies.html#strength
import t from 'tap';
import { startServer } from '../helpers/server.js';

const V3_MARITAL = 'http://terminology.hl7.org/CodeSystem/v3-MaritalStatus';
const INTERPRETATION = 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation';

t.test('extensible and preferred core bindings are $validate warnings; writes are not refused for them', async (t) => {
  const s = await startServer(t);
  const warnings = async (body: object) => {
    const r = await s.request('POST', `${(body as { resourceType: string }).resourceType}/$validate`, { body });
    t.equal(r.statusCode, 200, r.body.slice(0, 300));
    return (r.json().issue as { severity: string; code: string; diagnostics: string; expression?: string[] }[])
      .filter((i) => i.code === 'code-invalid');
  };
  const patient = (marital: string, language: string) => ({ resourceType: 'Patient', maritalStatus: { coding: [{ system: V3_MARITAL, code: marital }] },
    communication: [{ language: { coding: [{ system: 'urn:ietf:bcp:47', code: language }] } }] });
  t.same(await warnings(patient('M', 'en-US')), [], 'members of both ValueSets');
  const both = await warnings(patient('Q', 'tlh'));
  t.same(both.map((w) => w.expression), [['Patient.maritalStatus'], ['Patient.communication[0].language']]);
  t.ok(both.every((w) => w.severity === 'warning'));
  t.match(both[0]!.diagnostics, /Q is not in the ValueSet http:\/\/hl7.org\/fhir\/ValueSet\/marital-status \(extensible binding of Patient.maritalStatus\)/);
  t.match(both[1]!.diagnostics, /preferred binding of Patient.communication.language/);
  t.same(await warnings({ resourceType: 'Patient', maritalStatus: { text: 'it is complicated' } }), [], 'text alone meets an extensible binding');
  const obs = { resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '2345-7' }] },
    interpretation: [{ coding: [{ system: INTERPRETATION, code: 'ZZZ' }] }] };
  const found = await warnings(obs);
  t.same(found.map((w) => w.expression), [['Observation.interpretation[0]']], 'an unknown code of a held code system');
  t.same(await warnings({ ...obs, interpretation: [{ coding: [{ system: INTERPRETATION, code: 'H' }] }] }), []);
  t.equal((await s.request('POST', 'Patient', { body: patient('Q', 'tlh') })).statusCode, 201, 'a write is not refused for a warning');
});
