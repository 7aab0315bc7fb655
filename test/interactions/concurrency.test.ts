import t from 'tap';
import { startServer } from '../helpers/server.js';

t.test('50 parallel PUTs to one resource → 50 distinct consecutive versions, no lost update', async (t) => {
  const s = await startServer(t);
  const base = { resourceType: 'Patient', id: 'contended' };
  t.equal((await s.request('PUT', 'Patient/contended', { body: base })).statusCode, 201);
  const replies = await Promise.all(Array.from({ length: 50 }, (_, i) =>
    s.request('PUT', 'Patient/contended', { body: { ...base, birthDate: `19${String(i).padStart(2, '0')}-01-01` } })));
  t.same(replies.map((r) => r.statusCode).filter((c) => c !== 200), [], 'every PUT answered 200');
  const versions = replies.map((r) => Number(r.json().meta.versionId)).sort((a, b) => a - b);
  t.same(versions, Array.from({ length: 50 }, (_, i) => i + 2), 'versions 2..51, each exactly once');
  const history = (await s.request('GET', 'Patient/contended/_history?_count=100')).json();
  t.equal(history.total, 51);
  const births = new Set(history.entry.map((e: { resource?: { birthDate?: string } }) => e.resource?.birthDate).filter(Boolean));
  t.equal(births.size, 50, 'every write is kept in history');
});

t.test('50 parallel PUTs with the same If-Match → exactly one wins, the stale writers get 412', async (t) => {
  const s = await startServer(t);
  const base = { resourceType: 'Patient', id: 'raced' };
  await s.request('PUT', 'Patient/raced', { body: base });
  const replies = await Promise.all(Array.from({ length: 50 }, () =>
    s.request('PUT', 'Patient/raced', { body: { ...base, active: true }, headers: { 'if-match': 'W/"1"' } })));
  const codes = replies.map((r) => r.statusCode);
  t.equal(codes.filter((c) => c === 200).length, 1, 'one writer succeeds');
  t.equal(codes.filter((c) => c === 412).length, 49, 'the others are stale');
  t.equal((await s.request('GET', 'Patient/raced')).json().meta.versionId, '2');
});

t.test('parallel update-as-create of one new id → one 201, the rest 200, consecutive versions', async (t) => {
  const s = await startServer(t);
  const body = { resourceType: 'Patient', id: 'fresh' };
  const replies = await Promise.all(Array.from({ length: 10 }, () => s.request('PUT', 'Patient/fresh', { body })));
  const codes = replies.map((r) => r.statusCode).sort();
  t.same(codes, [200, 200, 200, 200, 200, 200, 200, 200, 200, 201]);
  t.equal((await s.request('GET', 'Patient/fresh')).json().meta.versionId, '10');
});
