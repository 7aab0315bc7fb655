/**
 * Security, admin and Bulk Data AuditEvents (issue #6 §1, audit-event.md §4, §9.5) through real HTTP: login success
 * and failure, logout, token issued / refused / revoked, admin API actions and refusals, Bulk Data status polls,
 * downloads and cancels — and never a password, token, code, secret or assertion in what is stored.
 */
import crypto from 'node:crypto';
import t from 'tap';
import { ident, sql } from '../../src/db/sql.js';
import { sealedAuditColumns } from '../../src/db/vault.js';
import { schemaFor } from '../../src/storage/tenants.js';
import { TestBrowser, formFor, injectTransport, pkce } from '../helpers/browser.js';
import { ADMIN_TOKEN, JWT_BEARER, assertion, basic, claimsOf, makeKey, postForm, registerClient } from '../helpers/smart.js';
import { bearer, clientToken, localPath, runJobs, startBulkServer } from '../bulk/helpers.js';

// Many sign-ins from one address (the limit has its own test in test/auth/authorize.test.ts).
process.env.HEARTH_LOGIN_RATE_LIMIT = '1000';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
const HEARTH = 'http://hearth.dev/fhir/CodeSystem/audit-subtype';
const USER_ID = 'http://hearth.dev/fhir/sid/user-id';
const CLIENT_ID = 'http://hearth.dev/fhir/sid/client-id';
const REDIRECT = 'https://app.example/cb';
const PASSWORD = 'correct horse battery';
const ADMIN_AUTH = { authorization: `Bearer ${ADMIN_TOKEN}` };
const ADMIN = { ...ADMIN_AUTH, 'content-type': 'application/json' };

const s = await startBulkServer(t);

async function lastSeq(slug = s.slug): Promise<number> {
  const [r] = await s.deps.db.query<{ n: number | null }>(sql`SELECT max(seq) AS n FROM ${ident(schemaFor(slug))}.audit_event`);
  return Number(r?.n ?? 0);
}
/** Events recorded in the tenant after `since` (a seq), oldest first. */
async function eventsAfter(since: number, slug = s.slug): Promise<Json[]> {
  const rows = await s.deps.db.query<{ content: Json }>(sql`SELECT ${sealedAuditColumns(schemaFor(slug))} FROM ${ident(schemaFor(slug))}.audit_event e
    WHERE seq > ${since} ORDER BY seq`);
  return rows.map((r) => r.content);
}
/** Every stored event of the tenant as one JSON text: what "never stored" is checked against. */
async function allStored(slug = s.slug): Promise<string> {
  return JSON.stringify(await eventsAfter(0, slug));
}
const codes = (e: Json): string[] => (e.subtype ?? []).map((c: Json) => `${c.system}|${c.code}`);
const having = (events: Json[], system: string, code: string) => events.filter((e) => codes(e).includes(`${system}|${code}`));
const detail = (e: Json, type: string) => e.entity.flatMap((x: Json) => x.detail ?? []).find((d: Json) => d.type === type)?.valueString;
const requestIdOf = (e: Json) => e.entity.find((x: Json) => x.type?.code === 'XrequestId')?.what.identifier.value;

const pub = await registerClient(s, { name: 'Patient app', type: 'public', redirect_uris: [REDIRECT],
  scope: 'launch/patient openid fhirUser online_access patient/*.rs' });
const conf = await registerClient(s, { name: 'Confidential app', type: 'confidential', redirect_uris: [REDIRECT],
  scope: 'patient/*.rs' });
const key = makeKey('ES384');
const backend = await registerClient(s, { name: 'Backend', type: 'backend', scope: 'system/*.rs', jwks: { keys: [key.jwk] } });
const userRes = await s.request('POST', `/admin/tenants/${s.slug}/users`, { headers: ADMIN,
  body: { username: 'pat', password: PASSWORD, fhirUser: 'Patient/p1' } });
const user = userRes.json();
await s.request('PUT', 'Patient/p1', { body: { resourceType: 'Patient', id: 'p1' } });

const browser = () => new TestBrowser(injectTransport(s.app));
const verifier = pkce();
const authorizeUrl = () => `/auth/${s.slug}/authorize?${new URLSearchParams({ response_type: 'code', client_id: pub.client_id,
  redirect_uri: REDIRECT, scope: 'patient/*.rs openid fhirUser online_access', state: 'st', aud: s.url,
  code_challenge: verifier.challenge, code_challenge_method: 'S256' })}`;
