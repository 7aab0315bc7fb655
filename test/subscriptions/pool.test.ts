/**
 * Regression: a cold list of the tenant's subscriptions read on a second pool connection from inside write
 * transactions that held the pool's others (each waiting for the advisory lock of If-None-Exist) exhausted the pool,
 * and concurrent conditional creates timed out and stored duplicates (CI, test/interactions/conditional-concurrency).
 * With a pool of 3, 20 concurrent conditional creates on a tenant never written to must store one Patient, promptly.
 */
import t from 'tap';
import { startServer, usingPostgres } from '../helpers/server.js';

t.test('a cold subscription list never borrows a pool connection inside a begun write transaction', {
  skip: usingPostgres() ? false : 'PGlite has one session and no pool' }, async (t) => {
  const s = await startServer(t, { HEARTH_DB_POOL_SIZE: '3', HEARTH_STATEMENT_TIMEOUT_MS: '20000' });
  const started = Date.now();
  const replies = await Promise.all(Array.from({ length: 20 }, () => s.request('POST', 'Patient', {
    headers: { 'if-none-exist': 'identifier=http://example.org/mrn|pool-1' },
    body: { resourceType: 'Patient', identifier: [{ system: 'http://example.org/mrn', value: 'pool-1' }] } })));
  t.equal(replies.filter((r) => r.statusCode === 201).length, 1, 'one created');
  t.equal(replies.filter((r) => r.statusCode === 200).length, 19, 'the others found it');
  const found = await s.request('GET', 'Patient?identifier=http://example.org/mrn|pool-1&_summary=count');
  t.equal(found.json().total, 1, 'one Patient stored');
  t.ok(Date.now() - started < 15_000, `answered in ${Date.now() - started} ms`);
});
