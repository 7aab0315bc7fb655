// Tests that the CapabilityStatement advertises search as the engine supports it, derived from the registry — http://hl7.org/fhir/R4/capabilitystatement.html
import t from 'tap';
import { startServer } from '../helpers/server.js';

interface SearchParam { name: string; definition: string; type: string }
interface ResourceEntry { type: string; interaction: { code: string }[]; searchParam: SearchParam[]; searchInclude: string[]; searchRevInclude: string[] }

t.test('search-type / search-system are advertised with every supported parameter, include and revinclude', async (t) => {
  const s = await startServer(t);
  const cs = (await s.request('GET', 'metadata')).json();
  const rest = cs.rest[0];
  t.ok(rest.interaction.some((i: { code: string }) => i.code === 'search-system'));
  t.ok(rest.searchParam.some((p: SearchParam) => p.name === '_type'));
  t.ok(rest.searchParam.some((p: SearchParam) => p.name === '_lastUpdated'));
  t.same(rest.compartment, ['http://hl7.org/fhir/CompartmentDefinition/patient']);
  const byType = new Map<string, ResourceEntry>(rest.resource.map((r: ResourceEntry) => [r.type, r]));
  const patient = byType.get('Patient')!;
  t.ok(patient.interaction.some((i) => i.code === 'search-type'));
  t.same(patient.searchParam.find((p) => p.name === 'name'), { name: 'name', definition: 'http://hl7.org/fhir/SearchParameter/Patient-name', type: 'string' });
  t.notOk(byType.get('Location')!.searchParam.some((p) => p.name === 'near'), 'near (special) is not supported, so not listed');
  t.ok(patient.searchInclude.includes('Patient:organization') && patient.searchInclude.includes('Patient:*'));
  t.ok(patient.searchRevInclude.includes('Observation:subject'));
  const registered = [...s.deps.search.forType('Observation').values()].filter((d) => d.type !== 'special' && d.code !== '_query');
  t.equal(byType.get('Observation')!.searchParam.length, registered.length, 'derived from the registry');

  for (const type of ['Patient', 'Observation', 'Encounter', 'ValueSet', 'MedicationRequest']) {
    const entry = byType.get(type)!;
    for (const p of entry.searchParam) {
      const query = p.name === '_text' || p.name === '_content' ? `${p.name}=x`
        : p.type === 'composite' ? `${p.name}=x$1` : `${p.name}:missing=false`;
      const res = await s.request('GET', `${type}?${query}`, { headers: { prefer: 'handling=strict' } });
      if (p.type === 'composite' && res.statusCode === 400) continue; // a component that is not a token rejects 'x'
      t.equal(res.statusCode, 200, `${type}?${query} is supported`);
    }
    for (const inc of entry.searchInclude) {
      t.equal((await s.request('GET', `${type}?_include=${inc}`)).statusCode, 200, `_include=${inc}`);
    }
    for (const rev of entry.searchRevInclude.slice(0, 20)) {
      t.equal((await s.request('GET', `${type}?_revinclude=${rev}`)).statusCode, 200, `_revinclude=${rev}`);
    }
  }
});