const signIn = (b: TestBrowser, page: Awaited<ReturnType<TestBrowser['open']>>, username: string, password: string) =>
  b.submit(page, 'login', [['username', username], ['password', password]]);

t.test('login: failure → outcome 4 naming only the typed username; success → outcome 0 with the user', async (t) => {
  const b = browser();
  const page = await b.open(authorizeUrl());
  const since = await lastSeq();
  const wrong = await signIn(b, page, 'pat', 'wrong password 123');
  t.equal(wrong.status, 401);
  const unknown = await signIn(b, page, 'nobody', 'wrong password 123');
  t.equal(unknown.status, 401);
  const ok = await signIn(b, page, 'pat', PASSWORD);
  t.ok(formFor(ok, 'consent'), 'signed in');
  const logins = having(await eventsAfter(since), DCM, '110122');
  t.equal(logins.length, 3, 'one event per attempt');
  const [bad, none, good] = logins;
  for (const e of [bad, none, good]) {
    t.same(e.type, { system: DCM, code: '110114', display: 'User Authentication' });
    t.equal(e.action, 'E');
    t.equal(e.agent.length, 1, 'one agent: the user');
    t.equal(e.agent[0].requestor, true);
    t.equal(e.agent[0].network.type, '2');
    t.type(e.agent[0].network.address, 'string');
  }
  t.equal(bad.outcome, '4');
  t.match(bad.outcomeDesc, /not correct/);
  t.same(bad.agent[0].who, { identifier: { system: 'http://hearth.dev/fhir/sid/username', value: 'pat' } });
  t.equal(none.outcome, '4');
  t.equal(none.outcomeDesc, bad.outcomeDesc, 'an unknown username reads exactly like a wrong password');
  t.same(Object.keys(none.agent[0]).sort(), Object.keys(bad.agent[0]).sort());
  t.notOk(JSON.stringify(bad).includes(user.id), 'a failure does not name the user id (it would reveal the account exists)');
  t.equal(good.outcome, '0');
  t.notOk('outcomeDesc' in good);
  t.same(good.agent[0].who, { reference: 'Patient/p1', identifier: { system: USER_ID, value: user.id } });
  t.equal(good.agent[0].altId, 'pat');
  t.notOk((await allStored()).includes(PASSWORD), 'the password is stored nowhere');
  t.notOk((await allStored()).includes('wrong password 123'), 'nor a wrong one');
  const found = await s.request('GET', `AuditEvent?subtype=${encodeURIComponent(`${DCM}|110122`)}&patient=Patient/p1`,
    { headers: bearer(await s.token('system/AuditEvent.rs')) });
  t.equal(found.statusCode, 200);
  t.ok(found.json().entry.some((x: Json) => x.resource.id === good.id), 'the patient finds their own sign-in');
});

t.test('logout of a live session → DCM 110123 with the user; without a session → no event', async (t) => {
  const b = browser();
  await signIn(b, await b.open(authorizeUrl()), 'pat', PASSWORD);
  const since = await lastSeq();
  t.equal((await b.request('GET', `/auth/${s.slug}/logout`)).status, 200);
  t.equal((await b.request('GET', `/auth/${s.slug}/logout`)).status, 200, 'again, signed out already');
  const logouts = having(await eventsAfter(since), DCM, '110123');
  t.equal(logouts.length, 1, 'only the logout that ended a session');
  t.equal(logouts[0].outcome, '0');
  t.equal(logouts[0].action, 'E');
  t.same(logouts[0].agent[0].who, { reference: 'Patient/p1', identifier: { system: USER_ID, value: user.id } });
});

