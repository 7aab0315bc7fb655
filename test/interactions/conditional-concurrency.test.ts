import crypto from 'node:crypto';
import t from 'tap';
import { type TestServer, startServer } from '../helpers/server.js';

/** Issue #12 §5: conditional create, conditional update's create branch and conditional references are exactly-once. */

const SYSTEM = 'urn:hearth:test:exactly-once';

async function stored(s: TestServer, value: string): Promise<string[]> {
  const r = await s.request('GET', `Patient?identifier=${encodeURIComponent(`${SYSTEM}|${value}`)}&_count=100`);
  return (r.json().entry ?? []).map((e: { resource: { id: string } }) => e.resource.id);
}

const patient = (value: string) => ({ resourceType: 'Patient', identifier: [{ system: SYSTEM, value }] });

t.test('50 concurrent If-None-Exist creates store exactly one Patient (stored 50)', async (t) => {
  const s = await startServer(t);
  const value = crypto.randomUUID();
  const replies = await Promise.all(Array.from({ length: 50 }, () => s.request('POST', 'Patient',
    { body: patient(value), headers: { 'if-none-exist': `identifier=${SYSTEM}|${value}` } })));
  const codes = replies.map((r) => r.statusCode).sort();
  t.same(codes, [...Array(49).fill(200), 201], 'one 201, 49 × 200');
  const ids = await stored(s, value);
  t.equal(ids.length, 1, 'one Patient stored');
  t.same(new Set(replies.map((r) => r.json().id)), new Set(ids), 'every answer names that Patient');
});

t.test('30 concurrent conditional PUTs on a new identifier create exactly one Patient (created 12–20)', async (t) => {
  const s = await startServer(t);
  const value = crypto.randomUUID();
  const replies = await Promise.all(Array.from({ length: 30 }, (_, i) => s.request('PUT',
    `Patient?identifier=${encodeURIComponent(`${SYSTEM}|${value}`)}`, { body: { ...patient(value), gender: i % 2 ? 'male' : 'female' } })));
  const codes = replies.map((r) => r.statusCode).sort();
  t.same(codes, [...Array(29).fill(200), 201], 'one 201, 29 × 200');
  const ids = await stored(s, value);
  t.equal(ids.length, 1, 'one Patient stored');
  const current = (await s.request('GET', `Patient/${ids[0]}`)).json();
  t.equal(current.meta.versionId, '30', 'the other 29 PUTs updated it');
});

t.test('20 concurrent transactions with the same ifNoneExist store one Patient (stored 9)', async (t) => {
  const s = await startServer(t);
  const value = crypto.randomUUID();
  const bundle = () => {
    const urn = `urn:uuid:${crypto.randomUUID()}`;
    return {
      resourceType: 'Bundle', type: 'transaction', entry: [
        { fullUrl: urn, resource: patient(value), request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${SYSTEM}|${value}` } },
        { resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: urn } },
          request: { method: 'POST', url: 'Observation' } },
      ],
    };
  };
  const replies = await Promise.all(Array.from({ length: 20 }, () => s.request('POST', '', { body: bundle() })));
  t.same(replies.map((r) => r.statusCode), Array(20).fill(200), 'every transaction commits');
  const ids = await stored(s, value);
  t.equal(ids.length, 1, 'one Patient stored');
  const observations = (await s.request('GET', `Observation?subject=Patient/${ids[0]}&_count=100`)).json();
  t.equal(observations.entry?.length, 20, 'all 20 Observations refer to that Patient');
});
