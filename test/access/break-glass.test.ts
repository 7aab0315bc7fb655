/**
 * Break-the-glass (issue #16 §4): a doctor opens access to one unrelated patient with a reason, for the tenant's
 * configured minutes; only what the role's scopes allow, only that patient; every request meanwhile is audited with
 * purpose of use BTG; auditors list the sessions awaiting review and review them.
 */
import t from 'tap';
import { storedAuditEvents } from '../helpers/audit.js';
import { schemaFor } from '../../src/storage/tenants.js';
import { startServer } from '../helpers/server.js';
import { fixClock } from '../helpers/smart.js';
import { ADMIN, addUser, userToken } from './helpers.js';

const s = await startServer(t);
const put = async (r: Record<string, unknown>) => {
  const res = await s.request('PUT', `${r.resourceType}/${r.id}`, { body: r });
  if (res.statusCode >= 300) throw new Error(res.body);
};
await put({ resourceType: 'Practitioner', id: 'd1' });
for (const id of ['p1', 'p2', 'p3']) await put({ resourceType: 'Patient', id });
await put({ resourceType: 'Encounter', id: 'e1', status: 'finished', class: { code: 'AMB' }, subject: { reference: 'Patient/p1' },
  participant: [{ individual: { reference: 'Practitioner/d1' } }] });
await put({ resourceType: 'Observation', id: 'o2', status: 'final', code: { text: 'x' }, subject: { reference: 'Patient/p2' } });
const doctor = await userToken(s, await addUser(s, 'dr', 'Practitioner/d1', ['doctor']), 'Practitioner/d1');
const clerk = await userToken(s, await addUser(s, 'clerk', 'Practitioner/d1', ['receptionist']), 'Practitioner/d1');
const glass = (patient: string, headers: Record<string, string>, reason?: string) => s.request('POST', `Patient/${patient}/$break-the-glass`,
  { headers, body: { resourceType: 'Parameters', parameter: reason === undefined ? [] : [{ name: 'reason', valueString: reason }] } });
const schema = schemaFor(s.slug);

t.test('an emergency opens one patient, within the role, for the configured time, audited as BTG', async (t) => {
  const clock = fixClock(t, s, new Date());
  const admin = await s.request('PUT', `/admin/tenants/${s.slug}/lifetimes`, { headers: ADMIN, body: { break_glass_minutes: 30 } });
  t.equal(admin.statusCode, 200, admin.body);
  t.equal((await s.request('GET', 'Patient/p2', { headers: doctor })).statusCode, 404, 'unrelated before');
  t.equal((await glass('p2', doctor)).statusCode, 400, 'a reason is required');
  t.equal((await glass('p2', doctor, '\u0000\u0001')).statusCode, 400, 'a reason is text');
  t.equal((await glass('nobody', doctor, 'Unconscious patient in the ED')).statusCode, 404);
  t.equal((await glass('p2', clerk, 'Curious')).statusCode, 403, 'a role without the right cannot');
  const opened = await glass('p2', doctor, 'Unconscious patient in the ED');
  t.equal(opened.statusCode, 200, opened.body);
  const out = (opened.json() as { parameter: { name: string; valueInstant?: string; valueString?: string }[] }).parameter;
  const expires = new Date(out.find((p) => p.name === 'expires')!.valueInstant!);
  t.ok(Math.abs(expires.getTime() - s.deps.auth.now().getTime() - 30 * 60_000) < 5_000, 'lasts the configured 30 minutes');

  t.equal((await s.request('GET', 'Patient/p2', { headers: doctor })).statusCode, 200, 'open now');
  const search = await s.request('GET', 'Observation?subject=Patient/p2', { headers: doctor });
  t.equal((search.json() as { entry?: unknown[] }).entry?.length, 1);
  t.equal((await s.request('GET', 'Patient/p3', { headers: doctor })).statusCode, 404, 'only that patient');
  t.equal((await s.request('DELETE', 'Observation/o2', { headers: doctor })).statusCode, 403, 'only what the role allows (no delete)');
  const btgEvents = async () => (await storedAuditEvents(s.deps.db, schema)).filter((e) =>
    e.purposeOfEvent?.some((p: { coding?: { code?: string }[] }) => p.coding?.some((c) => c.code === 'BTG'))).length;
  const during = await btgEvents();
  t.ok(during >= 4, `the opening, the reads, the search and the refused delete are audited as BTG (${during})`);

  clock.advance(31 * 60_000);
  t.equal((await s.request('GET', 'Patient/p2', { headers: doctor })).statusCode, 404, 'closed once expired');
  t.equal(await btgEvents(), during, 'requests after expiry are not BTG');
});

t.test('auditors list the sessions awaiting review and review them', async (t) => {
  const list = await s.request('GET', `/admin/tenants/${s.slug}/break-glass`, { headers: ADMIN });
  t.equal(list.statusCode, 200, list.body);
  const sessions = (list.json() as { sessions: { id: string; username: string; patient: string; reason: string }[] }).sessions;
  t.equal(sessions.length, 1);
  t.match(sessions[0], { username: 'dr', patient: 'p2', reason: 'Unconscious patient in the ED' });
  t.equal((await s.request('POST', `/admin/tenants/${s.slug}/break-glass/${sessions[0]!.id}/review`, { headers: ADMIN, body: {} })).statusCode, 400);
  t.equal((await s.request('POST', `/admin/tenants/${s.slug}/break-glass/00000000-0000-4000-8000-000000000000/review`,
    { headers: ADMIN, body: { note: 'checked' } })).statusCode, 404);
  const reviewed = await s.request('POST', `/admin/tenants/${s.slug}/break-glass/${sessions[0]!.id}/review`,
    { headers: ADMIN, body: { note: 'Justified: ED admission 02:14' } });
  t.equal(reviewed.statusCode, 200, reviewed.body);
  t.match(reviewed.json(), { reviewNote: 'Justified: ED admission 02:14' });
  t.same((await s.request('GET', `/admin/tenants/${s.slug}/break-glass`, { headers: ADMIN })).json(), { sessions: [] }, 'none left to review');
  t.equal(((await s.request('GET', `/admin/tenants/${s.slug}/break-glass?status=all`, { headers: ADMIN })).json() as { sessions: unknown[] }).sessions.length, 1);
  t.equal((await s.request('GET', `/admin/tenants/${s.slug}/break-glass?status=lost`, { headers: ADMIN })).statusCode, 400);
  t.equal((await s.request('GET', `/admin/tenants/${s.slug}/break-glass`, { headers: doctor })).statusCode, 401, 'not with a FHIR token');
});