t.test('authorization_code and refresh_token → token-issued with scope, patient, jti and user; no token stored', async (t) => {
  const b = browser();
  const consent = await signIn(b, await b.open(authorizeUrl()), 'pat', PASSWORD);
  const form = formFor(consent, 'consent');
  const redirect = await b.request('POST', form.action, [...form.fields, ['decision', 'approve']]);
  const code = new URL(redirect.location!).searchParams.get('code')!;
  const since = await lastSeq();
  const res = await postForm(s, 'token', { grant_type: 'authorization_code', code, redirect_uri: REDIRECT,
    code_verifier: verifier.verifier, client_id: pub.client_id }, { 'x-request-id': 'token-req-1' });
  t.equal(res.statusCode, 200, res.body);
  const body = res.json();
  t.ok(body.refresh_token && body.id_token, 'a refresh token and an id_token came too');
  const refreshed = await postForm(s, 'token', { grant_type: 'refresh_token', refresh_token: body.refresh_token, client_id: pub.client_id });
  t.equal(refreshed.statusCode, 200, refreshed.body);
  const issued = having(await eventsAfter(since), HEARTH, 'token-issued');
  t.equal(issued.length, 2);
  const [first, second] = issued;
  const claims = claimsOf(body.access_token);
  t.same(first.type, { system: DCM, code: '110114', display: 'User Authentication' });
  t.equal(first.outcome, '0');
  t.equal(requestIdOf(first), 'token-req-1');
  t.same(first.agent[0].who, { identifier: { system: CLIENT_ID, value: pub.client_id } });
  t.same(first.agent[0].policy, [`urn:ietf:params:oauth:jti:${String(claims.jti)}`]);
  t.same(first.agent[1].who, { reference: 'Patient/p1', identifier: { system: USER_ID, value: user.id } });
  t.equal(detail(first, 'scope'), body.scope);
  t.equal(detail(first, 'grant_type'), 'authorization_code');
  t.equal(detail(second, 'grant_type'), 'refresh_token');
  t.ok(first.entity.some((x: Json) => x.what?.reference === 'Patient/p1' && x.role.code === '1'), 'patient entity');
  t.ok(first.entity.some((x: Json) => x.what?.identifier?.value === claims.grant), 'the grant by id');
  const stored = await allStored();
  for (const [what, secret] of [['code', code], ['code_verifier', verifier.verifier], ['access token', body.access_token],
    ['refresh token', body.refresh_token], ['id_token', body.id_token], ['refreshed access token', refreshed.json().access_token],
    ['rotated refresh token', refreshed.json().refresh_token]] as const) {
    t.notOk(stored.includes(secret), `no ${what} in any stored event`);
  }
});

t.test('client_credentials → token-issued for the backend client; the assertion is not stored', async (t) => {
  const since = await lastSeq();
  const jwt = assertion(s, backend.client_id, key);
  const res = await postForm(s, 'token', { grant_type: 'client_credentials', scope: 'system/Patient.rs',
    client_assertion_type: JWT_BEARER, client_assertion: jwt });
  t.equal(res.statusCode, 200, res.body);
  const [e] = having(await eventsAfter(since), HEARTH, 'token-issued');
  t.ok(e, 'issued event');
  t.equal(e.agent.length, 1, 'no user agent for a backend service');
  t.same(e.agent[0].who, { identifier: { system: CLIENT_ID, value: backend.client_id } });
  t.equal(detail(e, 'scope'), 'system/Patient.rs');
  t.equal(detail(e, 'grant_type'), 'client_credentials');
  const stored = await allStored();
  t.notOk(stored.includes(jwt), 'no client assertion');
  t.notOk(stored.includes(jwt.split('.')[2]!), 'not even its signature');
  t.notOk(stored.includes(res.json().access_token), 'no access token');
});

t.test('failed client authentication and a bad grant → token-refused, outcome 4, no secret stored', async (t) => {
  const since = await lastSeq();
  const wrongSecret = 'not-the-secret-0123456789';
  const res = await postForm(s, 'token', { grant_type: 'authorization_code', code: 'x'.repeat(43), redirect_uri: REDIRECT,
    code_verifier: 'v'.repeat(43) }, { authorization: basic(conf.client_id, wrongSecret) });
  t.equal(res.statusCode, 401);
  t.equal(res.json().error, 'invalid_client');
  const badCode = await postForm(s, 'token', { grant_type: 'authorization_code', code: 'y'.repeat(43), redirect_uri: REDIRECT,
    code_verifier: 'v'.repeat(43) }, { authorization: basic(conf.client_id, conf.client_secret!) });
  t.equal(badCode.statusCode, 400);
  const refused = having(await eventsAfter(since), HEARTH, 'token-refused');
  t.equal(refused.length, 2);
  const [auth, grant] = refused;
  t.equal(auth.outcome, '4');
  t.match(auth.outcomeDesc, /^invalid_client: /);
  t.same(auth.agent[0].who, { identifier: { system: CLIENT_ID, value: conf.client_id } }, 'the client it claimed to be');
  t.equal(detail(auth, 'scope'), undefined, 'nothing was granted');
  t.match(grant.outcomeDesc, /^invalid_grant: /);
  const stored = await allStored();
  t.notOk(stored.includes(wrongSecret), 'no attempted secret');
  t.notOk(stored.includes(conf.client_secret!), 'no real secret');
  t.notOk(stored.includes('y'.repeat(43)), 'no code');
});

