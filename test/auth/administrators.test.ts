/**
 * Administrators of the admin API (issue #16 §2): global administrators sign in with their own name and act on every
 * tenant under their own audited identity; a tenant's users holding its admin role administer only that tenant;
 * sessions end at logout, when idle, or when the person is disabled or loses the role; low-privilege users get in
 * nowhere. The bootstrap HEARTH_ADMIN_TOKEN keeps working for automation.
 */
import crypto from 'node:crypto';
import t from 'tap';
import { ident, sql } from '../../src/db/sql.js';
import { sealedAuditColumns } from '../../src/db/vault.js';
import { schemaFor } from '../../src/storage/tenants.js';
import { totpCode } from '../../src/oauth/totp.js';
import { startServer } from '../helpers/server.js';
import { fixClock } from '../helpers/smart.js';
import { ADMIN, addUser, userToken } from '../access/helpers.js';

const s = await startServer(t, { HEARTH_LOGIN_RATE_LIMIT: '1000' });
const other = await s.newTenant();
const suffix = crypto.randomBytes(3).toString('hex');
const PASSWORD = 'correct horse battery staple';
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const login = (body: Record<string, unknown>) => s.request('POST', '/admin/login', { body });

const created = await s.request('POST', '/admin/admins', { headers: ADMIN, body: { username: `root-${suffix}`, password: PASSWORD } });
if (created.statusCode !== 201) throw new Error(created.body);
const rootId = (created.json() as { admin: { id: string } }).admin.id;

t.test('a global administrator signs in and administers any tenant under their own name', async (t) => {
  const res = await login({ username: `root-${suffix}`, password: PASSWORD });
  t.equal(res.statusCode, 200, res.body);
  const { access_token: token, administrator } = res.json() as { access_token: string; administrator: { kind: string } };
  t.equal(administrator.kind, 'global');
  t.equal((await s.request('GET', '/admin/tenants', { headers: bearer(token) })).statusCode, 200);
  const user = await s.request('POST', `/admin/tenants/${other}/users`, { headers: bearer(token),
    body: { username: `made-by-root-${suffix}`, password: PASSWORD, fhirUser: 'Practitioner/x', roles: ['nurse'] } });
  t.equal(user.statusCode, 201, user.body);
  const events = (await s.deps.db.query<{ content: { agent: { who?: { identifier?: { system: string; value: string }; display?: string } }[] } }>(
    sql`SELECT ${sealedAuditColumns(schemaFor(other))} FROM ${ident(schemaFor(other))}.audit_event e`)
  ).filter((e) => (e.content as { subtype?: { code?: string }[] }).subtype?.some((c) => c.code === 'user-create'));
  t.equal(events.length, 1);
  const who = events[0]!.content.agent[0]!.who!;
  t.same(who.identifier, { system: 'http://hearth.dev/fhir/sid/admin-user', value: rootId }, 'the event names the administrator');
  t.equal(who.display, `root-${suffix}`);
  t.equal((await s.request('GET', '/admin/admins', { headers: bearer(token) })).statusCode, 200, 'and manages administrators');

  t.equal((await s.request('POST', '/admin/logout', { headers: bearer(token) })).statusCode, 200);
  t.equal((await s.request('GET', '/admin/tenants', { headers: bearer(token) })).statusCode, 401, 'logged out');
});

t.test('wrong passwords lock the account; a TOTP administrator needs the code', async (t) => {
  for (let i = 0; i < 5; i++) t.equal((await login({ username: `root-${suffix}`, password: 'wrong password!' })).statusCode, 401);
  t.equal((await login({ username: `root-${suffix}`, password: PASSWORD })).statusCode, 401, 'locked: the right password is refused');
  t.equal((await s.request('POST', `/admin/admins/${rootId}/unlock`, { headers: ADMIN })).statusCode, 200);
  t.equal((await login({ username: `root-${suffix}`, password: PASSWORD })).statusCode, 200, 'unlocked');

  const totp = await s.request('POST', '/admin/admins', { headers: ADMIN, body: { username: `otp-${suffix}`, password: PASSWORD, totp: true } });
  t.equal(totp.statusCode, 201);
  const secret = (totp.json() as { totp_secret: string }).totp_secret;
  const without = await login({ username: `otp-${suffix}`, password: PASSWORD });
  t.equal(without.statusCode, 401);
  t.match(without.body, /TOTP code is required/);
  t.equal((await login({ username: `otp-${suffix}`, password: PASSWORD, totp: totpCode(secret, s.deps.auth.now()) })).statusCode, 200);
  t.equal((await s.request('POST', '/admin/admins', { headers: ADMIN, body: { username: `otp-${suffix}`, password: PASSWORD } })).statusCode, 409);
  t.equal((await s.request('POST', '/admin/admins', { headers: ADMIN, body: { username: `short-${suffix}`, password: 'short' } })).statusCode, 400);
});

