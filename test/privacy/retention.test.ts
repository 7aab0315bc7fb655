/**
 * Data retention (issue #17 §4): per-tenant rules through the admin API, a dry-run report that changes nothing, and a
 * run that removes exactly what the rules say — resources deleted long ago, a type's resources unchanged for long,
 * the records of patients without an Encounter for long — audited in the tenant's trail. Ages are made by moving
 * rows' last change back in the database (the clock is the server's).
 */
import t from 'tap';
import { ident, sql } from '../../src/db/sql.js';
import { schemaFor } from '../../src/storage/tenants.js';
import { ADMIN } from '../access/helpers.js';
import { startServer } from '../helpers/server.js';

const s = await startServer(t);
const S = ident(schemaFor(s.slug));
const admin = (method: string, path: string, body?: unknown) =>
  s.request(method, `/admin/tenants/${s.slug}/retention${path}`, { headers: ADMIN, ...(body !== undefined ? { body } : {}) });
const put = async (resource: Record<string, unknown>) => {
  const res = await s.request('PUT', `${resource.resourceType}/${resource.id}`, { body: resource });
  if (res.statusCode >= 300) throw new Error(`${resource.resourceType}/${resource.id}: ${res.body}`);
};
const age = (type: string, id: string, interval: string) =>
  s.deps.db.query(sql`UPDATE ${S}.resource SET last_updated = now() - ${interval}::interval WHERE type = ${type} AND id = ${id}`);
const ref = (r: string) => ({ reference: r });
const encounter = (id: string, patient: string, end: string) => ({ resourceType: 'Encounter', id, status: 'finished',
  class: { code: 'AMB' }, subject: ref(`Patient/${patient}`), period: { start: `${end.slice(0, 4)}-01-01`, end } });

t.test('rules are checked as they are written', async (t) => {
  for (const [name, body, field] of [
    ['Bad_Name', { kind: 'deleted-history', days: 30 }, 'name'],
    ['x', { kind: 'shred-everything', days: 30 }, 'kind'],
    ['x', { kind: 'resource-age', days: 30 }, 'resourceType'],
    ['x', { kind: 'patient-inactivity', resourceType: 'Patient', days: 30 }, 'resourceType'],
    ['x', { kind: 'resource-age', resourceType: 'AuditEvent', days: 30 }, 'resourceType'],
    ['x', { kind: 'resource-age', resourceType: 'Nonsense', days: 30 }, 'resourceType'],
    ['x', { kind: 'deleted-history', days: 0 }, 'days'],
    ['x', { kind: 'deleted-history', days: 30, extra: 1 }, 'extra'],
  ] as const) {
    const res = await admin('PUT', `/${name}`, body);
    t.equal(res.statusCode, 400, `${JSON.stringify(body)}: ${res.body}`);
    t.match(res.body, field);
  }
  t.same((await admin('GET', '')).json(), { rules: [] }, 'nothing written');
});

t.test('a report lists what a run would take; a run removes exactly that, and is audited', async (t) => {
  t.equal((await admin('PUT', '/deleted-30d', { kind: 'deleted-history', days: 30 })).statusCode, 200);
  t.equal((await admin('PUT', '/tasks-1y', { kind: 'resource-age', resourceType: 'Task', days: 365 })).statusCode, 200);
  t.equal((await admin('PUT', '/inactive-10y', { kind: 'patient-inactivity', days: 3650 })).statusCode, 200);
  t.same((await admin('GET', '')).json().rules.map((r: { name: string }) => r.name), ['deleted-30d', 'inactive-10y', 'tasks-1y']);

  await put({ resourceType: 'Patient', id: 'old-p' });
  await put(encounter('old-e', 'old-p', '2010-01-01'));
  await put({ resourceType: 'Observation', id: 'old-o', status: 'final', code: { text: 'x' }, subject: ref('Patient/old-p') });
  await put({ resourceType: 'Patient', id: 'recent-p' });
  await put(encounter('recent-e', 'recent-p', '2025-06-01'));
  await age('Patient', 'recent-p', '20 years');
  await put({ resourceType: 'Patient', id: 'never-p' });
  await age('Patient', 'never-p', '11 years');
  await put({ resourceType: 'Patient', id: 'fresh-p' });
  for (const id of ['del-old', 'del-new']) {
    await put({ resourceType: 'Basic', id, code: { text: 'x' } });
    await s.request('DELETE', `Basic/${id}`);
  }
  await age('Basic', 'del-old', '40 days');
  await put({ resourceType: 'Basic', id: 'live-old', code: { text: 'x' } });
  await age('Basic', 'live-old', '400 days');
  for (const id of ['t-old', 't-new']) await put({ resourceType: 'Task', id, status: 'completed', intent: 'order' });
  await age('Task', 't-old', '2 years');

  const expected = {
    'deleted-30d': { resources: 1, versions: 2, examples: ['Basic/del-old'] },
    'inactive-10y': { resources: 4, versions: 4, examples: ['Patient/never-p', 'Encounter/old-e', 'Observation/old-o', 'Patient/old-p'] },
    'tasks-1y': { resources: 1, versions: 1, examples: ['Task/t-old'] },
  };
  const report = await admin('GET', '/report');
  t.equal(report.statusCode, 200, report.body);
  t.equal(report.json().dryRun, true);
  for (const r of report.json().rules) t.match(r, expected[r.rule as keyof typeof expected], r.rule);
  t.equal((await s.request('GET', 'Patient/old-p')).statusCode, 200, 'a report changes nothing');

  const run = await admin('POST', '/run');
  t.equal(run.statusCode, 200, run.body);
  for (const r of run.json().rules) t.match(r, expected[r.rule as keyof typeof expected], r.rule);
  for (const [path, status] of [['Basic/del-old', 404], ['Basic/del-new', 410], ['Basic/live-old', 200], ['Task/t-old', 404],
    ['Task/t-new', 200], ['Patient/old-p', 410], ['Encounter/old-e', 410], ['Observation/old-o', 410], ['Patient/never-p', 410],
    ['Patient/recent-p', 200], ['Encounter/recent-e', 200], ['Patient/fresh-p', 200]] as const) {
    t.equal((await s.request('GET', path)).statusCode, status, path);
  }
  const left = await s.deps.db.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM ${S}.resource_version
    WHERE id IN ('del-old', 't-old', 'old-p', 'old-e', 'old-o', 'never-p')`);
  t.equal(left[0]!.n, 0, 'no version of what went is left');
  t.same((await admin('GET', '/report')).json().rules.map((r: { resources: number }) => r.resources), [0, 0, 0], 'nothing more to take');

  const audit = await s.request('GET', 'AuditEvent?subtype=retention', { headers: {
    authorization: `Bearer ${await s.token('system/AuditEvent.rs')}` } });
  const described = ((audit.json() as { entry?: { resource: { outcomeDesc: string } }[] }).entry ?? []).map((e) => e.resource.outcomeDesc).sort();
  t.equal(described.length, 3, 'one record per rule that removed something');
  t.match(described[0], /Retention rule deleted-30d \(deleted-history, before .*\) removed 1 resource\(s\), 2 version\(s\)/);
});

t.test('rules are deleted by name', async (t) => {
  t.equal((await admin('DELETE', '/tasks-1y')).statusCode, 204);
  t.equal((await admin('DELETE', '/tasks-1y')).statusCode, 404);
  t.same((await admin('GET', '')).json().rules.map((r: { name: string }) => r.name), ['deleted-30d', 'inactive-10y']);
});
