// Tests Patient compartment search and Patient/$everything on Synthea data — http://hl7.org/fhir/R4/search.html#compartments, patient-operation-everything.html
import t from 'tap';
import type { Bundle } from '../../src/fhir/types.js';
import { startServer } from '../helpers/server.js';
import { type Item, PATIENT_FILES, loadBundles, searchAll } from '../search/search-fixtures.js';

const s = await startServer(t);
const d = await loadBundles(s, PATIENT_FILES.slice(1));
const [gustavo, luigi] = d.of('Patient');

/** Members by the file: the patient, and resources of other types whose own (not contained) elements refer to it. */
function members(p: Item, type?: string): Item[] {
  return d.items.filter((i) => {
    if (i === p) return type === undefined || type === 'Patient';
    if (type && i.resource.resourceType !== type) return false;
    if (['Organization', 'Practitioner', 'Patient'].includes(i.resource.resourceType)) return false;
    const { contained: _c, ...own } = i.resource;
    return JSON.stringify(own).includes(`"${p.fullUrl}"`);
  });
}
const refs = (items: Item[]) => items.map((i) => i.ref).sort();
/** Resources the tests create in Luigi's compartment. */
const created: string[] = [];

t.test('Patient/[id]/[type] is the type search restricted to the compartment', async (t) => {
  for (const p of [gustavo!, luigi!]) {
    const obs = await searchAll(s, `Patient/${p.id}/Observation?_count=100`);
    t.same(obs.ids.sort(), refs(members(p, 'Observation')), `${p.ref}: its observations only`);
    t.equal(obs.total, members(p, 'Observation').length);
  }
  const heights = await searchAll(s, `Patient/${luigi!.id}/Observation?code=8302-2`);
  t.same(heights.ids.sort(), refs(members(luigi!, 'Observation').filter((o) => JSON.stringify(o.resource.code).includes('"8302-2"'))), 'with its own parameters');
  const self = await searchAll(s, `Patient/${luigi!.id}/Patient`);
  t.same(self.ids, [luigi!.ref], 'the patient is in its own compartment');
  t.equal((await s.request('GET', `Patient/${luigi!.id}/Observation?_count=2`)).json().link[0].url,
    `${s.url}/Patient/${luigi!.id}/Observation?_count=2`, 'self link keeps the compartment path');
});

t.test('Patient/[id]/* spans every compartment type; _type narrows; the union of the parameters counts', async (t) => {
  const all = await searchAll(s, `Patient/${gustavo!.id}/*?_count=100`);
  t.same(all.ids.sort(), refs(members(gustavo!)), 'every member, any type');
  const two = await searchAll(s, `Patient/${gustavo!.id}/*?_type=Encounter,Immunization&_count=100`);
  t.same(two.ids.sort(), refs([...members(gustavo!, 'Encounter'), ...members(gustavo!, 'Immunization')]));
  const sent = (await s.request('POST', 'Communication', { body: { resourceType: 'Communication', status: 'completed',
    sender: { reference: luigi!.ref } } })).json();
  created.push(`Communication/${sent.id}`);
  t.ok((await searchAll(s, `Patient/${luigi!.id}/Communication`)).ids.includes(`Communication/${sent.id}`), 'Communication via sender');
  t.notOk((await searchAll(s, `Patient/${gustavo!.id}/Communication`)).ids.includes(`Communication/${sent.id}`), 'not in another patient\'s');
});

t.test('unknown patient → empty Bundle; types outside the compartment → 400; writes there are not routes', async (t) => {
  const none = await s.request('GET', 'Patient/nobody/Observation');
  t.equal(none.statusCode, 200);
  t.equal(none.json().total, 0);
  for (const type of ['Medication', 'Organization', 'Practitioner']) {
    const res = await s.request('GET', `Patient/${luigi!.id}/${type}`);
    t.equal(res.statusCode, 400, `${type} → 400`);
    t.equal(res.json().resourceType, 'OperationOutcome');
  }
  t.equal((await s.request('GET', `Patient/${luigi!.id}/*?_type=Medication`)).statusCode, 400);
  t.equal((await s.request('POST', `Patient/${luigi!.id}/Observation`, { body: { resourceType: 'Observation' } })).statusCode, 405);
  const post = await s.request('POST', `Patient/${luigi!.id}/Observation/_search`, { body: 'code=8302-2',
    headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  t.equal(post.statusCode, 200, 'POST …/_search');
});

t.test('Patient/[id]/$everything: the compartment as matches, referenced resources as includes, paged', async (t) => {
  const expected = [...refs(members(luigi!)), ...created].sort();
  const seen: string[] = [];
  const included = new Set<string>();
  let url: string | undefined = `Patient/${luigi!.id}/$everything?_count=10`;
  let total: number | undefined;
  while (url) {
    const res = await s.request('GET', url.replace(`${s.url}/`, ''));
    t.equal(res.statusCode, 200);
    const b = res.json() as Bundle;
    total ??= b.total;
    for (const e of b.entry ?? []) {
      if (e.search?.mode === 'match') seen.push(`${e.resource!.resourceType}/${e.resource!.id}`);
      else included.add(`${e.resource!.resourceType}/${e.resource!.id}`);
    }
    t.ok((b.entry ?? []).filter((e) => e.search?.mode === 'match').length <= 10);
    url = b.link?.find((l) => l.relation === 'next')?.url;
  }
  t.same(seen.sort(), expected, 'every member once');
  t.equal(total, expected.length);
  const org = d.items.find((i) => i.file === luigi!.file && i.resource.resourceType === 'Organization')!;
  t.ok(included.has(org.ref), 'the organisation its encounters refer to comes as an include');
  t.equal((await s.request('GET', 'Patient/nobody/$everything')).statusCode, 404, 'unknown patient → 404');
  const narrowed = await searchAll(s, `Patient/${luigi!.id}/$everything?_type=Immunization`);
  t.same(narrowed.ids.sort(), refs(members(luigi!, 'Immunization')), '_type narrows');
  const future = encodeURIComponent(new Date(Date.now() + 3_600_000).toISOString());
  t.equal((await searchAll(s, `Patient/${luigi!.id}/$everything?_since=${future}`)).total, 0, '_since');
  t.equal((await s.request('GET', `Patient/${luigi!.id}/$everything?_since=2020`)).statusCode, 400, '_since needs an instant');
});
