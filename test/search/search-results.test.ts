// Tests searchset Bundles: keyset paging, _sort, _total, _summary, _elements, _include/_revinclude, links, handling, POST _search — http://hl7.org/fhir/R4/search.html#return
import t from 'tap';
import type { Bundle, BundleEntry } from '../../src/fhir/types.js';
import { relaxReferences, startServer } from '../helpers/server.js';
import { type Item, PATIENT_FILES, loadBundles, searchAll, values } from './search-fixtures.js';

const s = await startServer(t);
// The tests delete Synthea resources that others still name, to see searches skip them: integrity relaxed (issue #15 §2).
await relaxReferences(s);
const d = await loadBundles(s, PATIENT_FILES.slice(1));
const gone = new Set<string>();
const allObservations = d.of('Observation');
/** Observations still live (the paging test deletes one). */
const live = () => allObservations.filter((o) => !gone.has(o.ref));
const encounters = d.of('Encounter');
const get = async (path: string, headers: Record<string, string> = {}) => {
  const res = await s.request('GET', path.startsWith(s.url) ? path.slice(s.url.length + 1) : path, { headers });
  return { status: res.statusCode, body: res.json() as Bundle & Record<string, unknown> };
};
const link = (b: Bundle, rel: string) => b.link?.find((l) => l.relation === rel)?.url;
const mode = (b: Bundle, m: string) => (b.entry ?? []).filter((e) => e.search?.mode === m);
const ref = (e: BundleEntry) => `${e.resource!.resourceType}/${e.resource!.id}`;

t.test('searchset shape: id, meta.lastUpdated, total, self/first links, fullUrl, search.mode', async (t) => {
  const { status, body } = await get('Encounter?_count=2');
  t.equal(status, 200);
  t.equal(body.type, 'searchset');
  t.match(body.id, /^[0-9a-f-]{36}$/);
  t.ok(body.meta?.lastUpdated);
  t.equal(body.total, encounters.length);
  t.equal(link(body, 'self'), `${s.url}/Encounter?_count=2`);
  t.equal(link(body, 'first'), `${s.url}/Encounter?_count=2`);
  t.ok(link(body, 'next'), 'next when more follow');
  t.notOk(link(body, 'previous'), 'no previous on the first page');
  t.equal(body.entry!.length, 2);
  t.equal(body.entry![0]!.fullUrl, `${s.url}/${ref(body.entry![0]!)}`);
  t.equal(body.entry![0]!.search!.mode, 'match');
  const none = await get('Encounter?status=nope');
  t.equal(none.status, 200, 'no match is still 200');
  t.equal(none.body.total, 0);
  t.notOk(none.body.entry);
});

t.test('keyset paging: every match once across pages even while data changes; previous links walk back', async (t) => {
  const first = await get('Observation?_count=10');
  const seen: string[] = first.body.entry!.map(ref);
  const extra = (await s.request('POST', 'Observation', { body: { resourceType: 'Observation', status: 'final', code: { text: 'new' } } })).json();
  let next = link(first.body, 'next');
  const pages = [first.body];
  let deleted: string | undefined;
  while (next) {
    const page = await get(next);
    t.ok(page.body.entry!.length <= 10, 'never more than _count');
    if (!deleted && pages.length === 1) {
      // Delete something that is not yet seen: it must not show up later.
      const upcoming = (await get(link(page.body, 'next') ?? next)).body.entry?.[0];
      if (upcoming) { deleted = ref(upcoming); gone.add(deleted); await s.request('DELETE', deleted); }
    }
    seen.push(...page.body.entry!.map(ref));
    pages.push(page.body);
    next = link(page.body, 'next');
  }
  t.equal(new Set(seen).size, seen.length, 'no duplicates');
  t.notOk(seen.includes(`Observation/${extra.id}`), 'a resource created after page 1 (newer, sorts first) does not appear later');
  const expected = allObservations.map((o) => o.ref).filter((r) => r !== deleted).sort();
  t.same(seen.filter((r) => r !== deleted).sort(), expected, 'every other match exactly once');
  t.notOk(seen.slice(10).includes(deleted!), 'the deleted one is skipped');
  const last = pages[pages.length - 1]!;
  const back = await get(link(last, 'previous')!);
  t.same(back.body.entry!.map(ref), pages[pages.length - 2]!.entry!.map(ref).filter((r) => r !== deleted), 'previous page');
  t.equal((await s.request('GET', `Observation?_count=10&_page=${link(first.body, 'next')!.split('_page=')[1]!.slice(0, -3)}abc`)).statusCode, 410, 'tampered → 410');
  await s.request('DELETE', `Observation/${extra.id}`);
});

