/**
 * Token introspection (RFC 7662 + SMART, smart-app-launch.md §10) and revocation (RFC 7009, §11): who may call them,
 * what an active token reports, and that revocation takes effect on every token of the grant at once.
 */
import t from 'tap';
import { PUBLIC_ORIGIN, type TestServer, startServer } from '../helpers/server.js';
import { JWT_BEARER, assertion, basic, fixClock, makeCode, makeKey, postForm, registerClient } from '../helpers/smart.js';

const REDIRECT = 'https://app.example/callback';
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function userToken(s: TestServer, clientId: string, scope: string, context: Record<string, unknown>,
  headers: Record<string, string> = {}) {
  const c = await makeCode(s, { clientId, redirectUri: REDIRECT, scope, context });
  const res = await postForm(s, 'token', { grant_type: 'authorization_code', code: c.code, redirect_uri: REDIRECT,
    code_verifier: c.verifier, ...(Object.keys(headers).length === 0 ? { client_id: clientId } : {}) }, headers);
  if (res.statusCode !== 200) throw new Error(res.body);
  return { ...res.json(), grantId: c.grantId } as { access_token: string; refresh_token?: string; grantId: string };
}

t.test('introspection and revocation', async (t) => {
  const s = await startServer(t);
  const patient = (await s.request('POST', 'Patient', { body: { resourceType: 'Patient' } })).json();
  const pub = (await registerClient(s, { name: 'Patient app', type: 'public', redirect_uris: [REDIRECT] })).client_id;
  const conf = await registerClient(s, { name: 'Resource server', type: 'confidential', redirect_uris: [REDIRECT] });
  const rs = { authorization: basic(conf.client_id, conf.client_secret!) };
  const key = makeKey('ES384');
  const backend = (await registerClient(s, { name: 'Backend', type: 'backend', scope: 'system/*.rs system/introspect',
    jwks: { keys: [key.jwk] } })).client_id;
  const systemToken = async (scope: string) => (await postForm(s, 'token', { grant_type: 'client_credentials', scope,
    client_assertion_type: JWT_BEARER, client_assertion: assertion(s, backend, key) })).json().access_token as string;
  const introspect = (token: string, headers: Record<string, string> = rs) => postForm(s, 'introspect', { token }, headers);
  const context = { patient: patient.id, encounter: 'enc-9', fhirContext: [{ reference: 'DiagnosticReport/5', role: 'https://example.org/role' }],
    need_patient_banner: true, fhirUser: `Patient/${patient.id}` };

  t.test('an active access token reports scope, client, times, subject, audience and the launch context', async (t) => {
    const tok = await userToken(s, pub, 'openid fhirUser launch/patient patient/*.rs', context);
    const res = await introspect(tok.access_token);
    t.equal(res.statusCode, 200);
    t.equal(res.headers['cache-control'], 'no-store');
    const info = res.json();
    t.equal(info.active, true);
    t.equal(info.scope, 'openid fhirUser launch/patient patient/*.rs');
    t.equal(info.client_id, pub);
    t.equal(info.token_type, 'Bearer');
    t.equal(info.iss, `${PUBLIC_ORIGIN}/auth/${s.slug}`);
    t.equal(info.aud, s.url);
    t.type(info.sub, 'string');
    t.equal(info.exp - info.iat, 3600);
    t.equal(info.patient, patient.id);
    t.equal(info.encounter, 'enc-9');
    t.same(info.fhirContext, context.fhirContext);
    t.equal(info.need_patient_banner, true);
    t.equal(info.fhirUser, `${s.url}/Patient/${patient.id}`);

    const noOpenid = (await introspect((await userToken(s, pub, 'launch/patient patient/*.rs', context)).access_token)).json();
    t.equal(noOpenid.active, true);
    t.notOk('fhirUser' in noOpenid, 'fhirUser only when an id_token could carry it');
  });

  t.test('a refresh token introspects as active until revoked', async (t) => {
    const tok = await userToken(s, pub, 'offline_access launch/patient patient/*.rs', context);
    const info = (await introspect(tok.refresh_token!)).json();
    t.equal(info.active, true);
    t.equal(info.client_id, pub);
    t.equal(info.token_type, 'refresh_token');
    t.equal(info.patient, patient.id);
  });

  t.test('inactive: unknown, malformed, expired, revoked, other tenant → exactly {"active": false}', async (t) => {
    const other = await s.newTenant();
    const otherToken = await s.token('system/*.rs', { slug: other });
    for (const [what, token] of [['garbage', 'not-a-token'], ['JWT-shaped garbage', 'a.b.c'], ['another tenant', otherToken]]) {
      const res = await introspect(token!);
      t.equal(res.statusCode, 200, what);
      t.same(res.json(), { active: false }, what);
    }
    const clock = fixClock(t, s, new Date());
    const tok = await userToken(s, pub, 'patient/*.rs', context);
    clock.advance(3600_000 + 60_000);
    t.same((await introspect(tok.access_token)).json(), { active: false }, 'expired');
  });

  t.test('callers: a system/introspect bearer token or a confidential client; nobody else', async (t) => {
    const tok = await userToken(s, pub, 'patient/*.rs', context);
    const withScope = await introspect(tok.access_token, bearer(await systemToken('system/introspect')));
    t.equal(withScope.statusCode, 200);
    t.equal(withScope.json().active, true);

    const withoutScope = await introspect(tok.access_token, bearer(await systemToken('system/*.rs')));
    t.equal(withoutScope.statusCode, 403);
    t.equal(withoutScope.json().error, 'insufficient_scope');
    const badBearer = await introspect(tok.access_token, bearer('not.a.token'));
    t.equal(badBearer.statusCode, 401);
    t.equal(badBearer.json().error, 'invalid_token');
    t.match(badBearer.headers['www-authenticate'], /^Bearer/);

    const jwt = await postForm(s, 'introspect', { token: tok.access_token, client_assertion_type: JWT_BEARER,
      client_assertion: assertion(s, backend, key, { claims: { aud: `${PUBLIC_ORIGIN}/auth/${s.slug}/introspect` } }) });
    t.equal(jwt.statusCode, 200, 'private_key_jwt with the introspection endpoint as aud');
    t.equal(jwt.json().active, true);

    const anonymous = await postForm(s, 'introspect', { token: tok.access_token });
    t.equal(anonymous.statusCode, 401);
    t.equal(anonymous.json().error, 'invalid_client');
    const publicClient = await postForm(s, 'introspect', { token: tok.access_token, client_id: pub });
    t.equal(publicClient.statusCode, 401, 'a public client cannot introspect');
    const wrongSecret = await introspect(tok.access_token, { authorization: basic(conf.client_id, 'wrong') });
    t.equal(wrongSecret.statusCode, 401);
    t.match(wrongSecret.headers['www-authenticate'], /^Basic/);
    const missing = await postForm(s, 'introspect', {}, rs);
    t.equal(missing.statusCode, 400);
    t.equal(missing.json().error, 'invalid_request');
  });

  t.test('revoking a refresh token revokes the access tokens of its grant', async (t) => {
    const tok = await userToken(s, pub, 'offline_access launch/patient patient/*.rs', context);
    t.equal((await s.request('GET', `Patient/${patient.id}`, { headers: bearer(tok.access_token) })).statusCode, 200);
    const res = await postForm(s, 'revoke', { token: tok.refresh_token!, token_type_hint: 'refresh_token', client_id: pub });
    t.equal(res.statusCode, 200);
    t.equal(res.headers['cache-control'], 'no-store');
    t.same((await introspect(tok.access_token)).json(), { active: false });
    t.same((await introspect(tok.refresh_token!)).json(), { active: false });
    t.equal((await s.request('GET', `Patient/${patient.id}`, { headers: bearer(tok.access_token) })).statusCode, 401);
    const again = await postForm(s, 'token', { grant_type: 'refresh_token', refresh_token: tok.refresh_token!, client_id: pub });
    t.equal(again.json().error, 'invalid_grant');
  });

  t.test('revoking an access token revokes its grant, refresh token included; hints are only hints', async (t) => {
    const tok = await userToken(s, conf.client_id, 'offline_access user/*.rs', {}, rs);
    const res = await postForm(s, 'revoke', { token: tok.access_token, token_type_hint: 'refresh_token' }, rs);
    t.equal(res.statusCode, 200);
    t.same((await introspect(tok.access_token)).json(), { active: false });
    t.same((await introspect(tok.refresh_token!)).json(), { active: false });
  });

  t.test('another client cannot revoke a token; unknown tokens and odd hints answer 200', async (t) => {
    const tok = await userToken(s, pub, 'patient/*.rs', context);
    const res = await postForm(s, 'revoke', { token: tok.access_token }, rs);
    t.equal(res.statusCode, 200, 'RFC 7009: no information about the token');
    t.equal((await introspect(tok.access_token)).json().active, true, 'still active');
    for (const token of ['unknown-token', 'x.y.z']) {
      t.equal((await postForm(s, 'revoke', { token, token_type_hint: 'id_token', client_id: pub })).statusCode, 200, token);
    }
  });

  t.test('revocation: bad client authentication → 401 invalid_client; no token → invalid_request', async (t) => {
    const tok = await userToken(s, pub, 'patient/*.rs', context);
    const bad = await postForm(s, 'revoke', { token: tok.access_token }, { authorization: basic(conf.client_id, 'wrong') });
    t.equal(bad.statusCode, 401);
    t.equal(bad.json().error, 'invalid_client');
    const anonymous = await postForm(s, 'revoke', { token: tok.access_token });
    t.equal(anonymous.statusCode, 401);
    t.equal((await introspect(tok.access_token)).json().active, true, 'nothing was revoked');
    const missing = await postForm(s, 'revoke', { client_id: pub });
    t.equal(missing.statusCode, 400);
    t.equal(missing.json().error, 'invalid_request');
  });

  t.test('a backend client revokes its own system token', async (t) => {
    const token = await systemToken('system/*.rs');
    t.equal((await s.request('GET', 'Patient', { headers: bearer(token) })).statusCode, 200);
    const res = await postForm(s, 'revoke', { token, client_assertion_type: JWT_BEARER,
      client_assertion: assertion(s, backend, key, { claims: { aud: `${PUBLIC_ORIGIN}/auth/${s.slug}/revoke` } }) });
    t.equal(res.statusCode, 200);
    t.equal((await s.request('GET', 'Patient', { headers: bearer(token) })).statusCode, 401);
  });
});
