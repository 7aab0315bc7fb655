/**
 * The token endpoint for user apps: authorization_code with PKCE (codes made directly, as /authorize leaves them),
 * client authentication (public, client_secret_basic, client_secret_post), id_token, and refresh tokens (rotation,
 * reuse, narrowing, offline and online access), smart_style_url (context-style) — smart-app-launch.md §5, §6, §7.1, §8.8.
 */
import crypto from 'node:crypto';
import t from 'tap';
import { SMART_STYLE } from '../../src/oauth/discovery.js';
import { endSession } from '../../src/auth/grants.js';
import { decodeJwt, publicKeyFromJwk, verifySignature } from '../../src/auth/jws.js';
import { createSession } from '../../src/oauth/sessions.js';
import { schemaFor } from '../../src/storage/tenants.js';
import { PUBLIC_ORIGIN, type TestServer, startServer } from '../helpers/server.js';
import { ADMIN_TOKEN, type CodeOptions, JWT_BEARER, assertion, basic, claimsOf, fixClock, makeCode, makeKey, pkce, postForm,
  registerClient } from '../helpers/smart.js';

const REDIRECT = 'https://app.example/callback';
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** A token request for a code; fields set to undefined are left out. */
function exchange(s: TestServer, fields: Record<string, string | undefined>, headers: Record<string, string> = {}) {
  const form = Object.fromEntries(Object.entries({ grant_type: 'authorization_code', redirect_uri: REDIRECT, ...fields })
    .filter((e): e is [string, string] => e[1] !== undefined));
  return postForm(s, 'token', form, headers);
}

async function setup(t: Parameters<typeof startServer>[0]) {
  const s = await startServer(t);
  const patient = (await s.request('POST', 'Patient', { body: { resourceType: 'Patient', name: [{ family: 'Launch' }] } })).json();
  const other = (await s.request('POST', 'Patient', { body: { resourceType: 'Patient', name: [{ family: 'Other' }] } })).json();
  const app = await registerClient(s, { name: 'Patient app', type: 'public', redirect_uris: [REDIRECT] });
  const app2 = await registerClient(s, { name: 'Another app', type: 'public', redirect_uris: [REDIRECT] });
  const conf = await registerClient(s, { name: 'Clinic app', type: 'confidential', redirect_uris: [REDIRECT] });
  const code = (o: Partial<CodeOptions> & { scope: string }) => makeCode(s, { clientId: app.client_id, redirectUri: REDIRECT, ...o });
  return { s, patient, other, pub: app.client_id, pub2: app2.client_id, conf: conf.client_id, secret: conf.client_secret!, code };
}

