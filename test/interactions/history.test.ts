import t from 'tap';
import { startServer } from '../helpers/server.js';

t.test('history at instance, type and system level', async (t) => {
  const s = await startServer(t);
  const a = (await s.request('POST', 'Patient', { body: { resourceType: 'Patient' } })).json();
  await s.request('PUT', `Patient/${a.id}`, { body: { ...a, active: true } });
  await s.request('DELETE', `Patient/${a.id}`);
  await s.request('POST', 'Observation', { body: { resourceType: 'Observation', status: 'final', code: { text: 'x' } } });

  const inst = (await s.request('GET', `Patient/${a.id}/_history`)).json();
  t.equal(inst.type, 'history');
  t.equal(inst.total, 3);
  t.same(inst.entry.map((e: { request: { method: string } }) => e.request.method), ['DELETE', 'PUT', 'POST'], 'newest first');
  t.notOk(inst.entry[0].resource, 'DELETE entry has no resource');
  t.equal(inst.entry[0].response.etag, 'W/"3"');
  t.equal(inst.entry[2].response.status, '201 Created');
  t.equal(inst.entry[2].request.url, 'Patient');
  t.equal(inst.entry[1].request.url, `Patient/${a.id}`);
  t.equal(inst.entry[0].fullUrl, `${s.url}/Patient/${a.id}`);

  t.equal((await s.request('GET', 'Patient/_history')).json().total, 3);
  t.equal((await s.request('GET', '_history')).json().entry.length, 4);
  t.equal((await s.request('GET', 'Patient/nope/_history')).statusCode, 404);
});

t.test('history paging with _count and next/previous links; _since; bad parameters → 400', async (t) => {
  const s = await startServer(t);
  const first = (await s.request('POST', 'Patient', { body: { resourceType: 'Patient' } })).json();
  for (let i = 0; i < 6; i++) await s.request('PUT', `Patient/${first.id}`, { body: { ...first, birthDate: `200${i}` } });
  const seen: string[] = [];
  let url: string | undefined = `Patient/${first.id}/_history?_count=3`;
  let pages = 0;
  let lastPage: { link: { relation: string; url: string }[] } | undefined;
  while (url) {
    const page: { entry: { response: { etag: string } }[]; link: { relation: string; url: string }[] } = (await s.request('GET', url.replace(s.url + '/', ''))).json();
    t.ok(page.entry.length <= 3, 'page never exceeds _count');
    seen.push(...page.entry.map((e: { response: { etag: string } }) => e.response.etag));
    url = page.link.find((l: { relation: string }) => l.relation === 'next')?.url;
    lastPage = page;
    pages++;
  }
  t.equal(pages, 3);
  t.same(seen, ['W/"7"', 'W/"6"', 'W/"5"', 'W/"4"', 'W/"3"', 'W/"2"', 'W/"1"']);
  const prev = lastPage!.link.find((l) => l.relation === 'previous')!.url;
  const back = (await s.request('GET', prev.replace(s.url + '/', ''))).json();
  t.same(back.entry.map((e: { response: { etag: string } }) => e.response.etag), ['W/"4"', 'W/"3"', 'W/"2"'], 'previous page');

  const tampered = `Patient/${first.id}/_history?_page=eyJkIjoibiIsImsiOlsiMjAyMCJdfQ.AAAAAAAAAAAAAAAAAAAAAA`;
  t.equal((await s.request('GET', tampered)).statusCode, 410, 'tampered page token → 410');

  const future = new Date(Date.now() + 3600000).toISOString();
  t.equal((await s.request('GET', `Patient/${first.id}/_history?_since=${encodeURIComponent(future)}`)).json().total, 0);
  t.equal((await s.request('GET', `Patient/${first.id}/_history?_since=2000-01-01T00:00:00Z`)).json().total, 7);
  t.equal((await s.request('GET', `Patient/${first.id}/_history?_since=2000-01-01`)).statusCode, 400, '_since needs a zone');
  t.equal((await s.request('GET', `Patient/${first.id}/_history?_count=2&_count=3`)).statusCode, 400, 'repeat → 400');
  t.equal((await s.request('GET', `Patient/${first.id}/_history?_count=x`)).statusCode, 400);
});