t.test('revocation → token-revoked with the grant and jti; nothing to revoke and refused revocations recorded too', async (t) => {
  const token = (await postForm(s, 'token', { grant_type: 'client_credentials', scope: 'system/Patient.rs',
    client_assertion_type: JWT_BEARER, client_assertion: assertion(s, backend.client_id, key) })).json().access_token as string;
  const claims = claimsOf(token);
  const since = await lastSeq();
  const revoke = (tok: string, assertionFor = backend.client_id) => postForm(s, 'revoke', { token: tok,
    client_assertion_type: JWT_BEARER, client_assertion: assertion(s, assertionFor, key, { claims: {
      aud: `${s.url.replace('/fhir/', '/auth/')}/revoke` } }) });
  t.equal((await revoke(token)).statusCode, 200);
  t.equal((await s.request('GET', 'Patient', { headers: bearer(token) })).statusCode, 401, 'revoked');
  t.equal((await revoke('no-such-token')).statusCode, 200, 'RFC 7009: unknown tokens answer 200');
  const refused = await postForm(s, 'revoke', { token }, { authorization: basic(conf.client_id, 'wrong-secret-000') });
  t.equal(refused.statusCode, 401);
  const events = having(await eventsAfter(since), HEARTH, 'token-revoked');
  t.equal(events.length, 3);
  const [done, nothing, denied] = events;
  t.equal(done.outcome, '0');
  t.same(done.agent[0].policy, [`urn:ietf:params:oauth:jti:${String(claims.jti)}`]);
  t.ok(done.entity.some((x: Json) => x.what?.identifier?.value === claims.grant), 'the revoked grant');
  t.equal(detail(done, 'scope'), 'system/Patient.rs');
  t.equal(nothing.outcome, '0');
  t.match(nothing.outcomeDesc, /Nothing revoked/);
  t.notOk(nothing.entity.some((x: Json) => x.role?.code === '13'), 'no grant named');
  t.equal(denied.outcome, '4');
  t.match(denied.outcomeDesc, /^invalid_client: /);
  t.notOk((await allStored()).includes(token), 'the revoked token is not stored');
});

