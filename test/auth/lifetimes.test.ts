/**
 * Per-tenant token and session lifetimes (issue #16 §5): the admin API and what they change — access token expiry,
 * offline refresh token expiry, a session's maximum age and its idle timeout.
 */
import t from 'tap';
import { storedAuditEvents } from '../helpers/audit.js';
import { ident, sql } from '../../src/db/sql.js';
import { createSession, findSession } from '../../src/oauth/sessions.js';
import { schemaFor } from '../../src/storage/tenants.js';
import { startServer } from '../helpers/server.js';
import { ADMIN_TOKEN, basic, fixClock, makeCode, postForm, registerClient } from '../helpers/smart.js';

const REDIRECT = 'https://app.example/callback';
const asAdmin = { authorization: `Bearer ${ADMIN_TOKEN}` };

const s = await startServer(t);
const schema = schemaFor(s.slug);
const path = `/admin/tenants/${s.slug}/lifetimes`;
const admin = (method: string, body?: unknown) => s.request(method, path, { auth: false, headers: asAdmin, ...(body !== undefined ? { body } : {}) });

t.test('the admin API shows the defaults, changes the fields given, refuses bad ones, and audits changes', async (t) => {
  t.same((await admin('GET')).json(), { access_token_seconds: 3600, refresh_token_days: 90, session_hours: 8, session_idle_minutes: 0,
    break_glass_minutes: 60 });
  const changed = await admin('PUT', { access_token_seconds: 900, session_idle_minutes: 15 });
  t.equal(changed.statusCode, 200, changed.body);
  t.same(changed.json(), { access_token_seconds: 900, refresh_token_days: 90, session_hours: 8, session_idle_minutes: 15,
    break_glass_minutes: 60 });
  t.same((await admin('GET')).json(), changed.json(), 'kept');
  for (const bad of [{ access_token_seconds: 59 }, { access_token_seconds: 86401 }, { refresh_token_days: 0 }, { session_hours: 1.5 },
    { session_idle_minutes: -1 }, { session_idle_minutes: '15' }, { colour: 1 }, { toString: 5 }, {}]) {
    const r = await admin('PUT', bad);
    t.equal(r.statusCode, 400, JSON.stringify(bad));
    t.equal(r.json().resourceType, 'OperationOutcome');
  }
  t.same((await admin('GET')).json(), changed.json(), 'nothing changed by a refused request');
  const rows = (await storedAuditEvents(s.deps.db, schema)).filter((e) => JSON.stringify(e).includes('auth-lifetimes'));
  t.ok(rows.length >= 2, 'changes (and refusals) are audited');
  t.equal((await s.request('GET', path, { auth: false })).statusCode, 401, 'admin token required');
});

t.test('access and offline refresh tokens get the tenant lifetimes', async (t) => {
  await admin('PUT', { access_token_seconds: 600, refresh_token_days: 7 });
  const clock = fixClock(t, s, new Date());
  const pub = (await registerClient(s, { name: 'App', type: 'public', redirect_uris: [REDIRECT] })).client_id;
  const conf = await registerClient(s, { name: 'RS', type: 'confidential', redirect_uris: [REDIRECT] });
  const c = await makeCode(s, { clientId: pub, redirectUri: REDIRECT, scope: 'offline_access user/*.rs' });
  const r = await postForm(s, 'token', { grant_type: 'authorization_code', code: c.code, redirect_uri: REDIRECT,
    code_verifier: c.verifier, client_id: pub });
  t.equal(r.statusCode, 200, r.body);
  t.equal(r.json().expires_in, 600);
  const introspected = await postForm(s, 'introspect', { token: r.json().refresh_token }, { authorization: basic(conf.client_id, conf.client_secret!) });
  t.equal(introspected.json().exp, clock.epoch() + 7 * 86400, 'the refresh token lives 7 days');
  await admin('PUT', { access_token_seconds: 3600, refresh_token_days: 90 });
});

t.test('sessions: the maximum age, and the idle timeout from the last use', async (t) => {
  await admin('PUT', { session_hours: 2, session_idle_minutes: 15 });
  const [user] = await s.deps.db.query<{ id: string }>(sql`INSERT INTO ${ident(schema)}.auth_user (id, username, password_hash, fhir_user)
    VALUES (gen_random_uuid(), 'idle.kim', 'x', 'Practitioner/1') RETURNING id`);
  const start = new Date('2030-01-01T08:00:00Z');
  const at = (minutes: number) => new Date(start.getTime() + minutes * 60_000);
  const { token, session } = await createSession(s.deps.db, schema, user!.id, start);
  t.equal(session.expiresAt.toISOString(), at(120).toISOString(), 'session_hours');
  t.ok(await findSession(s.deps.db, schema, token, at(14)), 'used within 15 minutes');
  t.ok(await findSession(s.deps.db, schema, token, at(28)), 'the last use counts, not the sign-in');
  t.equal(await findSession(s.deps.db, schema, token, at(44)), undefined, '16 minutes unused: ended');

  const other = await createSession(s.deps.db, schema, user!.id, start);
  await admin('PUT', { session_idle_minutes: 0 });
  t.ok(await findSession(s.deps.db, schema, other.token, at(100)), 'no idle timeout: alive until its maximum age');
  t.equal(await findSession(s.deps.db, schema, other.token, at(121)), undefined, 'past session_hours');
  await admin('PUT', { session_hours: 8 });
});