t.test('authorization_code', async (t) => {
  const { s, patient, other, pub, pub2, conf, secret, code } = await setup(t);
  const context = { patient: patient.id, encounter: 'enc-1', fhirContext: [{ reference: 'ImagingStudy/123' }],
    need_patient_banner: true, smart_style_url: 'https://ehr.example/style-v1.json', intent: 'reconcile-medications' };

  t.test('public client: code + PKCE → Bearer token with the launch context; it reads only the launch patient', async (t) => {
    const scope = 'launch/patient patient/Patient.rs patient/Observation.rs';
    const c = await code({ scope, context });
    const res = await exchange(s, { code: c.code, code_verifier: c.verifier, client_id: pub });
    t.equal(res.statusCode, 200, res.body);
    t.equal(res.headers['cache-control'], 'no-store');
    t.equal(res.headers.pragma, 'no-cache');
    t.match(res.headers['content-type'], /^application\/json/);
    const body = res.json();
    t.equal(body.token_type, 'Bearer');
    t.equal(body.expires_in, 3600);
    t.equal(body.scope, scope);
    t.equal(body.patient, patient.id);
    t.equal(body.encounter, 'enc-1');
    t.same(body.fhirContext, [{ reference: 'ImagingStudy/123' }]);
    t.equal(body.need_patient_banner, true);
    t.equal(body.smart_style_url, 'https://ehr.example/style-v1.json');
    t.equal(body.intent, 'reconcile-medications');
    t.notOk('refresh_token' in body, 'no offline_access or online_access → no refresh token');
    t.notOk('id_token' in body, 'no openid → no id_token');
    const claims = claimsOf(body.access_token);
    t.equal(claims.aud, s.url);
    t.equal(claims.iss, `${PUBLIC_ORIGIN}/auth/${s.slug}`);
    t.equal(claims.client_id, pub);
    t.equal(claims.patient, patient.id);
    t.equal(claims.grant, c.grantId);
    t.equal((claims.exp as number) - (claims.iat as number), 3600);
    t.equal((await s.request('GET', `Patient/${patient.id}`, { headers: bearer(body.access_token) })).statusCode, 200);
    t.equal((await s.request('GET', `Patient/${other.id}`, { headers: bearer(body.access_token) })).statusCode, 404,
      'another patient is out of reach');
  });

  t.test('missing code_verifier → invalid_request, and the code stays usable', async (t) => {
    const c = await code({ scope: 'patient/*.rs', context });
    const res = await exchange(s, { code: c.code, client_id: pub });
    t.equal(res.statusCode, 400);
    t.equal(res.json().error, 'invalid_request');
    const short = await exchange(s, { code: c.code, client_id: pub, code_verifier: 'too-short' });
    t.equal(short.json().error, 'invalid_request', 'a verifier under 43 characters');
    t.equal((await exchange(s, { code: c.code, code_verifier: c.verifier, client_id: pub })).statusCode, 200);
  });

  t.test('PKCE mismatch, wrong redirect_uri, another client, unknown code → invalid_grant', async (t) => {
    for (const [what, fields] of [
      ['verifier of another challenge', { code_verifier: pkce().verifier }],
      ['redirect_uri differs', { redirect_uri: 'https://app.example/callback/' }],
      ['code of another client', { client_id: pub2 }],
    ] as [string, Record<string, string>][]) {
      const c = await code({ scope: 'patient/*.rs', context });
      const res = await exchange(s, { code: c.code, code_verifier: c.verifier, client_id: pub, ...fields });
      t.equal(res.statusCode, 400, what);
      t.equal(res.json().error, 'invalid_grant', what);
    }
    const unknown = await exchange(s, { code: crypto.randomBytes(32).toString('base64url'), code_verifier: pkce().verifier, client_id: pub });
    t.equal(unknown.json().error, 'invalid_grant');
    const noRedirect = await exchange(s, { code: 'x', code_verifier: pkce().verifier, client_id: pub, redirect_uri: undefined });
    t.equal(noRedirect.json().error, 'invalid_request', 'redirect_uri is required');
  });

  t.test('a reused code → invalid_grant, and the token issued for it stops working', async (t) => {
    const c = await code({ scope: 'patient/*.rs', context });
    const first = await exchange(s, { code: c.code, code_verifier: c.verifier, client_id: pub });
    t.equal(first.statusCode, 200);
    const token = first.json().access_token;
    t.equal((await s.request('GET', `Patient/${patient.id}`, { headers: bearer(token) })).statusCode, 200);
    const again = await exchange(s, { code: c.code, code_verifier: c.verifier, client_id: pub });
    t.equal(again.statusCode, 400);
    t.equal(again.json().error, 'invalid_grant');
    const info = await postForm(s, 'introspect', { token }, { authorization: basic(conf, secret) });
    t.same(info.json(), { active: false });
    t.equal((await s.request('GET', `Patient/${patient.id}`, { headers: bearer(token) })).statusCode, 401);
  });

  t.test('an expired code → invalid_grant (injected clock)', async (t) => {
    const clock = fixClock(t, s, new Date());
    const c = await code({ scope: 'patient/*.rs', context });
    clock.advance(61_000);
    const res = await exchange(s, { code: c.code, code_verifier: c.verifier, client_id: pub });
    t.equal(res.statusCode, 400);
    t.equal(res.json().error, 'invalid_grant');
    t.match(res.json().error_description, /expired/);
  });

  t.test('confidential client: client_secret_basic and client_secret_post; bad or missing credentials → 401', async (t) => {
    const good = await code({ clientId: conf, scope: 'user/*.rs' });
    const ok = await exchange(s, { code: good.code, code_verifier: good.verifier }, { authorization: basic(conf, secret) });
    t.equal(ok.statusCode, 200, ok.body);
    t.equal(ok.json().scope, 'user/*.rs');
    const viaPost = await code({ clientId: conf, scope: 'user/*.rs' });
    t.equal((await exchange(s, { code: viaPost.code, code_verifier: viaPost.verifier, client_id: conf, client_secret: secret }))
      .statusCode, 200, 'client_secret_post');

    const c = await code({ clientId: conf, scope: 'user/*.rs' });
    const bad = await exchange(s, { code: c.code, code_verifier: c.verifier }, { authorization: basic(conf, 'not-the-secret') });
    t.equal(bad.statusCode, 401);
    t.equal(bad.json().error, 'invalid_client');
    t.match(bad.headers['www-authenticate'], /^Basic/);
    const none = await exchange(s, { code: c.code, code_verifier: c.verifier, client_id: conf });
    t.equal(none.statusCode, 401, 'a confidential client must authenticate');
    t.equal(none.json().error, 'invalid_client');
    t.notOk(none.headers['www-authenticate'], 'no Basic challenge when Basic was not used');
    const mixed = await exchange(s, { code: c.code, code_verifier: c.verifier, client_secret: secret }, { authorization: basic(conf, secret) });
    t.equal(mixed.statusCode, 400, 'two authentication methods at once');
    t.equal(mixed.json().error, 'invalid_request');
    const differs = await exchange(s, { code: c.code, code_verifier: c.verifier, client_id: pub }, { authorization: basic(conf, secret) });
    t.equal(differs.statusCode, 401, 'form client_id differs from the Basic user');
    t.equal((await exchange(s, { code: c.code, code_verifier: c.verifier }, { authorization: basic(conf, secret) })).statusCode, 200,
      'the code survived the failed attempts');
  });

  t.test('confidential asymmetric client: private_key_jwt at the token endpoint', async (t) => {
    const key = makeKey('RS384');
    const asym = (await registerClient(s, { name: 'Asymmetric app', type: 'confidential', redirect_uris: [REDIRECT],
      jwks: { keys: [key.jwk] } })).client_id;
    const c = await code({ clientId: asym, scope: 'user/*.rs' });
    const jwt = (o = {}) => ({ client_assertion_type: JWT_BEARER, client_assertion: assertion(s, asym, key, o) });
    const forged = await exchange(s, { code: c.code, code_verifier: c.verifier, ...jwt({ key: makeKey('RS384').privateKey }) });
    t.equal(forged.statusCode, 401);
    t.equal(forged.json().error, 'invalid_client');
    const ok = await exchange(s, { code: c.code, code_verifier: c.verifier, ...jwt() });
    t.equal(ok.statusCode, 200, ok.body);
    t.equal(claimsOf(ok.json().access_token).client_id, asym);
  });

  t.test('public client: unknown or missing client_id → 401 invalid_client', async (t) => {
    const c = await code({ scope: 'patient/*.rs', context });
    for (const client_id of ['no-such-client', undefined]) {
      const res = await exchange(s, { code: c.code, code_verifier: c.verifier, client_id });
      t.equal(res.statusCode, 401, String(client_id));
      t.equal(res.json().error, 'invalid_client');
    }
  });

  t.test('openid fhirUser → a signed id_token with the nonce and fhirUser', async (t) => {
    const userId = crypto.randomUUID();
    const c = await code({ scope: 'openid fhirUser launch/patient patient/*.rs', userId, nonce: 'nonce-123',
      context: { patient: patient.id, fhirUser: `Patient/${patient.id}` } });
    const res = await exchange(s, { code: c.code, code_verifier: c.verifier, client_id: pub });
    t.equal(res.statusCode, 200, res.body);
    const idToken = decodeJwt(res.json().id_token);
    const jwks = (await s.request('GET', `/auth/${s.slug}/jwks`)).json();
    const jwk = jwks.keys.find((k: { kid: string }) => k.kid === idToken.header.kid);
    t.ok(await verifySignature(idToken, publicKeyFromJwk(jwk)!, 'RS256'), 'verifies with the published key');
    const claims = idToken.claims;
    t.equal(claims.iss, `${PUBLIC_ORIGIN}/auth/${s.slug}`);
    t.equal(claims.sub, userId);
    t.equal(claims.aud, pub);
    t.equal(claims.nonce, 'nonce-123');
    t.equal(claims.fhirUser, `${s.url}/Patient/${patient.id}`);
    t.ok((claims.exp as number) > (claims.iat as number));
    t.equal(claimsOf(res.json().access_token).sub, userId);

    const profile = await code({ scope: 'openid profile patient/*.rs', context: { patient: patient.id, fhirUser: `Patient/${patient.id}` } });
    t.ok((await exchange(s, { code: profile.code, code_verifier: profile.verifier, client_id: pub })).json().id_token,
      'openid profile also yields an id_token');
    const bare = await code({ scope: 'openid patient/*.rs', context: { patient: patient.id } });
    t.notOk((await exchange(s, { code: bare.code, code_verifier: bare.verifier, client_id: pub })).json().id_token,
      'openid alone does not');
  });
});

