/**
 * Audit retention (issue #6 §7): monthly partitions older than the tenant's retention period are exported to NDJSON
 * with their seals, then dropped; unsealed ones wait; the chain still verifies afterwards and the purge is audited.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { auditEvent, dcm } from '../../src/audit/event.js';
import { applyRetention, getRetention, readArchive, setRetention } from '../../src/audit/retention.js';
import { retainAll } from '../../src/audit/schedule.js';
import { ensurePartitions, monthStart, partitionName } from '../../src/db/partitions.js';
import { verifyChain } from '../../src/audit/verify.js';
import { ident, sql } from '../../src/db/sql.js';
import { sealedAuditColumns } from '../../src/db/vault.js';
import { findTenant, schemaFor } from '../../src/storage/tenants.js';
import { startServer } from '../helpers/server.js';
import { sealEverything } from '../helpers/audit.js';
import { fileKeyVersions } from '../../src/db/sealed-file.js';
import { enqueueJob } from '../../src/jobs/queue.js';
import { JOB_HANDLERS } from '../../src/operations/jobs.js';
import { runTenantJobs } from '../bulk/tenant-worker.js';

const archive = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-audit-archive-'));
t.teardown(() => fs.rmSync(archive, { recursive: true, force: true }));
const s = await startServer(t, { HEARTH_AUDIT_ARCHIVE_DIR: archive });
const schema = schemaFor(s.slug);
const tenant = (await findTenant(s.deps.db, s.slug))!;
const now = new Date();
const old = monthStart(now, -80); // older than the default 72 months
const recent = monthStart(now, -2);

/** Events recorded at `at`, as the server's writer records them (its clock set back). */
async function eventsAt(at: Date, n: number) {
  const events = Array.from({ length: n }, (_, i) => auditEvent({ type: dcm('110100', 'Application Activity'), subtype: [],
    action: 'R', pattern: 'Read', actor: { clientId: 'c' }, request: { requestId: `r${i}`, address: '127.0.0.1', method: 'GET',
      url: `${s.url}/Patient/${i}` }, base: s.url, outcome: { status: 200 }, entities: [], recorded: new Date(at.getTime() + 3600_000 + i) }));
  await s.deps.db.transaction((tx) => s.deps.audit.insert(tx, schema, events));
}

await ensurePartitions(s.deps.db, schema, old, recent, 0);

