/**
 * User administration through the admin API (issue #16 §2): list (paged, filtered), read, update, disable and enable,
 * unlock, password reset by a one-time link, second-factor reset and delete — each change audited, and disabling,
 * resetting or deleting revokes the user's tokens at once.
 */
import t from 'tap';
import { ident, sql } from '../../src/db/sql.js';
import { sealedAuditColumns } from '../../src/db/vault.js';
import { authenticate } from '../../src/oauth/users.js';
import { totpCode } from '../../src/oauth/totp.js';
import { schemaFor } from '../../src/storage/tenants.js';
import { type TestServer, startServer } from '../helpers/server.js';
import { ADMIN_TOKEN, makeCode, postForm, registerClient } from '../helpers/smart.js';

const PASSWORD = 'correct horse battery';
const REDIRECT = 'https://app.example/callback';
const asAdmin = { authorization: `Bearer ${ADMIN_TOKEN}` };

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const s: TestServer = await startServer(t);
const schema = schemaFor(s.slug);
const users = `/admin/tenants/${s.slug}/users`;
const admin = (method: string, path: string, body?: unknown) =>
  s.request(method, path, { auth: false, headers: asAdmin, ...(body !== undefined ? { body } : {}) });

async function createUser(username: string, fhirUser = 'Practitioner/p1', totp = false): Promise<string> {
  const r = await admin('POST', users, { username, password: PASSWORD, fhirUser, totp });
  if (r.statusCode !== 201) throw new Error(r.body);
  return r.json().id;
}

const signIn = (username: string, password = PASSWORD, code?: string) =>
  authenticate(s.deps.db, schema, username, password, code, s.deps.auth.now());

/** An access token of `userId` through a public app (authorization code + PKCE). */
async function userToken(userId: string): Promise<Record<string, string>> {
  const app = (await registerClient(s, { name: 'Ward app', type: 'public', redirect_uris: [REDIRECT] })).client_id;
  const c = await makeCode(s, { clientId: app, redirectUri: REDIRECT, scope: 'user/*.rs', userId });
  const res = await postForm(s, 'token', { grant_type: 'authorization_code', code: c.code, redirect_uri: REDIRECT,
    code_verifier: c.verifier, client_id: app });
  if (res.statusCode !== 200) throw new Error(res.body);
  return { authorization: `Bearer ${res.json().access_token}` };
}

async function auditCodes(): Promise<string[]> {
  const rows = await s.deps.db.query<{ content: Json }>(sql`SELECT ${sealedAuditColumns(schema)} FROM ${ident(schema)}.audit_event e ORDER BY seq`);
  return rows.flatMap((r) => (r.content.subtype ?? []).map((c: Json) => c.code as string)).filter((c) => c.startsWith('user-'));
}

t.test('list: paged in username order, filtered by prefix, fhirUser and status; read one', async (t) => {
  const ids = [];
  for (const name of ['ward.anna', 'ward.bert', 'ward.cleo', 'desk.dora']) ids.push(await createUser(name, name === 'desk.dora' ? 'Practitioner/d1' : 'Practitioner/p1'));
  const first = (await admin('GET', `${users}?username=ward.&count=2`)).json();
  t.same(first.users.map((u: Json) => u.username), ['ward.anna', 'ward.bert']);
  t.equal(first.next, 'ward.bert');
  const second = (await admin('GET', `${users}?username=ward.&count=2&after=${first.next}`)).json();
  t.same(second.users.map((u: Json) => u.username), ['ward.cleo']);
  t.equal(second.next, undefined, 'the last page has no next');
  t.same((await admin('GET', `${users}?fhirUser=Practitioner/d1`)).json().users.map((u: Json) => u.username), ['desk.dora']);
  t.same((await admin('GET', `${users}?username=ward_%25`)).json().users, [], 'LIKE wildcards are literal');
  const one = (await admin('GET', `${users}/${ids[0]}`)).json();
  t.match(one, { id: ids[0], username: 'ward.anna', fhirUser: 'Practitioner/p1', totp: false, status: 'active', failedLogins: 0 });
  t.notOk('password_hash' in one || 'passwordHash' in one || 'totp_secret' in one, 'no secret is shown');
  for (const bad of ['count=0', 'count=1000', 'status=asleep', 'colour=red', 'count=1&count=2']) {
    const r = await admin('GET', `${users}?${bad}`);
    t.equal(r.statusCode, 400, bad);
    t.equal(r.json().resourceType, 'OperationOutcome');
  }
  t.equal((await admin('GET', `${users}/00000000-0000-4000-8000-000000000000`)).statusCode, 404);
  t.equal((await admin('GET', `${users}/not-a-uuid`)).statusCode, 404);
});

t.test('update: username and fhirUser; a taken username is 409, bad fields 400', async (t) => {
  const id = await createUser('upd.eva');
  await createUser('upd.taken');
  const r = await admin('PATCH', `${users}/${id}`, { username: 'upd.eve', fhirUser: 'PractitionerRole/r9' });
  t.equal(r.statusCode, 200, r.body);
  t.match(r.json(), { username: 'upd.eve', fhirUser: 'PractitionerRole/r9' });
  t.equal((await signIn('upd.eve')).ok, true, 'signs in under the new name');
  t.equal((await admin('PATCH', `${users}/${id}`, { username: 'upd.taken' })).statusCode, 409);
  t.equal((await admin('PATCH', `${users}/${id}`, { fhirUser: 'Observation/1' })).statusCode, 400);
  t.equal((await admin('PATCH', `${users}/${id}`, { password: 'x' })).statusCode, 400, 'the password is not changed this way');
  t.equal((await admin('PATCH', `${users}/${id}`, [])).statusCode, 400);
});

