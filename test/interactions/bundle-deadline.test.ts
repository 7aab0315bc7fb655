import crypto from 'node:crypto';
import t from 'tap';
import { startServer } from '../helpers/server.js';

/** Issue #12 §10: 10,000-entry transaction Bundles ran for 31–100 s, unbounded by the statement timeout. */

/**
 * Enough entries that no machine gets through them within the limit (400 once took ~100 ms on PGlite), and a limit
 * that a single statement on a loaded CI machine stays under (100 ms cancelled the first batch entry there).
 */
const ENTRIES = 3000;
const LIMIT_MS = '300';
const patients = (tag: string) => Array.from({ length: ENTRIES }, (_, i) => ({
  resource: { resourceType: 'Patient', identifier: [{ system: 'urn:hearth:test:deadline', value: `${tag}-${i}` }] },
  request: { method: 'POST', url: 'Patient' },
}));

t.test('a transaction Bundle longer than the statement timeout is rolled back with 503 timeout (ran to the end)', async (t) => {
  const s = await startServer(t, { HEARTH_STATEMENT_TIMEOUT_MS: LIMIT_MS });
  const tag = crypto.randomUUID();
  const started = Date.now();
  const res = await s.request('POST', '', { body: { resourceType: 'Bundle', type: 'transaction', entry: patients(tag) } });
  t.equal(res.statusCode, 503);
  t.equal(res.json().resourceType, 'OperationOutcome');
  t.equal(res.json().issue[0].code, 'timeout');
  t.match(res.json().issue[0].diagnostics, /statement timeout \(300 ms\) and was rolled back/);
  t.ok(Date.now() - started < 10_000, 'answered soon after the limit');
  const stored = await s.request('GET', `Patient?identifier=urn:hearth:test:deadline|${tag}-0&_summary=count`);
  t.equal(stored.json().total, 0, 'nothing of it was stored');
});

t.test('a batch Bundle past the statement timeout answers its remaining entries 503 timeout (ran to the end)', async (t) => {
  const s = await startServer(t, { HEARTH_STATEMENT_TIMEOUT_MS: LIMIT_MS });
  const res = await s.request('POST', '', { body: { resourceType: 'Bundle', type: 'batch', entry: patients(crypto.randomUUID()) } });
  t.equal(res.statusCode, 200);
  const statuses = res.json().entry.map((e: { response: { status: string } }) => e.response.status);
  t.equal(statuses.length, ENTRIES);
  t.match(statuses[0], /^201/, 'the first entries ran');
  t.match(statuses.at(-1), /^503/, 'the last did not');
  const last = res.json().entry.at(-1).response.outcome;
  t.equal(last.issue[0].code, 'timeout');
  const firstSkipped = statuses.findIndex((x: string) => x.startsWith('503'));
  t.ok(statuses.slice(firstSkipped).every((x: string) => x.startsWith('503')), 'every entry after the limit is unprocessed');
});