t.test('a tenant administrator administers their tenant only', async (t) => {
  await addUser(s, `tadmin-${suffix}`, 'Practitioner/a1', ['admin']);
  const res = await login({ username: `tadmin-${suffix}`, password: 'correct horse battery', tenant: s.slug });
  t.equal(res.statusCode, 200, res.body);
  const headers = bearer((res.json() as { access_token: string }).access_token);
  t.equal((await s.request('GET', `/admin/tenants/${s.slug}/users`, { headers })).statusCode, 200, 'their users');
  t.equal((await s.request('PUT', `/admin/tenants/${s.slug}/roles/ward`, { headers, body: { scopes: 'user/Patient.rs' } })).statusCode, 200,
    'their roles');
  const refused: [string, string][] = [['GET', '/admin/tenants'], ['POST', '/admin/tenants'], ['DELETE', `/admin/tenants/${s.slug}`],
    ['GET', `/admin/tenants/${other}/users`], ['POST', '/admin/keys/rotate'], ['GET', '/admin/admins'],
    ['POST', '/admin/admins']];
  for (const [method, path] of refused) {
    t.equal((await s.request(method, path, { headers, body: {} })).statusCode, 403, `${method} ${path}`);
  }
  type Event = { subtype?: { code?: string }[]; agent?: { who?: { identifier?: { system?: string } } }[] };
  const events = (await s.deps.db.query<{ content: Event }>(sql`SELECT ${sealedAuditColumns(schemaFor(s.slug))}
    FROM ${ident(schemaFor(s.slug))}.audit_event e`)).filter(({ content: e }) => e.subtype?.some((c) => c.code === 'role-update')
    && e.agent?.some((a) => a.who?.identifier?.system === 'http://hearth.dev/fhir/sid/user-id'));
  t.equal(events.length, 1, 'their change is audited under their user id');
  t.equal((await login({ username: `tadmin-${suffix}`, password: 'correct horse battery', tenant: other })).statusCode, 401,
    'not a user of the other tenant');
});

t.test('low-privilege users and FHIR tokens get nowhere', async (t) => {
  const nurseId = await addUser(s, `nurse-${suffix}`, 'Practitioner/n1', ['nurse']);
  t.equal((await login({ username: `nurse-${suffix}`, password: 'correct horse battery', tenant: s.slug })).statusCode, 403);
  const fhir = await userToken(s, nurseId, 'Practitioner/n1');
  for (const [method, path] of [['GET', `/admin/tenants/${s.slug}/users`], ['POST', `/admin/tenants/${s.slug}/users`],
    ['PUT', `/admin/tenants/${s.slug}/roles/x`]] as const) {
    t.equal((await s.request(method, path, { headers: fhir, body: {} })).statusCode, 401, `${method} ${path} with a FHIR token`);
  }
  t.equal((await login({ username: 'nobody', password: PASSWORD })).statusCode, 401);
  t.equal((await login({ username: 1 })).statusCode, 400);
});

t.test('sessions end when disabled, when the role is taken, and when idle', async (t) => {
  const clock = fixClock(t, s, new Date());
  const token = (await login({ username: `root-${suffix}`, password: PASSWORD })).json() as { access_token: string };
  t.equal((await s.request('POST', `/admin/admins/${rootId}/disable`, { headers: ADMIN })).statusCode, 200);
  t.equal((await s.request('GET', '/admin/tenants', { headers: bearer(token.access_token) })).statusCode, 401, 'disabled');
  t.equal((await login({ username: `root-${suffix}`, password: PASSWORD })).statusCode, 401, 'cannot sign in either');
  await s.request('POST', `/admin/admins/${rootId}/enable`, { headers: ADMIN });

  const tadmin = await addUser(s, `tadmin2-${suffix}`, 'Practitioner/a2', ['admin']);
  const tt = bearer(((await login({ username: `tadmin2-${suffix}`, password: 'correct horse battery', tenant: s.slug })).json() as
    { access_token: string }).access_token);
  t.equal((await s.request('GET', `/admin/tenants/${s.slug}/roles`, { headers: tt })).statusCode, 200);
  t.equal((await s.request('PATCH', `/admin/tenants/${s.slug}/users/${tadmin}`, { headers: ADMIN, body: { roles: ['nurse'] } })).statusCode, 200);
  t.equal((await s.request('GET', `/admin/tenants/${s.slug}/roles`, { headers: tt })).statusCode, 401, 'the role taken away');

  const idle = bearer(((await login({ username: `root-${suffix}`, password: PASSWORD })).json() as { access_token: string }).access_token);
  clock.advance(20 * 60_000);
  t.equal((await s.request('GET', '/admin/tenants', { headers: idle })).statusCode, 200, 'used within 30 minutes');
  clock.advance(31 * 60_000);
  t.equal((await s.request('GET', '/admin/tenants', { headers: idle })).statusCode, 401, 'idle for over 30 minutes');
  t.equal((await s.request('DELETE', `/admin/admins/${rootId}`, { headers: ADMIN })).statusCode, 200);
  t.equal((await s.request('GET', `/admin/admins/${rootId}`, { headers: ADMIN })).statusCode, 404);
});

t.test('a flood of logins from one address is throttled (each costs a password hash)', async (t) => {
  const tight = await startServer(t, { HEARTH_LOGIN_RATE_LIMIT: '3' });
  const statuses: number[] = [];
  for (let i = 0; i < 4; i++) statuses.push((await tight.request('POST', '/admin/login', { body: { username: 'nobody', password: PASSWORD } })).statusCode);
  t.same(statuses, [401, 401, 401, 429]);
  const refused = await tight.request('POST', '/admin/login', { body: { username: 'nobody', password: PASSWORD } });
  t.ok(Number(refused.headers['retry-after']) > 0, 'Retry-After');
  t.match(refused.json(), { resourceType: 'OperationOutcome', issue: [{ code: 'throttled' }] });
});