t.test('refresh_token', async (t) => {
  const { s, patient, pub, pub2, conf, secret, code } = await setup(t);
  const refresh = (token: string, extra: Record<string, string> = {}, headers: Record<string, string> = {}) =>
    postForm(s, 'token', { grant_type: 'refresh_token', refresh_token: token, ...extra }, headers);
  const introspect = (token: string) => postForm(s, 'introspect', { token }, { authorization: basic(conf, secret) });
  const context = { patient: patient.id, need_patient_banner: false };

  t.test('offline_access: rotation, same context, narrowing, reuse → grant revoked', async (t) => {
    const clock = fixClock(t, s, new Date());
    const scope = 'offline_access launch/patient patient/Patient.rs patient/Observation.rs';
    const c = await code({ scope, context });
    const first = (await exchange(s, { code: c.code, code_verifier: c.verifier, client_id: pub })).json();
    const r1 = first.refresh_token as string;
    t.ok(r1, 'offline_access → refresh token');
    t.equal((await introspect(r1)).json().exp, clock.epoch() + 90 * 24 * 3600, 'lives 90 days');

    const second = await refresh(r1, { client_id: pub });
    t.equal(second.statusCode, 200, second.body);
    t.equal(second.headers['cache-control'], 'no-store');
    const b2 = second.json();
    t.not(b2.refresh_token, r1, 'rotated');
    t.not(b2.access_token, first.access_token);
    t.equal(b2.scope, scope);
    t.equal(b2.patient, patient.id, 'same launch context');
    t.equal(b2.need_patient_banner, false);
    t.equal(b2.expires_in, 3600);

    const narrow = await refresh(b2.refresh_token, { client_id: pub, scope: 'patient/Patient.rs' });
    t.equal(narrow.statusCode, 200, narrow.body);
    const b3 = narrow.json();
    t.equal(b3.scope, 'patient/Patient.rs');
    t.equal((await s.request('GET', `Patient/${patient.id}`, { headers: bearer(b3.access_token) })).statusCode, 200);
    t.equal((await s.request('GET', 'Observation', { headers: bearer(b3.access_token) })).statusCode, 403,
      'the narrowed token lacks Observation');

    for (const broader of ['patient/*.cruds', 'user/Patient.rs', 'offline_access patient/Patient.rs patient/Encounter.rs']) {
      const res = await refresh(b3.refresh_token, { client_id: pub, scope: broader });
      t.equal(res.statusCode, 400, broader);
      t.equal(res.json().error, 'invalid_scope', broader);
    }
    const wide = await refresh(b3.refresh_token, { client_id: pub });
    t.equal(wide.statusCode, 200, 'a refresh after narrowing may ask for the whole grant again');
    t.equal(wide.json().scope, scope);
    const r4 = wide.json().refresh_token as string;

    const stranger = await refresh(r4, { client_id: pub2 });
    t.equal(stranger.statusCode, 400);
    t.equal(stranger.json().error, 'invalid_grant', 'another client cannot use it');

    const reused = await refresh(r1, { client_id: pub });
    t.equal(reused.statusCode, 400);
    t.equal(reused.json().error, 'invalid_grant');
    t.equal((await refresh(r4, { client_id: pub })).json().error, 'invalid_grant', 'the live refresh token died with the grant');
    t.equal((await s.request('GET', `Patient/${patient.id}`, { headers: bearer(wide.json().access_token) })).statusCode, 401,
      'access tokens of the grant are revoked');
  });

  t.test('a public client refreshes without client_id (fhirclient\'s refresh() got 401 invalid_client)', async (t) => {
    const c = await code({ scope: 'offline_access launch/patient patient/Patient.rs', context });
    const r1 = (await exchange(s, { code: c.code, code_verifier: c.verifier, client_id: pub })).json().refresh_token as string;
    const second = await refresh(r1);
    t.equal(second.statusCode, 200, second.body);
    const r2 = second.json().refresh_token as string;
    t.not(r2, r1, 'still rotated');
    t.equal(second.json().patient, patient.id, 'same launch context');
    const third = await refresh(r2, { client_id: pub });
    t.equal(third.statusCode, 200, 'naming the client still works');
    const reused = await refresh(r1);
    t.equal(reused.statusCode, 400);
    t.equal(reused.json().error, 'invalid_grant', 'reuse is still detected');
    t.equal((await refresh(third.json().refresh_token)).json().error, 'invalid_grant', 'and revokes the grant');
    t.equal((await refresh('not-a-token')).json().error, 'invalid_grant', 'an unknown refresh token');
  });

  t.test('refresh token expiry (90 days) and missing refresh_token', async (t) => {
    const clock = fixClock(t, s, new Date());
    const c = await code({ scope: 'offline_access patient/*.rs', context });
    const r = (await exchange(s, { code: c.code, code_verifier: c.verifier, client_id: pub })).json().refresh_token;
    clock.advance(90 * 24 * 3600 * 1000 + 1000);
    t.equal((await refresh(r, { client_id: pub })).json().error, 'invalid_grant');
    const missing = await postForm(s, 'token', { grant_type: 'refresh_token', client_id: pub });
    t.equal(missing.json().error, 'invalid_request');
  });

  t.test('a confidential client authenticates to refresh', async (t) => {
    const c = await code({ clientId: conf, scope: 'offline_access user/*.rs' });
    const r = (await exchange(s, { code: c.code, code_verifier: c.verifier }, { authorization: basic(conf, secret) })).json().refresh_token;
    const unauthenticated = await refresh(r, { client_id: conf });
    t.equal(unauthenticated.statusCode, 401);
    const anonymous = await refresh(r);
    t.equal(anonymous.statusCode, 401, 'a confidential client\'s refresh without any credentials');
    t.equal(anonymous.json().error, 'invalid_client');
    t.equal(unauthenticated.json().error, 'invalid_client');
    const ok = await refresh(r, {}, { authorization: basic(conf, secret) });
    t.equal(ok.statusCode, 200, ok.body);
    t.equal(ok.json().scope, 'offline_access user/*.rs');
  });

  t.test('online_access: refresh tokens only while the login session lives', async (t) => {
    const clock = fixClock(t, s, new Date());
    const users = await s.request('POST', `/admin/tenants/${s.slug}/users`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      body: { username: 'pat', password: 'correct horse battery', fhirUser: `Patient/${patient.id}` } });
    t.equal(users.statusCode, 201, users.body);
    const userId = users.json().id as string;
    const schema = schemaFor(s.slug);
    const login = async () => (await createSession(s.deps.db, schema, userId, s.deps.auth.now())).session;

    const session = await login();
    const c = await code({ scope: 'online_access patient/*.rs', context, userId, sessionHash: session.hash });
    const first = (await exchange(s, { code: c.code, code_verifier: c.verifier, client_id: pub })).json();
    t.ok(first.refresh_token, 'online_access with a live session → refresh token');
    t.ok((await introspect(first.refresh_token)).json().exp <= Math.floor(session.expiresAt.getTime() / 1000),
      'never outlives the session');
    const second = await refresh(first.refresh_token, { client_id: pub });
    t.equal(second.statusCode, 200, second.body);
    await endSession(s.deps.db, schema, session.hash, s.deps.auth.now());
    t.equal((await refresh(second.json().refresh_token, { client_id: pub })).json().error, 'invalid_grant', 'logout ends it');

    const timed = await login();
    const c2 = await code({ scope: 'online_access patient/*.rs', context, userId, sessionHash: timed.hash });
    const r = (await exchange(s, { code: c2.code, code_verifier: c2.verifier, client_id: pub })).json().refresh_token;
    clock.advance(timed.expiresAt.getTime() - clock.epoch() * 1000 + 1000);
    t.equal((await refresh(r, { client_id: pub })).json().error, 'invalid_grant', 'an expired session ends it');
    const c3 = await code({ scope: 'online_access patient/*.rs', context, userId, sessionHash: timed.hash });
    const late = (await exchange(s, { code: c3.code, code_verifier: c3.verifier, client_id: pub })).json();
    t.ok(late.access_token);
    t.notOk('refresh_token' in late, 'no refresh token once the session is over');
  });
});