t.test('admin API: client and user creation, local tokens, refused admin tokens; tenants in default', async (t) => {
  const since = await lastSeq();
  const created = await s.request('POST', `/admin/tenants/${s.slug}/clients`, { headers: ADMIN,
    body: { name: 'Audited app', type: 'confidential', redirect_uris: [REDIRECT] } });
  t.equal(created.statusCode, 201);
  const { client_id: id, client_secret: secret } = created.json();
  const invalid = await s.request('POST', `/admin/tenants/${s.slug}/clients`, { headers: ADMIN, body: { name: 'No type' } });
  t.equal(invalid.statusCode, 400);
  const local = await s.request('POST', `/admin/tenants/${s.slug}/tokens`, { headers: ADMIN,
    body: { scope: 'patient/*.rs', patient: 'p1' } });
  t.equal(local.statusCode, 200);
  t.equal((await s.request('DELETE', `/admin/tenants/${s.slug}/clients/${id}`, { headers: ADMIN_AUTH })).statusCode, 204);
  const events = await eventsAfter(since);
  const [create, failed] = having(events, HEARTH, 'client-create');
  t.same(create.type, { system: DCM, code: '110113', display: 'Security Alert' });
  t.ok(codes(create).includes(`${DCM}|110129`), 'DICOM subtype Security Configuration');
  t.equal(create.action, 'C');
  t.equal(create.outcome, '0');
  t.same(create.agent[0].who, { identifier: { system: 'http://hearth.dev/fhir/sid/operator', value: 'hearth-admin-api' } });
  t.same(create.entity[0].what, { identifier: { system: CLIENT_ID, value: id } });
  t.equal(create.entity[0].role.code, '13');
  t.equal(failed.outcome, '4', 'a refused registration is recorded as a failure');
  const [minted] = having(events, HEARTH, 'local-token');
  t.same(minted.agent[0].policy, [`urn:ietf:params:oauth:jti:${String(claimsOf(local.json().access_token).jti)}`]);
  t.equal(detail(minted, 'scope'), 'patient/*.rs');
  t.ok(minted.entity.some((x: Json) => x.what?.reference === 'Patient/p1'));
  const [deleted] = having(events, HEARTH, 'client-delete');
  t.equal(deleted.action, 'D');
  t.same(deleted.entity[0].what, { identifier: { system: CLIENT_ID, value: id } });
  const stored = await allStored();
  t.notOk(stored.includes(secret), 'no client secret');
  t.notOk(stored.includes(local.json().access_token), 'no local token');
  t.notOk(stored.includes(ADMIN_TOKEN), 'no admin token');

  const slug = `t-${crypto.randomBytes(5).toString('hex')}`;
  const defaultSince = await lastSeq('default');
  const mark = (tag: string) => ({ ...ADMIN_AUTH, 'x-request-id': `${tag}-${slug}` });
  t.equal((await s.request('POST', '/admin/tenants', { headers: { ...mark('create'), 'content-type': 'application/json' },
    body: { slug } })).statusCode, 201);
  t.equal((await s.request('DELETE', `/admin/tenants/${slug}?confirm=${slug}`, { headers: mark('delete') })).statusCode, 204);
  const guess = 'guessed-admin-token-000';
  const denied = await s.request('POST', `/admin/tenants/${s.slug}/clients`, { body: { name: 'x', type: 'public' },
    headers: { authorization: `Bearer ${guess}`, 'content-type': 'application/json', 'x-request-id': `refused-${slug}` } });
  t.equal(denied.statusCode, 401);
  const mine = (await eventsAfter(defaultSince, 'default')).filter((e) => String(requestIdOf(e)).endsWith(slug));
  const byTag = (tag: string) => mine.find((e) => requestIdOf(e) === `${tag}-${slug}`);
  t.ok(codes(byTag('create')).includes(`${HEARTH}|tenant-create`));
  t.same(byTag('create').entity[0].what, { identifier: { system: 'http://hearth.dev/fhir/sid/tenant', value: slug } });
  t.ok(codes(byTag('delete')).includes(`${HEARTH}|tenant-delete`), 'the deleted tenant\'s event outlives its schema');
  t.equal(byTag('delete').action, 'D');
  const refusedEvent = byTag('refused');
  t.ok(codes(refusedEvent).includes(`${HEARTH}|admin-refused`));
  t.equal(refusedEvent.outcome, '4');
  t.notOk('who' in refusedEvent.agent[0], 'the caller is not named the operator');
  t.notOk(JSON.stringify(refusedEvent).includes(guess), 'the guessed token is not stored');
});

t.test('Bulk Data: status poll, download and cancel are audited; another client\'s poll fails with outcome 4', async (t) => {
  const kick = await s.request('GET', '$export?_type=Patient', { headers: { prefer: 'respond-async' } });
  t.equal(kick.statusCode, 202);
  const status = String(kick.headers['content-location']);
  await runJobs(s);
  const since = await lastSeq();
  const done = await s.request('GET', localPath(status));
  t.equal(done.statusCode, 200);
  const file = done.json().output[0].url as string;
  t.equal((await s.request('GET', localPath(file))).statusCode, 200);
  const other = await s.request('GET', localPath(status), { headers: bearer(await clientToken(s, 'someone-else', 'system/*.rs')) });
  t.equal(other.statusCode, 404);
  t.equal((await s.request('DELETE', localPath(status))).statusCode, 202);
  const events = await eventsAfter(since);
  const [poll, foreign] = having(events, HEARTH, '$export-status');
  const [download] = having(events, HEARTH, '$export-download');
  const [cancel] = having(events, HEARTH, '$export-cancel');
  for (const e of [poll, download, cancel]) {
    t.equal(e.type.code, 'rest');
    t.ok(codes(e).includes('http://hl7.org/fhir/restful-interaction|operation'));
    t.equal(e.outcome, '0');
  }
  t.equal(poll.action, 'E');
  t.same(poll.entity[0].what, { reference: status });
  t.equal(poll.entity[0].role.code, '20', 'the job');
  t.equal(download.action, 'R');
  t.same(download.entity[0].what, { reference: file });
  t.equal(download.entity[0].role.code, '3', 'the file is a Report');
  t.same(download.entity[1].what, { reference: status });
  t.equal(cancel.action, 'E');
  t.same(cancel.entity[0].what, { reference: status });
  t.equal(foreign.outcome, '4');
  t.same(foreign.agent.find((a: Json) => a.who?.identifier?.system === CLIENT_ID)?.who.identifier.value, 'someone-else');
  t.ok(foreign.contained?.[0]?.resourceType === 'OperationOutcome', 'the refusal\'s OperationOutcome is attached');
});
