// Tests token :in, :not-in, :below, :above over a CodeSystem and ValueSets stored on the server (project decision, fhir-search.md §3.5.6) — http://hl7.org/fhir/R4/search.html#token
import t from 'tap';
import { startServer } from '../helpers/server.js';

t.test('terminology modifiers resolve against stored ValueSets and CodeSystem hierarchies', async (t) => {
  const s = await startServer(t);
  const post = async (body: object) => (await s.request('POST', (body as { resourceType: string }).resourceType, { body })).json();
  const CS = 'http://acme.org/cs';
  await post({ resourceType: 'CodeSystem', url: CS, status: 'active', content: 'complete',
    concept: [{ code: 'A', concept: [{ code: 'A1', concept: [{ code: 'A11' }] }] }, { code: 'B' }] });
  const vs1 = await post({ resourceType: 'ValueSet', url: 'http://acme.org/vs1', status: 'active',
    compose: { include: [{ system: CS, concept: [{ code: 'A1' }, { code: 'B' }] }] } });
  await post({ resourceType: 'ValueSet', url: 'http://acme.org/vs-isa', status: 'active',
    compose: { include: [{ system: CS, filter: [{ property: 'concept', op: 'is-a', value: 'A' }] }], exclude: [{ system: CS, concept: [{ code: 'A11' }] }] } });
  await post({ resourceType: 'ValueSet', url: 'http://acme.org/vs-loinc', status: 'active', compose: { include: [{ system: 'http://loinc.org' }] } });
  const obs: Record<string, string> = {};
  for (const [key, system, code] of [['A', CS, 'A'], ['A1', CS, 'A1'], ['A11', CS, 'A11'], ['B', CS, 'B'], ['L', 'http://loinc.org', '1-8']]) {
    obs[key!] = (await post({ resourceType: 'Observation', status: 'final', code: { coding: [{ system, code }] } })).id;
  }
  const found = async (q: string) => {
    const res = await s.request('GET', `Observation?${q}`);
    t.equal(res.statusCode, 200, q);
    const ids = new Set((res.json().entry ?? []).map((e: { resource: { id: string } }) => e.resource.id));
    return Object.keys(obs).filter((k) => ids.has(obs[k])).sort();
  };
  t.same(await found('code:in=http://acme.org/vs1'), ['A1', 'B'], ':in by url');
  t.same(await found(`code:in=ValueSet/${vs1.id}`), ['A1', 'B'], ':in by ValueSet/[id]');
  t.same(await found('code:not-in=http://acme.org/vs1'), ['A', 'A11', 'L'], ':not-in');
  t.same(await found('code:in=http://acme.org/vs-isa'), ['A', 'A1'], 'is-a filter, minus excluded');
  t.same(await found('code:in=http://acme.org/vs-loinc'), ['L'], 'a whole code system');
  t.same(await found(`code:below=${encodeURIComponent(`${CS}|A`)}`), ['A', 'A1', 'A11'], ':below');
  t.same(await found(`code:above=${encodeURIComponent(`${CS}|A11`)}`), ['A', 'A1', 'A11'], ':above');
  t.same(await found(`code:below=${encodeURIComponent(`${CS}|B`)}`), ['B'], ':below a leaf');
  t.equal((await s.request('GET', 'Observation?code:in=http://nowhere/vs')).statusCode, 400, 'unknown ValueSet → 400');
  t.equal((await s.request('GET', 'Observation?code:below=http://nowhere/cs|A')).statusCode, 400, 'unknown CodeSystem → 400');
  t.equal((await s.request('GET', 'Observation?code:above=A')).statusCode, 400, ':above needs system|code');
  const doc = await post({ resourceType: 'DocumentReference', status: 'current', content: [{ attachment: { contentType: 'text/xml; charset=UTF-8' } }] });
  const mime = async (q: string) => (await s.request('GET', `DocumentReference?contenttype${q}`)).json().entry?.map((e: { resource: { id: string } }) => e.resource.id) ?? [];
  t.same(await mime(':below=text/xml'), [doc.id], 'mime type :below is a prefix (§3.5.8)');
  t.same(await mime(':below=text/html'), [], '… and only that prefix');
});
