/**
 * Issue #12 §12: the scheduler failed with 42P01 on tenants still being created, and logged a warning for every run
 * that found the previous one still going.
 */
import crypto from 'node:crypto';
import t from 'tap';
import { retainAll, sealAll } from '../../src/audit/schedule.js';
import { CONTROL_SCHEMA } from '../../src/db/migrate.js';
import { ident, sql } from '../../src/db/sql.js';
import { SKIPPED_RUNS_METRIC, skipOverlapping } from '../../src/jobs/overlap.js';
import { listReadyTenants, schemaFor } from '../../src/storage/tenants.js';
import { startServer } from '../helpers/server.js';

const s = await startServer(t);

t.test('scheduled sealing and retention skip a tenant whose schema is not created yet (failed with 42P01)', async (t) => {
  // The state createTenant is in between committing the tenant's row and committing its schema.
  const slug = `t-half-${crypto.randomBytes(4).toString('hex')}`;
  await s.deps.db.query(sql`INSERT INTO ${ident(CONTROL_SCHEMA)}.tenant (slug, schema_name) VALUES (${slug}, ${schemaFor(slug)})`);
  t.teardown(() => s.deps.db.query(sql`DELETE FROM ${ident(CONTROL_SCHEMA)}.tenant WHERE slug = ${slug}`));
  const ready = (await listReadyTenants(s.deps.db)).map((x) => x.slug);
  t.notOk(ready.includes(slug), 'a half-created tenant is not ready');
  t.ok(ready.includes(s.slug), 'a created one is');
  await t.resolves(sealAll(s.deps), 'sealing runs over the created tenants only');
  await t.resolves(retainAll(s.deps), 'so does retention');
});

t.test('an overlapping scheduled run is skipped quietly and counted in /metrics (13 warnings under load)', async (t) => {
  const logged: { level: string; msg: string }[] = [];
  const log = { debug: (_o: object, msg: string) => { logged.push({ level: 'debug', msg }); } };
  let release!: () => void;
  let runs = 0;
  const job = `test-${crypto.randomBytes(3).toString('hex')}`;
  const run = skipOverlapping(job, async () => {
    runs++;
    await new Promise<void>((r) => { release = r; });
  }, s.deps.metrics, log);
  const first = run();
  await Promise.all([run(), run(), run()]);
  t.equal(runs, 1, 'the overlapping runs did not start');
  t.same(logged.map((l) => l.level), ['debug', 'debug', 'debug'], 'one debug line each, no warning');
  release();
  await first;
  const metrics = await s.request('GET', '/metrics', { auth: false });
  t.equal(metrics.statusCode, 200);
  t.match(metrics.headers['content-type'], /^text\/plain/);
  t.match(metrics.body, `${SKIPPED_RUNS_METRIC}{job="${job}"} 3`);
  const next = run();
  release();
  await next;
  t.equal(runs, 2, 'the next run after the previous finished runs');
});
