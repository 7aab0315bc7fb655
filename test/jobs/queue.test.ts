import t from 'tap';
import { cancelJob, claimJob, enqueueJob, getJob, reportProgress } from '../../src/jobs/queue.js';
import { reindex } from '../../src/jobs/reindex.js';
import { JobWorker } from '../../src/jobs/worker.js';
import type { Change } from '../../src/storage/write.js';
import { createTenant, deleteTenant } from '../../src/storage/tenants.js';
import { startServer } from '../helpers/server.js';

// The queue is shared by every tenant in the database, and other test files run servers whose workers claim
// 'reindex' jobs (a 1 ms lease lapses at once): this file's jobs get a kind only its own workers handle.
const REINDEX = `reindex-queue-test-${process.pid}`;
const handlers = { [REINDEX]: reindex };

t.test('reindex job re-runs the write hooks over every current resource and records progress', async (t) => {
  const s = await startServer(t);
  for (let i = 0; i < 5; i++) await s.request('POST', 'Patient', { body: { resourceType: 'Patient' } });
  const gone = (await s.request('POST', 'Patient', { body: { resourceType: 'Patient' } })).json();
  await s.request('DELETE', `Patient/${gone.id}`);
  const seen: Change[] = [];
  s.deps.writeHooks.push(async (_tx, schema, change) => {
    if (schema === `t_${s.slug.replace(/-/g, '_')}`) seen.push(change);
  });
  const job = await enqueueJob(s.deps.db, s.slug, REINDEX, {});
  t.equal(job.status, 'queued');
  const worker = new JobWorker(s.deps, handlers);
  t.equal(await worker.drain(), 1);
  const done = (await getJob(s.deps.db, s.slug, job.id))!;
  t.equal(done.status, 'completed');
  t.same(done.result, { reindexed: 5 });
  t.equal(done.progress.done, 5);
  t.equal(done.progress.total, 5);
  t.equal(seen.length, 5, 'deleted resource skipped');
  t.ok(seen.every((c) => c.isNew === false && c.resource?.resourceType === 'Patient'));
  t.equal(await getJob(s.deps.db, 'other-tenant', job.id), undefined, 'jobs are visible only to their tenant');
});

t.test('a queued job cancelled before it runs never runs', async (t) => {
  const s = await startServer(t);
  const job = await enqueueJob(s.deps.db, s.slug, REINDEX);
  t.equal((await cancelJob(s.deps.db, s.slug, job.id))!.status, 'cancelled');
  t.equal(await new JobWorker(s.deps, handlers).drain(), 0);
});

t.test('a job whose worker died is resumed from its cursor after the lease lapses', async (t) => {
  const s = await startServer(t);
  for (let i = 0; i < 3; i++) await s.request('POST', 'Patient', { body: { resourceType: 'Patient' } });
  const job = await enqueueJob(s.deps.db, s.slug, REINDEX);
  const claimed = (await claimJob(s.deps.db, 'dead-node', [REINDEX], 1))!;
  t.equal(claimed.id, job.id);
  await reportProgress(s.deps.db, claimed, 'dead-node', { done: 2, total: 3, cursor: 0 }, 1);
  await new Promise((r) => setTimeout(r, 20));
  const worker = new JobWorker(s.deps, handlers);
  t.equal(await worker.drain(), 1, 'the expired lease is taken over');
  const done = (await getJob(s.deps.db, s.slug, job.id))!;
  t.equal(done.status, 'completed');
  t.equal(done.attempts, 2);
  t.equal(done.progress.done, 5, 'continued counting from the saved progress');
});

t.test('cancelling a running job stops it at its next progress report', async (t) => {
  const s = await startServer(t);
  const job = await enqueueJob(s.deps.db, s.slug, 'slow');
  const worker = new JobWorker(s.deps, {
    slow: async (ctx) => {
      await cancelJob(s.deps.db, s.slug, ctx.job.id);
      await ctx.progress({ done: 1 });
      return 'not reached';
    },
  });
  await worker.drain();
  t.equal((await getJob(s.deps.db, s.slug, job.id))!.status, 'cancelled');
});

t.test("a worker confined to one tenant leaves another tenant's queued job alone (the bench's import drain took the import kill test's job on CI)",
  async (t) => {
    const s = await startServer(t);
    const other = `${s.slug}-other`;
    await createTenant(s.deps.db, other, s.deps.migrations.tenant);
    t.teardown(() => deleteTenant(s.deps.db, other, { operator: 'test' }));
    const mine = await enqueueJob(s.deps.db, s.slug, REINDEX);
    const theirs = await enqueueJob(s.deps.db, other, REINDEX);
    t.equal(await new JobWorker(s.deps, handlers, { tenant: s.slug }).drain(), 1, 'one job ran');
    t.equal((await getJob(s.deps.db, s.slug, mine.id))!.status, 'completed');
    t.equal((await getJob(s.deps.db, other, theirs.id))!.status, 'queued', "the other tenant's job still waits");
    t.equal(await new JobWorker(s.deps, handlers, { tenant: other }).drain(), 1, 'a worker of that tenant runs it');
    t.equal((await getJob(s.deps.db, other, theirs.id))!.status, 'completed');
  });
