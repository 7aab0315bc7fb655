/**
 * Roles as access policies (issue #16 §1): a token's access is the app's scopes met with the user's roles, and a
 * role's relationship rule confines it to the related patients on every path; roles are data an administrator
 * changes (applied on the next request), checked when written.
 */
import t from 'tap';
import { startServer } from '../helpers/server.js';
import { ADMIN, addUser, userToken } from './helpers.js';
import { resourcesByType, runExport } from '../bulk/helpers.js';

const s = await startServer(t);

const put = async (resource: Record<string, unknown>) => {
  const res = await s.request('PUT', `${resource.resourceType}/${resource.id}`, { body: resource });
  if (res.statusCode >= 300) throw new Error(`${resource.resourceType}/${resource.id}: ${res.body}`);
};
const ref = (r: string) => ({ reference: r });
const obs = (id: string, patient: string, category: string) => ({ resourceType: 'Observation', id, status: 'final',
  category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: category }] }],
  code: { text: 'x' }, subject: ref(`Patient/${patient}`) });

for (const id of ['d1', 'd2']) await put({ resourceType: 'Practitioner', id });
await put({ resourceType: 'Organization', id: 'org1', name: 'Ward 1' });
await put({ resourceType: 'PractitionerRole', id: 'pr1', practitioner: ref('Practitioner/d1'), organization: ref('Organization/org1') });
await put({ resourceType: 'Patient', id: 'p1' });
await put({ resourceType: 'Patient', id: 'p2', generalPractitioner: [ref('Practitioner/d2')] });
await put({ resourceType: 'Patient', id: 'p3', managingOrganization: ref('Organization/org1') });
await put({ resourceType: 'Patient', id: 'p4' });
await put({ resourceType: 'Encounter', id: 'e1', status: 'finished', class: { code: 'AMB' }, subject: ref('Patient/p1'),
  participant: [{ individual: ref('Practitioner/d1') }] });
await put({ resourceType: 'CareTeam', id: 'ct4', subject: ref('Patient/p4'), participant: [{ member: ref('PractitionerRole/pr1') }] });
await put(obs('o1', 'p1', 'laboratory'));
await put(obs('o1b', 'p1', 'vital-signs'));
await put(obs('o2', 'p2', 'laboratory'));
await put(obs('o3', 'p3', 'vital-signs'));

const doctorId = await addUser(s, 'dr.one', 'Practitioner/d1', ['doctor']);
const doctor = await userToken(s, doctorId, 'Practitioner/d1');
const ids = (res: { json(): unknown }, type: string) => ((res.json() as { entry?: { resource: { resourceType: string; id: string } }[] }).entry ?? [])
  .filter((e) => e.resource.resourceType === type).map((e) => e.resource.id).sort();

t.test('nine default roles ship with every tenant', async (t) => {
  const res = await s.request('GET', `/admin/tenants/${s.slug}/roles`, { headers: ADMIN });
  t.equal(res.statusCode, 200);
  const names = (res.json() as { roles: { name: string }[] }).roles.map((r) => r.name);
  t.same(names, ['admin', 'auditor', 'billing', 'doctor', 'lab', 'nurse', 'patient', 'pharmacist', 'receptionist']);
  for (const role of (res.json() as { roles: { name: string; scopes: string; relationship: string[] | null; description: string }[] }).roles) {
    const again = await s.request('PUT', `/admin/tenants/${s.slug}/roles/${role.name}`, { headers: ADMIN,
      body: { scopes: role.scopes, relationship: role.relationship, description: role.description } });
    t.equal(again.statusCode, 200, `default role ${role.name} passes the checks a written role meets: ${again.body}`);
    t.equal((again.json() as { scopes: string }).scopes, role.scopes);
  }
});