t.test('_sort: several keys, - for descending, dates and tokens; _count limits and clamps', async (t) => {
  const observations = live();
  const all = await searchAll(s, 'Observation?_sort=code,-date&_count=7');
  const byRef = new Map(observations.map((o) => [o.ref, o]));
  const key = (r: string) => {
    const o = byRef.get(r)!;
    return [(values(o.resource, 'code.coding.code') as string[]).sort()[0]!, o.resource.effectiveDateTime as string];
  };
  const keys = all.ids.map(key);
  t.equal(keys.length, observations.length);
  const ordered = keys.every((k, n) => n === 0 || keys[n - 1]![0]! < k[0]! ||
    (keys[n - 1]![0] === k[0] && Date.parse(keys[n - 1]![1]!) >= Date.parse(k[1]!)));
  t.ok(ordered, 'code ascending, then date descending, across pages');
  const births = await searchAll(s, 'Patient?_sort=-birthdate');
  const dates = births.ids.map((r) => d.items.find((i) => i.ref === r)!.resource.birthDate as string);
  t.same(dates, [...dates].sort().reverse(), 'birthdate descending');
  const names = await searchAll(s, 'Patient?_sort=family');
  const fam = names.ids.map((r) => (values(d.items.find((i) => i.ref === r)!.resource, 'name.family')[0] as string).toLowerCase());
  t.same(fam, [...fam].sort(), 'strings sort case-insensitively');
  t.equal((await get('Observation?_count=5000')).body.entry!.length, observations.length, '_count above the maximum is clamped, not refused');
  t.equal((await get('Observation?_count=-1')).status, 400);
  const sorted = await get('Patient?_sort=-birthdate&_count=1');
  const token = link(sorted.body, 'next')!.split('_page=')[1]!;
  t.equal((await get(`Patient?_sort=family&_count=1&_page=${token}`)).status, 400, 'a page link of another order → 400');
  t.equal((await get('Observation?_sort=nope')).status, 200, 'unknown sort key ignored (lenient)');
  t.equal((await get('Observation?_sort=nope', { prefer: 'handling=strict' })).status, 400, '… and refused (strict)');
});

t.test('_total none|estimate|accurate; _count=0 and _summary=count give the total only', async (t) => {
  t.notOk('total' in (await get('Encounter?_total=none')).body, 'none: no total');
  t.type((await get('Encounter?_total=estimate')).body.total, 'number', 'estimate: a number');
  t.equal((await get('Encounter?_total=accurate')).body.total, encounters.length);
  for (const q of ['Encounter?_summary=count', 'Encounter?_count=0']) {
    const { body } = await get(q);
    t.equal(body.total, encounters.length, `${q}: total`);
    t.notOk(body.entry, `${q}: no entries`);
    t.same(body.link!.map((l) => l.relation), ['self'], `${q}: self link only`);
  }
  t.equal((await get('Encounter?_total=maybe')).status, 400);
});

t.test('_summary and _elements subset matches (SUBSETTED tag); _elements leaves includes whole', async (t) => {
  const tagged = (e: BundleEntry) => (e.resource!.meta?.tag ?? []).some((x) => x.code === 'SUBSETTED');
  const sum = (await get('Patient?_summary=true')).body.entry![0]!.resource!;
  t.ok(sum.name && !sum.text && tagged({ resource: sum }), '_summary=true drops non-summary elements');
  const text = (await get('Patient?_summary=text')).body.entry![0]!.resource!;
  t.ok(text.text && !text.name, '_summary=text keeps the narrative');
  const data = (await get('Patient?_summary=data')).body.entry![0]!.resource!;
  t.ok(data.name && !data.text, '_summary=data drops the narrative');
  const el = await get('Encounter?_elements=subject&_include=Encounter:subject&_count=1');
  const m = mode(el.body, 'match')[0]!.resource!;
  t.same(Object.keys(m).sort(), ['class', 'id', 'meta', 'resourceType', 'status', 'subject'], 'asked-for and mandatory elements');
  t.ok(tagged({ resource: m }));
  const inc = mode(el.body, 'include')[0]!.resource!;
  t.ok(inc.name && !tagged({ resource: inc }), 'included resources are not subsetted by _elements');
  t.equal((await get('Patient?_summary=text&_include=Patient:organization')).status, 400);
});