t.test('context-style: every user grant carries a versioned, fetchable smart_style_url', async (t) => {
  const { s, patient, pub, conf, secret, code } = await setup(t);
  const c = await code({ scope: 'offline_access launch/patient patient/*.rs', context: { patient: patient.id } });
  const first = await exchange(s, { code: c.code, code_verifier: c.verifier, client_id: pub });
  t.equal(first.statusCode, 200, first.body);
  const url = new URL(first.json().smart_style_url);
  t.equal(`${url.origin}${url.pathname}`, `${PUBLIC_ORIGIN}/auth/${s.slug}/smart-style.json`, 'absolute, on the tenant issuer');
  const version = url.searchParams.get('v');
  t.match(version, /^[0-9a-f]{16}$/, 'a short content hash');
  const style = await s.request('GET', `${url.pathname}${url.search}`, { auth: false });
  t.equal(style.statusCode, 200, 'fetchable');
  t.equal(style.body, SMART_STYLE.body);
  t.equal(crypto.createHash('sha256').update(style.body).digest('hex').slice(0, 16), version,
    'v is the hash of the served body, so the URL changes when the style does');
  t.equal(typeof style.json().color_highlight, 'string');

  const refreshed = await postForm(s, 'token', { grant_type: 'refresh_token', refresh_token: first.json().refresh_token, client_id: pub });
  t.equal(refreshed.json().smart_style_url, url.href, 'refresh answers carry it too');
  const info = await postForm(s, 'introspect', { token: first.json().access_token }, { authorization: basic(conf, secret) });
  t.equal(info.json().smart_style_url, url.href, 'introspection repeats it');
  const refreshInfo = await postForm(s, 'introspect', { token: refreshed.json().refresh_token }, { authorization: basic(conf, secret) });
  t.equal(refreshInfo.json().smart_style_url, url.href, 'for refresh tokens as well');

  const key = makeKey('ES384');
  const backend = await registerClient(s, { name: 'Backend', type: 'backend', scope: 'system/*.rs', jwks: { keys: [key.jwk] } });
  const system = await postForm(s, 'token', { grant_type: 'client_credentials', scope: 'system/*.rs',
    client_assertion_type: JWT_BEARER, client_assertion: assertion(s, backend.client_id, key) });
  t.equal(system.statusCode, 200, system.body);
  t.notOk('smart_style_url' in system.json(), 'not for backend services');
});
