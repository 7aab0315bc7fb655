/**
 * What real clients tripped over (issue 22 §9, §10, §12): Patient/$everything over POST with its parameters and without
 * repeating referenced resources on every page, body-less requests that name a Content-Type, form bodies and missing
 * resourceType, the PATCH 415 message, and unknown _sort keys.
 */
import t from 'tap';
import { startServer } from '../helpers/server.js';

const s = await startServer(t);
const ref = (r: string) => ({ reference: r });
const obs = (id: string, when: string) => ({ resourceType: 'Observation', id, status: 'final', code: { text: id },
  subject: ref('Patient/pe'), performer: [ref('Practitioner/dr')], effectiveDateTime: when });
for (const r of [
  { resourceType: 'Practitioner', id: 'dr', name: [{ family: 'Who' }] },
  { resourceType: 'Organization', id: 'org', name: 'Clinic' },
  { resourceType: 'Patient', id: 'pe', managingOrganization: ref('Organization/org') },
  ...Array.from({ length: 6 }, (_v, i) => obs(`o${i}`, `202${i}-06-01`)),
  { resourceType: 'Condition', id: 'c1', subject: ref('Patient/pe'), code: { text: 'c' }, asserter: ref('Practitioner/dr') },
  { resourceType: 'Encounter', id: 'e1', status: 'finished', class: { code: 'AMB' }, subject: ref('Patient/pe'),
    period: { start: '2022-01-01', end: '2022-01-02' }, serviceProvider: ref('Organization/org') },
]) {
  const res = await s.request('PUT', `${r.resourceType}/${r.id}`, { body: r });
  if (res.statusCode >= 300) throw new Error(`seed ${r.resourceType}/${r.id}: ${res.body}`);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;
const key = (e: Json) => `${e.resource.resourceType}/${e.resource.id}`;

/** Every entry of every page, following next links. */
async function pages(method: string, path: string, body?: unknown): Promise<{ entries: Json[]; pages: number }> {
  const entries: Json[] = [];
  let res = await s.request(method, path, body === undefined ? {} : { body });
  let n = 0;
  for (;;) {
    if (res.statusCode !== 200) throw new Error(`${path}: ${res.statusCode} ${res.body}`);
    entries.push(...res.json().entry ?? []);
    n++;
    const next = res.json().link.find((l: Json) => l.relation === 'next')?.url as string | undefined;
    if (!next) break;
    res = await s.request('GET', next.slice(s.url.length + 1));
  }
  return { entries, pages: n };
}

t.test('$everything pages without repeating referenced resources (one Patient came back 8 times)', async (t) => {
  const { entries, pages: n } = await pages('GET', 'Patient/pe/$everything?_count=2');
  t.ok(n >= 4, `${n} pages`);
  const keys = entries.map(key);
  t.same(keys.filter((k, i) => keys.indexOf(k) !== i), [], 'no resource twice');
  t.same([...keys].sort(), ['Condition/c1', 'Encounter/e1', ...Array.from({ length: 6 }, (_v, i) => `Observation/o${i}`),
    'Organization/org', 'Patient/pe', 'Practitioner/dr'].sort(), 'the compartment and what it refers to');
  t.same(entries.filter((e) => e.search.mode === 'include').map(key).sort(), ['Organization/org', 'Practitioner/dr']);
});

t.test('$everything answers POST with no body or a Parameters body (fhir-kit-client got 400 and 405)', async (t) => {
  const empty = await s.request('POST', 'Patient/pe/$everything', { body: '', headers: { 'content-type': 'application/fhir+json' } });
  t.equal(empty.statusCode, 200, empty.body);
  t.equal(empty.json().total, 9, 'the compartment\'s nine members');
  const params = { resourceType: 'Parameters', parameter: [{ name: '_type', valueCode: 'Observation,Patient' },
    { name: '_count', valueInteger: 3 }, { name: 'start', valueDate: '2022-01-01' }, { name: 'end', valueDate: '2023-12-31' }] };
  const { entries } = await pages('POST', 'Patient/pe/$everything', params);
  t.same(entries.map(key).sort(), ['Observation/o2', 'Observation/o3', 'Patient/pe'], '_type, _count, start and end apply');
  const bad = await s.request('POST', 'Patient/pe/$everything', { body: { resourceType: 'Parameters', parameter: [{ name: 'bogus', valueString: 'x' }] } });
  t.equal(bad.statusCode, 400);
  t.equal((await s.request('PUT', 'Patient/pe/$everything', { body: params })).statusCode, 405);
});

t.test('$everything start and end select care dates (were silently ignored)', async (t) => {
  const { entries } = await pages('GET', 'Patient/pe/$everything?start=2022-01-01&end=2022-12-31&_type=Observation,Encounter,Condition');
  t.same(entries.map(key).sort(), ['Condition/c1', 'Encounter/e1', 'Observation/o2'], 'in range, or a type without a care date');
  const since = await pages('GET', `Patient/pe/$everything?_since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`);
  t.same(since.entries.filter((e) => e.search.mode === 'match'), [], '_since');
  t.equal((await s.request('GET', 'Patient/pe/$everything?start=yesterday')).statusCode, 400, 'a malformed start');
});

t.test('a DELETE that names a Content-Type but has no body is not parsed (was 400 "The request body is empty")', async (t) => {
  await s.request('PUT', 'Patient/gone', { body: { resourceType: 'Patient', id: 'gone' } });
  const res = await s.request('DELETE', 'Patient/gone', { body: '', headers: { 'content-type': 'application/fhir+json' } });
  t.equal(res.statusCode, 204, res.body);
  const post = await s.request('POST', 'Patient', { body: '', headers: { 'content-type': 'application/fhir+json' } });
  t.equal(post.statusCode, 400, 'a create still needs its resource');
  t.match(post.json().issue[0].diagnostics, /resource is required/);
});

t.test('a form body where a resource belongs is 415 (was 400 "must be a JSON object")', async (t) => {
  const res = await s.request('POST', 'Patient', { body: 'name=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  t.equal(res.statusCode, 415);
  t.equal(res.json().resourceType, 'OperationOutcome');
  const search = await s.request('POST', 'Patient/_search', { body: 'name=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  t.equal(search.statusCode, 200, 'POST _search keeps its form');
});

t.test('a body without resourceType says so (said "resourceType \'undefined\'")', async (t) => {
  const res = await s.request('POST', 'Patient', { body: { name: [{ family: 'x' }] } });
  t.equal(res.statusCode, 400);
  t.match(res.json().issue[0].diagnostics, /no resourceType/);
  t.notMatch(res.body, /undefined/);
});

t.test('the PATCH 415 names every accepted media type', async (t) => {
  const res = await s.request('PATCH', 'Patient/pe', { body: '<x/>', headers: { 'content-type': 'application/xml' } });
  t.equal(res.statusCode, 415);
  const text = res.json().issue[0].diagnostics as string;
  for (const type of ['application/json-patch+json', 'application/fhir+json', 'application/json']) t.match(text, type);
});

t.test('unknown _sort keys are unknown parameters: left out of self, 400 under strict', async (t) => {
  const lenient = await s.request('GET', 'Patient?_sort=bogus,-birthdate');
  t.equal(lenient.statusCode, 200);
  const self = lenient.json().link.find((l: Json) => l.relation === 'self').url as string;
  t.notMatch(self, /bogus/);
  t.match(self, /_sort=-birthdate/);
  t.ok(lenient.json().entry.some((e: Json) => e.search?.mode === 'outcome' && /bogus/.test(JSON.stringify(e.resource))), 'a warning says so');
  const strict = await s.request('GET', 'Patient?_sort=bogus', { headers: { prefer: 'handling=strict' } });
  t.equal(strict.statusCode, 400);
});