t.test('_include, _revinclude, :iterate and *: mode include, not counted, deduplicated', async (t) => {
  const observations = live();
  const enc = await get('Encounter?_include=Encounter:subject&_count=100');
  t.equal(enc.body.total, encounters.length, 'includes are not counted');
  const patients = new Set(encounters.map((e) => d.target((e.resource.subject as { reference: string }).reference)));
  t.same(mode(enc.body, 'include').map(ref).sort(), [...patients].sort(), 'each subject once');
  const rev = await get('Encounter?_revinclude=Observation:encounter&_count=100');
  const obsWithEnc = observations.filter((o) => o.resource.encounter).map((o) => o.ref).sort();
  t.same(mode(rev.body, 'include').map(ref).sort(), obsWithEnc, '_revinclude');
  const orgOf = (e: Item) => d.target((e.resource.serviceProvider as { reference?: string } | undefined)?.reference);
  const iter = await get('Observation?_include=Observation:encounter&_include:iterate=Encounter:service-provider&_count=100');
  const orgs = new Set(encounters.filter((e) => obsWithEnc.length && observations.some((o) => d.target((o.resource.encounter as { reference?: string } | undefined)?.reference) === e.ref)).map(orgOf).filter(Boolean));
  t.same(mode(iter.body, 'include').map(ref).filter((r) => r.startsWith('Organization/')).sort(), [...orgs].sort(), ':iterate follows included Encounters');
  const flat = await get('Observation?_include=Observation:encounter&_include=Encounter:service-provider&_count=100');
  t.same(mode(flat.body, 'include').filter((e) => e.resource!.resourceType === 'Organization'), [], 'without :iterate only matches are followed');
  const star = await get('Encounter?_include=*&_count=100');
  const types = new Set(mode(star.body, 'include').map((e) => e.resource!.resourceType));
  t.ok(types.has('Patient') && types.has('Organization'), '* follows every reference');
  const revStar = await get(`Patient?_id=${d.of('Patient')[0]!.id}&_revinclude=*`);
  t.ok(mode(revStar.body, 'include').length > 0 && mode(revStar.body, 'include').every((e) => e.resource!.resourceType !== 'Patient'), '_revinclude=* finds everything referring to the patient');
  t.equal((await get('Encounter?_include=Encounter:status')).status, 400, 'include through a non-reference');
});

t.test('links reflect applied parameters; unknown ones are dropped (lenient, with an outcome) or refused (strict)', async (t) => {
  const { body } = await get('Encounter?status=finished&foo=bar&_count=3');
  t.equal(link(body, 'self'), `${s.url}/Encounter?status=finished&_count=3`);
  const oo = mode(body, 'outcome')[0]!.resource as unknown as { issue: { severity: string; diagnostics: string }[] };
  t.equal(oo.issue[0]!.severity, 'warning');
  t.match(oo.issue[0]!.diagnostics, /foo/);
  t.equal(body.total, encounters.filter((e) => e.resource.status === 'finished').length, 'the unknown parameter did not filter');
  const strict = await s.request('GET', 'Encounter?foo=bar&baz=1', { headers: { prefer: 'handling=strict' } });
  t.equal(strict.statusCode, 400);
  t.same(strict.json().issue.map((i: { expression: string[] }) => i.expression[0]), ['foo', 'baz']);
  t.equal((await get('Encounter?status:exact=x')).status, 400, 'unsupported modifier → 400 even when lenient');
  t.equal((await get('Encounter?date=notadate')).status, 400, 'malformed value → 400');
  t.equal((await s.request('GET', 'Encounter?date=notadate')).json().resourceType, 'OperationOutcome');
});