t.test('an unsealed expired partition waits; once sealed it is archived with its seals and dropped', async (t) => {
  t.equal(await getRetention(s.deps.db, tenant), 72, 'six years by default');
  await eventsAt(old, 5);
  await eventsAt(recent, 3);
  t.same(await retainAll(s.deps, now), [], 'unsealed events are never dropped');
  await sealEverything(s.deps.db, tenant);
  const archived = (await retainAll(s.deps, now)).filter((a) => a.file.includes(s.slug) && a.events > 0);
  t.equal(archived.length, 1, 'one expired partition holds events (the empty ones are archived as empty)');
  t.equal(archived[0]!.partition, partitionName(old));
  t.equal(archived[0]!.events, 5);
  t.notOk(fs.readFileSync(archived[0]!.file).includes('AuditEvent'), 'the archive file is sealed on disk');
  const lines = (await readArchive(s.deps.db, schema, archived[0]!.file))!.trim().split('\n').map((l) => JSON.parse(l));
  t.equal(lines.length, 5);
  // Inside the sealed file each body is opened, as the digest covers it (no key version of the database needed).
  t.equal(lines[0].content.resourceType, 'AuditEvent');
  t.equal(lines[0].sealed, undefined);
  const seals = (await readArchive(s.deps.db, schema, archived[0]!.file.replace(/\.ndjson$/, '.seals.ndjson')))!.trim().split('\n');
  t.ok(seals.length >= 1, 'the seals covering the partition are archived with it');
  const tables = await s.deps.db.query(sql`SELECT 1 FROM pg_tables WHERE schemaname = ${schema} AND tablename = ${partitionName(old)}`);
  t.equal(tables.length, 0, 'the partition is dropped');
  const [{ n }] = await s.deps.db.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM ${ident(schema)}.audit_event
    WHERE recorded >= ${recent}`) as [{ n: number }];
  t.equal(n, 4, 'recent events stay (and the purge event)');
  const purge = await s.deps.db.query<{ content: { outcomeDesc: string } }>(sql`SELECT ${sealedAuditColumns(schema)} FROM ${ident(schema)}.audit_event e
    WHERE subtype && ARRAY['http://hearth.dev/fhir/CodeSystem/audit-subtype|audit-archive']`);
  t.equal(purge.length, 1, 'the purge is itself audited');
  t.match(purge[0]!.content.outcomeDesc, /Archived 5 AuditEvent/);
  await sealEverything(s.deps.db, tenant);
  const report = await verifyChain(s.deps.db, schema, undefined);
  t.equal(report.verified, true, report.message);
});

t.test('retention is per tenant', async (t) => {
  await setRetention(s.deps.db, tenant, 1);
  await sealEverything(s.deps.db, tenant);
  const archived = (await retainAll(s.deps, now)).filter((a) => a.file.includes(s.slug) && a.events > 0);
  t.same(archived.map((a) => a.partition), [partitionName(recent)], 'the two-month-old partition goes under a one-month period');
  t.equal(await getRetention(s.deps.db, tenant), 1);
});

t.test('operators set the period through the admin API (audited)', async (t) => {
  const admin = { authorization: 'Bearer test-admin-token-0123456789' };
  const put = await s.request('PUT', `/admin/tenants/${s.slug}/audit`, { headers: admin, body: { retention_months: 120 } });
  t.equal(put.statusCode, 200, put.body);
  t.same(put.json(), { retention_months: 120 });
  t.same((await s.request('GET', `/admin/tenants/${s.slug}/audit`, { headers: admin })).json(), { retention_months: 120 });
  t.equal(await getRetention(s.deps.db, tenant), 120);
  for (const body of [{ retention_months: 0 }, { retention_months: 'six years' }, { months: 3 }]) {
    t.equal((await s.request('PUT', `/admin/tenants/${s.slug}/audit`, { headers: admin, body })).statusCode, 400, JSON.stringify(body));
  }
  t.equal((await s.request('PUT', `/admin/tenants/${s.slug}/audit`, { body: { retention_months: 1 } })).statusCode, 401);
  t.equal(await getRetention(s.deps.db, tenant), 120, 'refused changes change nothing');
  const events = await s.deps.db.query<{ outcome: string }>(sql`SELECT outcome FROM ${ident(schema)}.audit_event
    WHERE subtype && ARRAY['http://hearth.dev/fhir/CodeSystem/audit-subtype|audit-retention'] ORDER BY seq`);
  t.same(events.map((e) => e.outcome), ['0', '4', '4', '4'], 'each change and each refused change is audited');
});

t.test('concurrent retention runs on one tenant archive a partition once (they raced on the archive file)', async (t) => {
  await setRetention(s.deps.db, tenant, 72);
  const older = monthStart(now, -90);
  await ensurePartitions(s.deps.db, schema, older, monthStart(older, 1), 0);
  await eventsAt(older, 4);
  await sealEverything(s.deps.db, tenant);
  const runs = await Promise.all([0, 1, 2].map(() => applyRetention(s.deps.db, tenant, archive, now)));
  const archived = runs.flat().filter((a) => a.partition === partitionName(older));
  t.equal(archived.length, 1, 'exactly one run archived it');
  t.equal(archived[0]!.events, 4);
  t.equal((await readArchive(s.deps.db, schema, archived[0]!.file))!.trim().split('\n').length, 4);
  t.notOk(fs.existsSync(`${archived[0]!.file}.partial`), 'no half-written file is left');
  const rows = await s.deps.db.query(sql`SELECT 1 FROM ${ident(schema)}.audit_archive WHERE partition = ${partitionName(older)}`);
  t.equal(rows.length, 1, 'recorded once');
});

t.test('a key rotation reseals the audit archives under the new version, their text unchanged (issue #17 §2)', async (t) => {
  const files = (await s.deps.db.query<{ location: string }>(sql`SELECT location FROM ${ident(schema)}.audit_archive WHERE events > 0`))
    .map((r) => r.location).filter((f) => f.startsWith(s.deps.config.auditArchiveDir));
  t.ok(files.length >= 1, 'the first test archived into the configured directory');
  const before = await Promise.all(files.map((f) => readArchive(s.deps.db, schema, f)));
  const version = await s.deps.db.keyring.createKey(s.deps.db, schema);
  await enqueueJob(s.deps.db, s.slug, 'rekey', { version });
  t.equal(await runTenantJobs(s.deps, s.slug, JOB_HANDLERS.rekey, 'rekey'), 1);
  for (const [i, f] of files.entries()) {
    t.same(await fileKeyVersions(f, path.basename(f)), [version], `${path.basename(f)} under version ${version}`);
    t.equal(await readArchive(s.deps.db, schema, f), before[i], 'the same text');
  }
});
