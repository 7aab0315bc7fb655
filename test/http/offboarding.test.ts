/**
 * Offboarding a tenant (issue #17 §5): the tenant is suspended, a full export of it runs anyway and its files are
 * downloaded through the admin API for the days asked, then the tenant is deleted (recorded in the control schema);
 * reactivating it cancels the deletion.
 */
import crypto from 'node:crypto';
import t from 'tap';
import { sql } from '../../src/db/sql.js';
import { sweepExports } from '../../src/bulk/expiry.js';
import { enqueueJob, getJob } from '../../src/jobs/queue.js';
import { JobWorker } from '../../src/jobs/worker.js';
import { findTenant } from '../../src/storage/tenants.js';
import { ADMIN } from '../access/helpers.js';
import { runTenantJobs } from '../bulk/tenant-worker.js';
import { startServer } from '../helpers/server.js';

const s = await startServer(t, { HEARTH_EXPORT_DIR: `${process.env.TMPDIR ?? '/tmp'}/hearth-offboarding-${crypto.randomBytes(4).toString('hex')}` });
const admin = (method: string, path: string, body?: unknown, slug = s.slug) =>
  s.request(method, `/admin/tenants/${slug}${path}`, { headers: ADMIN, ...(body !== undefined ? { body } : {}) });

await s.request('PUT', 'Patient/leaving', { body: { resourceType: 'Patient', id: 'leaving', name: [{ family: 'Export' }] } });
await s.request('PUT', 'Observation/o1', { body: { resourceType: 'Observation', id: 'o1', status: 'final', code: { text: 'x' },
  subject: { reference: 'Patient/leaving' } } });

t.test('offboarding needs a reason and a number of days', async (t) => {
  t.equal((await admin('POST', '/offboard', { keepDays: 30 })).statusCode, 400);
  t.equal((await admin('POST', '/offboard', { reason: 'Contract ended', keepDays: 0 })).statusCode, 400);
  t.equal((await admin('POST', '/offboard', { reason: 'Contract ended', keepDays: 30, extra: 1 })).statusCode, 400);
  t.equal((await s.request('GET', 'Patient/leaving')).statusCode, 200, 'nothing changed');
});

t.test('a suspended tenant\'s offboarding export is the one job that runs', async (t) => {
  const kind = `offboard-claim-${crypto.randomBytes(3).toString('hex')}`;
  const other = await s.newTenant();
  t.equal((await admin('POST', '/suspend', { reason: 'Checking the claim' }, other)).statusCode, 200);
  const plain = await enqueueJob(s.deps.db, other, kind, {});
  const offboarding = await enqueueJob(s.deps.db, other, kind, { offboarding: true });
  const ran: string[] = [];
  t.equal(await new JobWorker(s.deps, { [kind]: async (ctx) => { ran.push(ctx.job.id); await ctx.progress({ done: 1 }); } }).drain(), 1);
  t.same(ran, [offboarding.id]);
  t.equal((await getJob(s.deps.db, other, offboarding.id))!.status, 'completed', 'and it is not paused by its progress');
  t.equal((await getJob(s.deps.db, other, plain.id))!.status, 'queued', 'the others wait for the tenant');
});

t.test('offboarding suspends, exports everything for download by the operator, and deletes the tenant when the time is up', async (t) => {
  const started = await admin('POST', '/offboard', { reason: 'Contract ended', keepDays: 30 });
  t.equal(started.statusCode, 202, started.body);
  const deleteAfter = Date.parse(started.json().deleteAfter);
  t.ok(Math.abs(deleteAfter - (Date.now() + 30 * 86_400_000)) < 60_000, 'kept 30 days');
  t.equal((await s.request('GET', 'Patient/leaving')).statusCode, 403, 'the tenant is suspended');

  t.equal(await runTenantJobs(s.deps, s.slug), 1);
  const view = (await admin('GET', '/offboarding')).json();
  t.equal(view.job.status, 'completed');
  const types = view.files.map((f: { type: string }) => f.type);
  t.ok(types.includes('Patient') && types.includes('Observation'), `every type with data: ${types}`);
  const patientFile = view.files.find((f: { type: string }) => f.type === 'Patient');
  const file = await admin('GET', `/offboarding/files/${patientFile.name}`);
  t.equal(file.statusCode, 200);
  t.match(file.headers['content-type'], 'application/fhir+ndjson');
  t.equal(JSON.parse(file.body.trim()).id, 'leaving');
  t.equal((await admin('GET', '/offboarding/files/nope.ndjson')).statusCode, 404);

  await sweepExports(s.deps);
  t.equal((await admin('GET', `/offboarding/files/${patientFile.name}`)).statusCode, 200, 'kept past the export TTL until the deletion');
  t.ok(await findTenant(s.deps.db, s.slug), 'not deleted before its time');

  await s.deps.db.query(sql`UPDATE hearth.tenant SET delete_after = now() - interval '1 minute' WHERE slug = ${s.slug}`);
  await sweepExports(s.deps);
  t.equal(await findTenant(s.deps.db, s.slug), undefined, 'deleted once its time is up');
  const deletions = (await s.request('GET', '/admin/tenant-deletions', { headers: ADMIN })).json().deletions;
  t.match(deletions.find((d: { slug: string }) => d.slug === s.slug), { operator: 'offboarding' });
});

t.test('reactivating a tenant cancels its offboarding deletion', async (t) => {
  const slug = await s.newTenant();
  t.equal((await admin('POST', '/offboard', { reason: 'Changed our minds later', keepDays: 1 }, slug)).statusCode, 202);
  t.equal((await admin('POST', '/activate', undefined, slug)).statusCode, 200);
  t.equal((await admin('GET', '/offboarding', undefined, slug)).json().deleteAfter, undefined);
  await s.deps.db.query(sql`UPDATE hearth.tenant SET suspended_at = now() WHERE slug = ${slug}`);
  await sweepExports(s.deps);
  t.ok(await findTenant(s.deps.db, slug), 'not deleted');
});