t.test('POST _search: form body merged with URL parameters; links are GETs; other bodies → 415', async (t) => {
  const observations = live();
  const form = (url: string, body: string, type = 'application/x-www-form-urlencoded') =>
    s.request('POST', url, { body, headers: { 'content-type': type } });
  const res = await form('Observation/_search?_count=2', 'code=8302-2&_sort=date');
  t.equal(res.statusCode, 200);
  const body = res.json() as Bundle;
  const expected = observations.filter((o) => values(o.resource, 'code.coding.code').includes('8302-2'));
  t.equal(body.total, expected.length);
  t.equal(link(body, 'self'), `${s.url}/Observation?code=8302-2&_sort=date&_count=2`);
  const next = await get(link(body, 'next')!);
  t.equal(next.status, 200, 'the next link works with GET');
  t.equal((await form('Observation/_search', JSON.stringify({ code: 'x' }), 'application/fhir+json')).statusCode, 415);
  t.equal((await form('_search?_type=Encounter', 'status=finished')).statusCode, 200, 'system-level POST _search');
});

t.test('searches inside batch and transaction Bundles see the bundle\'s own writes', async (t) => {
  const res = await s.request('POST', '', { body: { resourceType: 'Bundle', type: 'transaction', entry: [
    { request: { method: 'POST', url: 'Patient' }, resource: { resourceType: 'Patient', name: [{ family: 'Inbundle' }] } },
    { request: { method: 'GET', url: 'Patient?family=inbundle' } },
  ] } });
  t.equal(res.statusCode, 200);
  const found = res.json().entry[1].resource as Bundle;
  t.equal(found.type, 'searchset');
  t.equal(found.total, 1, 'GETs run after the writes (fhir-rest.md §17.6)');
  const batch = await s.request('POST', '', { body: { resourceType: 'Bundle', type: 'batch', entry: [
    { request: { method: 'GET', url: 'Patient?family=inbundle&_summary=count' } }, { request: { method: 'GET', url: 'Patient?birthdate=bad' } }] } });
  t.equal(batch.json().entry[0].resource.total, 1);
  t.match(batch.json().entry[1].response.status, /^400/, 'a bad search is a failed entry, not a failed batch');
});

t.test('deleted resources never match; database timeouts end as an OperationOutcome', async (t) => {
  const victim = encounters[0]!;
  await s.request('DELETE', victim.ref);
  const after = await searchAll(s, 'Encounter?_count=100');
  t.notOk(after.ids.includes(victim.ref));
  t.equal(after.total, encounters.length - 1);
  t.notOk((await searchAll(s, `Observation?encounter:Encounter.status=${victim.resource.status}&_count=100`)).ids.some((r) =>
    d.target((d.items.find((i) => i.ref === r)!.resource.encounter as { reference: string }).reference) === victim.ref), 'chains skip deleted targets');
  const real = s.deps.db.transaction.bind(s.deps.db);
  const timeout = Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014' });
  s.deps.db.transaction = (async () => { throw timeout; }) as typeof s.deps.db.transaction;
  const res = await s.request('GET', 'Encounter?_total=none');
  s.deps.db.transaction = real;
  t.equal(res.statusCode, 503);
  t.equal(res.json().issue[0].code, 'timeout');
  let calls = 0;
  s.deps.db.transaction = (async (fn: never, o?: { statementTimeoutMs?: number }) => {
    if (o?.statementTimeoutMs && o.statementTimeoutMs < s.deps.config.statementTimeoutMs) { calls++; throw timeout; }
    return real(fn, o);
  }) as typeof s.deps.db.transaction;
  const slowCount = await get('Encounter?_count=1');
  s.deps.db.transaction = real;
  t.equal(calls, 1, 'the count ran under its budget');
  t.notOk('total' in slowCount.body, 'past the budget the total is omitted');
  t.match((mode(slowCount.body, 'outcome')[0]!.resource as unknown as { issue: { diagnostics: string }[] }).issue[0]!.diagnostics, /total/);
  t.equal(mode(slowCount.body, 'match').length, 1, 'the page itself is served');
});
