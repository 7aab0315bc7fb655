/**
 * The tenant lifecycle (issue #17 §5): operators give a tenant a display name and contact, suspend it with a reason —
 * its FHIR and SMART endpoints answer 403 with an OperationOutcome saying so, its tokens are refused and its jobs
 * wait — and reactivate it, while the admin API keeps working throughout; every change is audited.
 */
import crypto from 'node:crypto';
import t from 'tap';
import { ident, sql } from '../../src/db/sql.js';
import { sealedAuditColumns } from '../../src/db/vault.js';
import { enqueueJob, getJob } from '../../src/jobs/queue.js';
import { JobWorker } from '../../src/jobs/worker.js';
import { schemaFor, setSuspended } from '../../src/storage/tenants.js';
import { startServer } from '../helpers/server.js';
import { ADMIN, addUser } from '../access/helpers.js';

const s = await startServer(t);
const admin = (method: string, path: string, body?: unknown) => s.request(method, `/admin/tenants/${s.slug}${path}`, { headers: ADMIN, ...(body !== undefined ? { body } : {}) });
const KIND = `lifecycle-${crypto.randomBytes(3).toString('hex')}`; // a kind no other test file's worker claims

t.test('suspended: FHIR, SMART and tokens refused with a clear outcome; the admin API works; reactivated: open again', async (t) => {
  const token = await s.token('system/*.rs');
  const headers = { authorization: `Bearer ${token}` };
  t.equal((await s.request('GET', 'Patient', { headers })).statusCode, 200);
  t.equal((await admin('POST', '/suspend', {})).statusCode, 400, 'a reason is required');
  const suspended = await admin('POST', '/suspend', { reason: 'Contract ended; data kept for 90 days' });
  t.equal(suspended.statusCode, 200, suspended.body);
  t.match(suspended.json(), { status: 'suspended', suspendedReason: 'Contract ended; data kept for 90 days' });

  const read = await s.request('GET', 'Patient', { headers });
  t.equal(read.statusCode, 403);
  t.match(read.json(), { resourceType: 'OperationOutcome', issue: [{ code: 'suspended', diagnostics: /suspended/ }] });
  t.equal((await s.request('GET', 'metadata', { auth: false })).statusCode, 403, 'the CapabilityStatement too');
  t.equal((await s.request('GET', `/fhir/${s.slug}/.well-known/smart-configuration`)).statusCode, 403, 'SMART discovery');
  const tokenEndpoint = await s.request('POST', `/auth/${s.slug}/token`, { body: 'grant_type=client_credentials',
    headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  t.equal(tokenEndpoint.statusCode, 403, 'the token endpoint');
  t.equal((await s.request('GET', `/auth/${s.slug}/authorize?response_type=code`)).statusCode, 403, 'the sign-in pages');
  t.equal((await admin('GET', '/users')).statusCode, 200, 'the admin API still works');
  t.match((await s.request('GET', `/admin/tenants/${s.slug}`, { headers: ADMIN })).json(), { status: 'suspended' });

  const active = await admin('POST', '/activate');
  t.equal(active.statusCode, 200);
  t.equal(active.json().status, 'active');
  t.equal((await s.request('GET', 'Patient', { headers })).statusCode, 200, 'the same token works again');

  const events = (await s.deps.db.query<{ content: { subtype?: { code?: string }[] } }>(sql`SELECT ${sealedAuditColumns(schemaFor(s.slug))}
    FROM ${ident(schemaFor(s.slug))}.audit_event e`)).map((e) => ({ code: e.content.subtype?.[0]?.code ?? '' }))
    .filter((e) => e.code === 'tenant-suspend' || e.code === 'tenant-activate');
  t.same(events.map((e) => e.code).sort(), ['tenant-activate', 'tenant-suspend', 'tenant-suspend'],
    'audited: the suspension refused for want of a reason, the suspension, the reactivation');
});

t.test('display name and contact', async (t) => {
  const res = await s.request('PATCH', `/admin/tenants/${s.slug}`, { headers: ADMIN, body: { displayName: 'Acme Clinic', contact: 'it@acme.example' } });
  t.equal(res.statusCode, 200, res.body);
  t.match(res.json(), { displayName: 'Acme Clinic', contact: 'it@acme.example', status: 'active' });
  t.equal((await s.request('PATCH', `/admin/tenants/${s.slug}`, { headers: ADMIN, body: { displayName: 'x'.repeat(201) } })).statusCode, 400);
  t.equal((await s.request('PATCH', `/admin/tenants/${s.slug}`, { headers: ADMIN, body: { colour: 'red' } })).statusCode, 400);
  const cleared = await s.request('PATCH', `/admin/tenants/${s.slug}`, { headers: ADMIN, body: { contact: null } });
  t.notOk('contact' in cleared.json(), 'null clears');
  t.equal(cleared.json().displayName, 'Acme Clinic', 'the other field is kept');
});

t.test('a suspended tenant\'s jobs wait, and resume with their progress once it is active', async (t) => {
  const job = await enqueueJob(s.deps.db, s.slug, KIND);
  let runs = 0;
  const worker = new JobWorker(s.deps, { [KIND]: async (ctx) => {
    runs++;
    if (runs === 1) {
      await setSuspended(s.deps.db, s.slug, 'Suspended mid-way', new Date()); // as an operator would, while it runs
      await ctx.progress({ done: 1, total: 2 });
      throw new Error('not reached: the progress report pauses the job');
    }
    t.same(ctx.job.progress, { done: 1, total: 2 }, 'resumes from its progress');
    return { ok: true };
  } });
  t.equal(await worker.drain(), 1, 'it ran until its progress report');
  t.match(await getJob(s.deps.db, s.slug, job.id), { status: 'queued', progress: { done: 1, total: 2 } }, 'back in the queue');
  t.equal(await worker.drain(), 0, 'not claimed while suspended');
  await setSuspended(s.deps.db, s.slug, null, new Date());
  t.equal(await worker.drain(), 1, 'claimed once active');
  t.match(await getJob(s.deps.db, s.slug, job.id), { status: 'completed', result: { ok: true } });
});

t.test('a tenant administrator cannot suspend or reactivate their own tenant', async (t) => {
  await addUser(s, 'lifecycle-admin', 'Practitioner/a', ['admin']);
  const login = await s.request('POST', '/admin/login', { body: { username: 'lifecycle-admin', password: 'correct horse battery', tenant: s.slug } });
  const headers = { authorization: `Bearer ${(login.json() as { access_token: string }).access_token}` };
  t.equal((await s.request('POST', `/admin/tenants/${s.slug}/suspend`, { headers, body: { reason: 'Just because' } })).statusCode, 403);
  t.equal((await s.request('POST', `/admin/tenants/${s.slug}/activate`, { headers })).statusCode, 403);
});