t.test('a doctor sees only the patients related by encounter, organization and care team (through a PractitionerRole)', async (t) => {
  t.same(ids(await s.request('GET', 'Patient', { headers: doctor }), 'Patient'), ['p1', 'p3', 'p4']);
  t.equal((await s.request('GET', 'Patient/p1', { headers: doctor })).statusCode, 200);
  t.equal((await s.request('GET', 'Patient/p2', { headers: doctor })).statusCode, 404, 'unrelated: as if absent');
  t.equal((await s.request('GET', 'Observation/o2', { headers: doctor })).statusCode, 404);
  t.equal((await s.request('GET', 'Observation/o2/_history/1', { headers: doctor })).statusCode, 404);
  t.same(ids(await s.request('GET', 'Observation', { headers: doctor }), 'Observation'), ['o1', 'o1b', 'o3']);
  t.same(ids(await s.request('GET', 'Observation?_include=Observation:subject', { headers: doctor }), 'Patient'), ['p1', 'p3']);
  t.same(ids(await s.request('GET', 'Patient?_revinclude=Observation:subject', { headers: doctor }), 'Observation'), ['o1', 'o1b', 'o3']);
  t.same(ids(await s.request('GET', 'Observation?subject:Patient._id=p2', { headers: doctor }), 'Observation'), [], 'chains too');
  t.same(ids(await s.request('GET', 'Patient?_has:Observation:subject:category=laboratory', { headers: doctor }), 'Patient'), ['p1']);
  t.same(ids(await s.request('GET', 'Observation/_history', { headers: doctor }), 'Observation').filter((id) => id === 'o2'), []);
  const everything = await s.request('GET', 'Patient/p2/$everything', { headers: doctor });
  t.not(everything.statusCode, 200, 'no $everything of an unrelated patient');
  t.notMatch(everything.body, /"o2"/);
  t.same(ids(await s.request('GET', 'Patient/p1/$everything', { headers: doctor }), 'Observation'), ['o1', 'o1b']);
  const batch = await s.request('POST', '', { headers: doctor, body: { resourceType: 'Bundle', type: 'batch', entry: [
    { request: { method: 'GET', url: 'Patient/p2' } }, { request: { method: 'GET', url: 'Observation?subject=Patient/p2' } }] } });
  const entries = (batch.json() as { entry: { response: { status: string }; resource?: { total?: number; entry?: unknown[] } }[] }).entry;
  t.match(entries[0]!.response.status, /^404/);
  t.same(entries[1]!.resource?.entry ?? [], [], 'batch entries are narrowed as well');
  t.same(ids(await s.request('GET', 'Practitioner', { headers: doctor }), 'Practitioner'), ['d1', 'd2'], 'records of no patient are left to the scopes');
});

t.test('a doctor writes for related patients only, and cannot relate themselves to a patient by writing', async (t) => {
  t.equal((await s.request('POST', 'Observation', { headers: doctor, body: obs('x', 'p1', 'vital-signs') })).statusCode, 201);
  t.equal((await s.request('POST', 'Observation', { headers: doctor, body: obs('x', 'p2', 'vital-signs') })).statusCode, 403);
  const encounter = { resourceType: 'Encounter', status: 'planned', class: { code: 'AMB' }, subject: ref('Patient/p2'),
    participant: [{ individual: ref('Practitioner/d1') }] };
  t.equal((await s.request('POST', 'Encounter', { headers: doctor, body: encounter })).statusCode, 403);
  const tx = await s.request('POST', '', { headers: doctor, body: { resourceType: 'Bundle', type: 'transaction', entry: [
    { fullUrl: 'urn:uuid:1', resource: encounter, request: { method: 'POST', url: 'Encounter' } },
    { resource: obs('y', 'p2', 'laboratory'), request: { method: 'POST', url: 'Observation' } }] } });
  t.equal(tx.statusCode, 403, 'not inside a transaction either');
  t.equal((await s.request('GET', 'Patient/p2', { headers: doctor })).statusCode, 404, 'still unrelated');
  t.equal((await s.request('PUT', 'Observation/o1', { headers: doctor, body: { ...obs('o1', 'p2', 'laboratory') } })).statusCode, 403,
    'nor move a related record to an unrelated patient');
  t.equal((await s.request('DELETE', 'Observation/o1', { headers: doctor })).statusCode, 403, 'the doctor role has no delete');
});

