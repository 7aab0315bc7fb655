import t from 'tap';
import { startServer } from '../helpers/server.js';

t.test('HTTP basics: request ids, Date, CORS, HEAD, health, readiness, errors as OperationOutcome', async (t) => {
  const s = await startServer(t);

  t.test('X-Request-Id echoed; generated when absent; malformed replaced with X-Correlation-Id', async (t) => {
    const echoed = await s.request('GET', 'metadata', { headers: { 'x-request-id': 'abc-123' } });
    t.equal(echoed.headers['x-request-id'], 'abc-123');
    const generated = await s.request('GET', 'metadata');
    t.match(generated.headers['x-request-id'], /^[0-9a-f-]{36}$/);
    const replaced = await s.request('GET', 'metadata', { headers: { 'x-request-id': 'bad id with spaces' } });
    t.not(replaced.headers['x-request-id'], 'bad id with spaces');
    t.equal(replaced.headers['x-correlation-id'], 'bad id with spaces');
    t.ok(generated.headers.date, 'Date header present');
  });

  t.test('CORS: a preflight is answered 204; without HEARTH_CORS_ORIGINS it allows no origin (test/http/limits.test.ts)', async (t) => {
    const pre = await s.request('OPTIONS', 'Patient', { headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' } });
    t.equal(pre.statusCode, 204);
    t.equal(pre.headers['access-control-allow-origin'], undefined);
  });

  t.test('HEAD answers like GET without a body', async (t) => {
    const created = (await s.request('POST', 'Patient', { body: { resourceType: 'Patient' } })).json();
    const head = await s.request('HEAD', `Patient/${created.id}`);
    t.equal(head.statusCode, 200);
    t.equal(head.headers.etag, 'W/"1"');
    t.equal(head.body, '');
    t.equal((await s.request('HEAD', 'Patient/missing')).statusCode, 404);
  });

  t.test('trailing slash behaves like none', async (t) => {
    const created = (await s.request('POST', 'Patient/', { body: { resourceType: 'Patient' } }));
    t.equal(created.statusCode, 201);
  });

  t.test('/health and /ready', async (t) => {
    t.equal((await s.request('GET', '/health')).statusCode, 200);
    const ready = await s.request('GET', '/ready');
    t.equal(ready.statusCode, 200);
    t.equal(ready.json().status, 'ready');
  });

  t.test('unknown endpoint and method errors are OperationOutcomes', async (t) => {
    const nf = await s.request('GET', '/nowhere');
    t.equal(nf.statusCode, 404);
    t.equal(nf.json().resourceType, 'OperationOutcome');
    const m = await s.request('POST', 'Patient/123', { body: { resourceType: 'Patient' } });
    t.equal(m.statusCode, 405);
    t.equal(m.json().issue[0].code, 'not-supported');
    const bad = await s.request('GET', 'Patient/%E0%A4%A');
    t.equal(bad.statusCode, 400);
  });

  t.test('_summary and _elements on read carry the SUBSETTED tag', async (t) => {
    const created = (await s.request('POST', 'Patient', { body: { resourceType: 'Patient', gender: 'male',
      name: [{ family: 'Summary' }], photo: [{ contentType: 'image/png', data: 'AAAA' }] } })).json();
    const summary = (await s.request('GET', `Patient/${created.id}?_summary=true`)).json();
    t.ok(summary.name, 'summary element kept');
    t.notOk(summary.photo, 'non-summary element removed');
    t.ok(summary.meta.tag.some((x: { code: string }) => x.code === 'SUBSETTED'));
    const elements = (await s.request('GET', `Patient/${created.id}?_elements=gender`)).json();
    t.equal(elements.gender, 'male');
    t.notOk(elements.name);
    t.ok(elements.meta.tag.some((x: { code: string }) => x.code === 'SUBSETTED'));
    t.equal((await s.request('GET', `Patient/${created.id}?_summary=bogus`)).statusCode, 400);
  });
});

t.test('bodies up to HEARTH_BODY_LIMIT are accepted; larger → 413 OperationOutcome', async (t) => {
  const s = await startServer(t, { HEARTH_BODY_LIMIT: '64kb' });
  const big = { resourceType: 'Patient', text: { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml">${'x'.repeat(70000)}</div>` } };
  const res = await s.request('POST', 'Patient', { body: big });
  t.equal(res.statusCode, 413);
  t.equal(res.json().resourceType, 'OperationOutcome');
});