t.test('disable: no sign-in and every token revoked at once; enable: sign-in again', async (t) => {
  const id = await createUser('dis.fay');
  const token = await userToken(id);
  t.equal((await s.request('GET', 'Patient', { headers: token })).statusCode, 200);
  const disabled = await admin('POST', `${users}/${id}/disable`);
  t.equal(disabled.statusCode, 200);
  t.equal(disabled.json().status, 'disabled');
  t.equal((await s.request('GET', 'Patient', { headers: token })).statusCode, 401, 'the token stopped working');
  t.same(await signIn('dis.fay'), { ok: false, reason: 'invalid' }, 'a disabled account answers as an unknown one');
  t.same((await admin('GET', `${users}?status=disabled`)).json().users.map((u: Json) => u.username), ['dis.fay']);
  t.equal((await admin('POST', `${users}/${id}/enable`)).json().status, 'active');
  t.equal((await signIn('dis.fay')).ok, true);
});

t.test('unlock lifts the lockout after five failed sign-ins', async (t) => {
  const id = await createUser('lock.gus');
  for (let i = 0; i < 5; i++) await signIn('lock.gus', 'wrong password!');
  t.equal((await admin('GET', `${users}/${id}`)).json().status, 'locked');
  t.same(await signIn('lock.gus'), { ok: false, reason: 'locked' });
  const unlocked = await admin('POST', `${users}/${id}/unlock`);
  t.match(unlocked.json(), { status: 'active', failedLogins: 0 });
  t.equal((await signIn('lock.gus')).ok, true);
});

t.test('password reset: a one-time link; the new password replaces the old and the user is signed out', async (t) => {
  const id = await createUser('reset.hal');
  const token = await userToken(id);
  const r = await admin('POST', `${users}/${id}/password-reset`);
  t.equal(r.statusCode, 200);
  t.equal(r.headers['cache-control'], 'no-store');
  const url = new URL(r.json().reset_url);
  t.equal(url.pathname, `/auth/${s.slug}/password-reset`);
  const code = url.searchParams.get('code')!;
  t.ok(new Date(r.json().expires_at) > new Date(), 'it expires later');
  t.equal((await signIn('reset.hal')).ok, true, 'the old password works until the link is used');
  const form = await s.request('GET', `${url.pathname}${url.search}`, { auth: false });
  t.equal(form.statusCode, 200);
  t.match(form.body, /name="code" value="[A-Za-z0-9_-]{43}"/);
  const post = (fields: Record<string, string>) => s.request('POST', url.pathname, { auth: false,
    headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() });
  t.equal((await post({ code, password: 'a brand new secret', confirm: 'a different one!!' })).statusCode, 400, 'mismatch');
  t.equal((await post({ code, password: 'short', confirm: 'short' })).statusCode, 400, 'too short');
  const done = await post({ code, password: 'a brand new secret', confirm: 'a brand new secret' });
  t.equal(done.statusCode, 200);
  t.match(done.body, /Password changed/);
  t.same(await signIn('reset.hal'), { ok: false, reason: 'invalid' }, 'the old password is gone');
  t.equal((await signIn('reset.hal', 'a brand new secret')).ok, true);
  t.equal((await s.request('GET', 'Patient', { headers: token })).statusCode, 401, 'tokens made before are revoked');
  t.equal((await post({ code, password: 'yet another secret', confirm: 'yet another secret' })).statusCode, 400, 'the link works once');
  t.equal((await s.request('GET', `${url.pathname}?code=bad`, { auth: false })).statusCode, 400);
});

t.test('second factor reset: a new secret, required from then on', async (t) => {
  const id = await createUser('totp.ida');
  const r = await admin('POST', `${users}/${id}/totp-reset`);
  t.equal(r.statusCode, 200);
  t.match(r.json(), { totp_secret: /^[A-Z2-7]{32}$/, otpauth_uri: /^otpauth:\/\/totp\/Hearth:totp\.ida\?/ });
  t.same(await signIn('totp.ida'), { ok: false, reason: 'totp-required' });
  t.equal((await signIn('totp.ida', PASSWORD, totpCode(r.json().totp_secret, s.deps.auth.now()))).ok, true);
});

t.test('delete: gone, tokens revoked; unknown ids 404', async (t) => {
  const id = await createUser('del.jon');
  const token = await userToken(id);
  t.equal((await admin('DELETE', `${users}/${id}`)).statusCode, 204);
  t.equal((await admin('GET', `${users}/${id}`)).statusCode, 404);
  t.equal((await s.request('GET', 'Patient', { headers: token })).statusCode, 401);
  t.same(await signIn('del.jon'), { ok: false, reason: 'invalid' });
  for (const [method, path] of [['DELETE', ''], ['POST', '/disable'], ['POST', '/password-reset'], ['PATCH', '']]) {
    t.equal((await admin(method!, `${users}/${id}${path}`, method === 'PATCH' ? { username: 'x.y' } : undefined)).statusCode, 404, `${method} ${path}`);
  }
});

t.test('every change is audited; a FHIR token cannot administer users', async (t) => {
  const codes = await auditCodes();
  for (const c of ['user-create', 'user-update', 'user-disable', 'user-enable', 'user-unlock', 'user-password-reset',
    'user-totp-reset', 'user-delete']) t.ok(codes.includes(c), c);
  const smart = { authorization: `Bearer ${await s.token('system/*.cruds')}` };
  t.equal((await s.request('GET', users, { auth: false, headers: smart })).statusCode, 401);
  t.equal((await s.request('POST', `${users}/00000000-0000-4000-8000-000000000000/disable`, { auth: false, headers: smart })).statusCode, 401);
  t.equal((await s.request('GET', users, { auth: false })).statusCode, 401);
});