t.test('two users of one role read under their own relationships (a kept read statement is never another user\'s)', async (t) => {
  const otherId = await addUser(s, 'dr.two', 'Practitioner/d2', ['doctor']);
  const other = await userToken(s, otherId, 'Practitioner/d2');
  const read = async (who: Record<string, string>, path: string) => (await s.request('GET', path, { headers: who })).statusCode;
  for (let round = 0; round < 2; round++) {
    t.equal(await read(doctor, 'Observation/o1'), 200, `round ${round}: d1 reads p1's observation`);
    t.equal(await read(other, 'Observation/o1'), 404, `round ${round}: d2 is not related to p1`);
    t.equal(await read(other, 'Observation/o2'), 200, `round ${round}: d2 is p2's general practitioner`);
    t.equal(await read(doctor, 'Observation/o2'), 404, `round ${round}: d1 is not related to p2`);
  }
  await put({ resourceType: 'Encounter', id: 'e-d2', status: 'finished', class: { code: 'AMB' }, subject: ref('Patient/p1'),
    participant: [{ individual: ref('Practitioner/d2') }] });
  t.equal(await read(other, 'Observation/o1'), 200, 'a relationship written since applies to the next read');
  await s.request('DELETE', 'Encounter/e-d2');
  t.equal(await read(other, 'Observation/o1'), 404, 'and one deleted since no longer does');
});

t.test('the token is the app grant met with the roles', async (t) => {
  const narrowApp = await userToken(s, doctorId, 'Practitioner/d1', 'user/Observation.rs');
  t.equal((await s.request('GET', 'Patient/p1', { headers: narrowApp })).statusCode, 403, 'the app was not granted Patient');
  const seen = ids(await s.request('GET', 'Observation', { headers: narrowApp }), 'Observation');
  t.ok(seen.includes('o1') && seen.includes('o3') && !seen.includes('o2'), `related observations only: ${seen}`);
  const systemApp = await userToken(s, doctorId, 'Practitioner/d1', 'system/*.cruds');
  t.equal((await s.request('GET', 'Patient/p2', { headers: systemApp })).statusCode, 404, 'system/ scopes do not lift a user above their roles');
  t.equal((await s.request('POST', 'Patient/$reindex', { headers: systemApp, body: { resourceType: 'Parameters' } })).statusCode, 403,
    'administration needs an unconfined role');
});

t.test('a query-restricted role, and a change of roles applies to the next request', async (t) => {
  const role = await s.request('PUT', `/admin/tenants/${s.slug}/roles/lab-viewer`, { headers: ADMIN,
    body: { description: 'Lab results only', scopes: 'user/Observation.rs?category=laboratory user/Patient.rs' } });
  t.equal(role.statusCode, 200, role.body);
  const id = await addUser(s, 'lab.viewer', 'Practitioner/d2', ['lab-viewer']);
  const token = await userToken(s, id, 'Practitioner/d2');
  t.same(ids(await s.request('GET', 'Observation', { headers: token }), 'Observation'), ['o1', 'o2']);
  t.equal((await s.request('GET', 'Observation/o3', { headers: token })).statusCode, 403);
  t.equal((await s.request('GET', 'Encounter', { headers: token })).statusCode, 403);
  const patch = await s.request('PATCH', `/admin/tenants/${s.slug}/users/${id}`, { headers: ADMIN, body: { roles: ['receptionist'] } });
  t.equal(patch.statusCode, 200, patch.body);
  t.same((patch.json() as { roles: string[] }).roles, ['receptionist']);
  t.equal((await s.request('GET', 'Observation', { headers: token })).statusCode, 403, 'receptionists read no observations');
  t.equal((await s.request('GET', 'Encounter', { headers: token })).statusCode, 200);
  await s.request('PUT', `/admin/tenants/${s.slug}/roles/receptionist`, { headers: ADMIN, body: { scopes: 'user/Patient.rs' } });
  t.equal((await s.request('GET', 'Encounter', { headers: token })).statusCode, 403, 'a role edit applies at once');
  const listed = await s.request('GET', `/admin/tenants/${s.slug}/users?role=receptionist`, { headers: ADMIN });
  t.same((listed.json() as { users: { username: string }[] }).users.map((u) => u.username), ['lab.viewer']);
});

t.test('a role or user that cannot be evaluated is refused naming the part', async (t) => {
  const bad = async (name: string, body: unknown, status: number, expression: string) => {
    const res = await s.request('PUT', `/admin/tenants/${s.slug}/roles/${name}`, { headers: ADMIN, body });
    t.equal(res.statusCode, status, `${JSON.stringify(body)}: ${res.body}`);
    t.match(res.json(), { resourceType: 'OperationOutcome', issue: [{ expression: [expression] }] });
  };
  await bad('r1', { scopes: 'user/Observation.rs?no-such-param=1' }, 422, 'scopes');
  await bad('r1', { scopes: 'patient/*.rs' }, 422, 'scopes');
  await bad('r1', { scopes: 'user/Nonsense.rs' }, 422, 'scopes');
  await bad('r1', { scopes: '' }, 422, 'scopes');
  await bad('r1', { scopes: 'user/*.rs', relationship: ['friends'] }, 422, 'relationship');
  await bad('r1', { scopes: 'user/*.rs', relationship: [] }, 422, 'relationship');
  await bad('Bad Name', { scopes: 'user/*.rs' }, 400, 'name');
  const unknownRole = await s.request('POST', `/admin/tenants/${s.slug}/users`, { headers: ADMIN,
    body: { username: 'nobody', password: 'correct horse battery', fhirUser: 'Practitioner/d2', roles: ['no-such-role'] } });
  t.equal(unknownRole.statusCode, 422);
  t.equal((await s.request('GET', `/admin/tenants/${s.slug}/roles/r1`, { headers: ADMIN })).statusCode, 404, 'nothing was written');
  t.equal((await s.request('DELETE', `/admin/tenants/${s.slug}/roles/doctor`, { headers: ADMIN })).statusCode, 409, 'held by dr.one');
  const mine = await s.request('PUT', `/admin/tenants/${s.slug}/roles/spare`, { headers: ADMIN, body: { scopes: 'user/Patient.rs' } });
  t.equal(mine.statusCode, 200);
  t.equal((await s.request('DELETE', `/admin/tenants/${s.slug}/roles/spare`, { headers: ADMIN })).statusCode, 204);
});

t.test('a user with a valid token cannot administer users or roles', async (t) => {
  for (const [method, path, body] of [['GET', 'users', undefined], ['POST', 'users', { username: 'x', password: 'correct horse battery', fhirUser: 'Practitioner/x' }],
    ['PUT', 'roles/doctor', { scopes: 'user/*.cruds' }], ['PATCH', `users/${doctorId}`, { roles: ['admin'] }]] as const) {
    const res = await s.request(method, `/admin/tenants/${s.slug}/${path}`, { headers: doctor, ...(body ? { body } : {}) });
    t.equal(res.statusCode, 401, `${method} ${path}`);
  }
  t.same(((await s.request('GET', `/admin/tenants/${s.slug}/users/${doctorId}`, { headers: ADMIN })).json() as { roles: string[] }).roles, ['doctor']);
});

t.test('an unmanaged user (no roles) is limited by the app alone; an empty role list allows nothing', async (t) => {
  const free = await addUser(s, 'legacy', 'Practitioner/d2', null);
  t.equal((await s.request('GET', 'Patient/p2', { headers: await userToken(s, free, 'Practitioner/d2') })).statusCode, 200);
  const none = await addUser(s, 'none', 'Practitioner/d2', []);
  t.equal((await s.request('GET', 'Patient', { headers: await userToken(s, none, 'Practitioner/d2') })).statusCode, 403);
});

t.test('a doctor\'s Bulk export holds only their related patients\' records', async (t) => {
  const done = await runExport(s, '$export?_type=Patient,Observation', { headers: doctor });
  const byType = resourcesByType(done);
  t.same((byType.get('Patient') ?? []).map((r) => r.id).sort(), ['p1', 'p3', 'p4']);
  const observations = (byType.get('Observation') ?? []).map((r) => (r.subject as { reference: string }).reference);
  t.ok(observations.length > 0 && observations.every((r) => ['Patient/p1', 'Patient/p3', 'Patient/p4'].includes(r)), observations.join());
});
