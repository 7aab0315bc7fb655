/**
 * SMART Backend Services end to end: client_credentials with private_key_jwt (RS384, ES384; inline JWKS and a jwks_uri
 * served over HTTP), the system token used on the FHIR API, and every way an assertion must fail
 * (smart-app-launch.md §7, §12, §13.2).
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { loadConfig } from '../../src/config.js';
import { PUBLIC_ORIGIN, type TestServer, startServer } from '../helpers/server.js';
import { JWT_BEARER, type ClientKey, assertion, basic, claimsOf, fixClock, makeKey, postForm, registerClient } from '../helpers/smart.js';

const clientCredentials = (s: TestServer, jwt: string, extra: Record<string, string> = {}) =>
  postForm(s, 'token', { grant_type: 'client_credentials', scope: 'system/*.rs', client_assertion_type: JWT_BEARER,
    client_assertion: jwt, ...extra });

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

t.test('backend services with an inline JWKS', async (t) => {
  const s = await startServer(t);
  const rsa = makeKey('RS384');
  const ec = makeKey('ES384');
  const { client_id: id } = await registerClient(s, { name: 'Nightly export', type: 'backend',
    scope: 'system/*.rs system/introspect', jwks: { keys: [rsa.jwk, ec.jwk] } });
  const patient = (await s.request('POST', 'Patient', { body: { resourceType: 'Patient', name: [{ family: 'Backend' }] } })).json();

  for (const key of [rsa, ec]) {
    t.test(`${key.alg} assertion → a 5-minute bearer token that reads the FHIR API`, async (t) => {
      const res = await clientCredentials(s, assertion(s, id, key));
      t.equal(res.statusCode, 200, res.body);
      t.equal(res.headers['cache-control'], 'no-store');
      t.equal(res.headers.pragma, 'no-cache');
      const body = res.json();
      t.equal(body.token_type, 'bearer');
      t.equal(body.expires_in, 300);
      t.equal(body.scope, 'system/*.rs');
      t.notOk('refresh_token' in body, 'no refresh token');
      t.notOk('id_token' in body);
      const claims = claimsOf(body.access_token);
      t.equal(claims.client_id, id);
      t.equal(claims.sub, id);
      t.equal(claims.aud, s.url);
      t.equal(claims.iss, `${PUBLIC_ORIGIN}/auth/${s.slug}`);
      const search = await s.request('GET', 'Patient', { headers: bearer(body.access_token) });
      t.equal(search.statusCode, 200);
      t.ok(search.json().entry.some((e: { resource: { id: string } }) => e.resource.id === patient.id));
      const write = await s.request('POST', 'Patient', { headers: bearer(body.access_token),
        body: { resourceType: 'Patient' } });
      t.equal(write.statusCode, 403, 'system/*.rs does not allow create');
    });
  }

  t.test('scopes: narrower granted as asked, unknown ones dropped, beyond the registration → invalid_scope', async (t) => {
    const narrow = await clientCredentials(s, assertion(s, id, rsa), { scope: 'system/Patient.rs made/up' });
    t.equal(narrow.statusCode, 200, narrow.body);
    t.equal(narrow.json().scope, 'system/Patient.rs');
    const obs = await s.request('GET', 'Observation', { headers: bearer(narrow.json().access_token) });
    t.equal(obs.statusCode, 403, 'the token is limited to the granted scope');
    for (const scope of ['system/*.cruds', 'system/Patient.c', 'user/*.rs', 'system/*.rs launch/patient']) {
      const res = await clientCredentials(s, assertion(s, id, rsa), { scope });
      t.equal(res.statusCode, 400, scope);
      t.equal(res.json().error, 'invalid_scope', scope);
    }
    for (const scope of ['', 'made/up']) {
      const res = await clientCredentials(s, assertion(s, id, rsa), { scope });
      t.equal(res.json().error, 'invalid_scope', `scope '${scope}'`);
    }
  });

  t.test('token lifetime follows the injected clock', async (t) => {
    const clock = fixClock(t, s, new Date('2031-05-01T10:00:00Z'));
    const res = await clientCredentials(s, assertion(s, id, ec));
    t.equal(res.statusCode, 200, res.body);
    const claims = claimsOf(res.json().access_token);
    t.equal(claims.iat, clock.epoch());
    t.equal(claims.exp, clock.epoch() + 300);
    t.equal((await s.request('GET', 'Patient', { headers: bearer(res.json().access_token) })).statusCode, 200);
    clock.advance(400_000);
    const late = await s.request('GET', 'Patient', { headers: bearer(res.json().access_token) });
    t.equal(late.statusCode, 401, 'expired after 5 minutes');
  });

  const refused: [string, RegExp, (now: number) => string][] = [
    ['alg none', /RS384 or ES384/, () => assertion(s, id, rsa, { header: { alg: 'none' } }).replace(/[^.]*$/, '')],
    ['alg HS256', /RS384 or ES384/, () => assertion(s, id, rsa, { header: { alg: 'HS256' }, key: 'shared-secret' })],
    ['alg RS256', /RS384 or ES384/, () => assertion(s, id, rsa, { header: { alg: 'RS256' } })],
    ['missing kid', /name its key/, () => assertion(s, id, rsa, { header: { kid: undefined } })],
    ['unknown kid', /No registered key/, () => assertion(s, id, rsa, { header: { kid: 'no-such-kid' } })],
    ['typ missing', /typ/, () => assertion(s, id, rsa, { header: { typ: undefined } })],
    ['kid of an RSA key with alg ES384', /does not fit/, () => assertion(s, id, rsa, { header: { alg: 'ES384' }, key: ec.privateKey })],
    ['signed by another key under a registered kid', /signature/, () => assertion(s, id, rsa, { key: makeKey('RS384').privateKey })],
    ['jku not registered', /jku/, () => assertion(s, id, rsa, { header: { jku: 'https://attacker.example/jwks.json' } })],
    ['aud is the FHIR base', /aud/, () => assertion(s, id, rsa, { claims: { aud: s.url } })],
    ['aud of another tenant', /aud/, () => assertion(s, id, rsa, { claims: { aud: `${PUBLIC_ORIGIN}/auth/other/token` } })],
    ['exp more than 5 minutes and the clock skew ahead', /5 minutes/, (now) => assertion(s, id, rsa, { claims: { exp: now + 361 } })],
    ['iat beyond the clock skew ahead', /iat/, (now) => assertion(s, id, rsa, { claims: { iat: now + 61 } })],
    ['nbf beyond the clock skew ahead', /nbf/, (now) => assertion(s, id, rsa, { claims: { nbf: now + 61 } })],
    ['exp missing', /numeric exp/, () => assertion(s, id, rsa, { claims: { exp: undefined } })],
    ['expired', /expired/, (now) => assertion(s, id, rsa, { claims: { exp: now - 61 } })],
    ['jti missing', /jti/, () => assertion(s, id, rsa, { claims: { jti: undefined } })],
    ['iss differs from sub', /iss and sub/, () => assertion(s, id, rsa, { claims: { sub: 'someone-else' } })],
    ['unknown client', /unknown/, () => assertion(s, 'no-such-client', rsa)],
  ];
  t.test('assertions refused with 401 invalid_client', async (t) => {
    const clock = fixClock(t, s, new Date());
    for (const [what, why, make] of refused) {
      const res = await clientCredentials(s, make(clock.epoch()));
      t.equal(res.statusCode, 401, what);
      t.equal(res.json().error, 'invalid_client', what);
      t.match(res.json().error_description, why, what);
    }
    const within = await clientCredentials(s, assertion(s, id, rsa, { claims: { exp: clock.epoch() + 300 } }));
    t.equal(within.statusCode, 200, 'exp exactly 5 minutes ahead is fine');
    const skew = await clientCredentials(s, assertion(s, id, rsa, { claims: { exp: clock.epoch() - 30 } }));
    t.equal(skew.statusCode, 200, 'an exp 30 s past is within the clock skew');
  });

  t.test('replayed client assertion → invalid_client whose error_description says "jti already used" (issue #22 §5)', async (t) => {
    const jwt = assertion(s, id, rsa);
    t.equal((await clientCredentials(s, jwt)).statusCode, 200);
    const again = await clientCredentials(s, jwt);
    t.equal(again.statusCode, 401);
    t.equal(again.json().error, 'invalid_client');
    t.match(again.json().error_description, /jti already used/);
  });

  t.test('SMART Bulk Data client: exp = round(now) + 300 signed late in a second is accepted (issue #22 §6)', async (t) => {
    const clock = fixClock(t, s, new Date('2031-06-01T10:00:00.700Z'));
    const exp = Math.round(Date.parse('2031-06-01T10:00:00.700Z') / 1000) + 300;
    t.equal(exp, clock.epoch() + 301, 'one second past the 5 minutes by our whole-second clock');
    const res = await clientCredentials(s, assertion(s, id, rsa, { claims: { exp, iat: exp - 300 } }));
    t.equal(res.statusCode, 200, res.body);
    const ahead = await clientCredentials(s, assertion(s, id, rsa, { claims: { exp: clock.epoch() + 330, iat: clock.epoch() + 30,
      nbf: clock.epoch() + 30 } }));
    t.equal(ahead.statusCode, 200, 'a client clock 30 s ahead: exp, iat and nbf within the default 60 s skew');
  });

  t.test('HEARTH_ASSERTION_CLOCK_SKEW_SECONDS sets the skew on exp, iat and nbf (default 60)', async (t) => {
    t.equal(loadConfig({}).assertionClockSkewS, 60);
    t.equal(loadConfig({ HEARTH_ASSERTION_CLOCK_SKEW_SECONDS: '0' }).assertionClockSkewS, 0);
    t.throws(() => loadConfig({ HEARTH_ASSERTION_CLOCK_SKEW_SECONDS: '301' }));
    const clock = fixClock(t, s, new Date('2031-06-02T10:00:00Z'));
    const saved = s.deps.config.assertionClockSkewS;
    s.deps.config.assertionClockSkewS = 0;
    t.teardown(() => { s.deps.config.assertionClockSkewS = saved; });
    const now = clock.epoch();
    for (const [what, claims] of [['exp 301 s ahead', { exp: now + 301 }], ['iat 1 s ahead', { iat: now + 1 }],
      ['nbf 1 s ahead', { nbf: now + 1 }], ['exp 1 s past', { exp: now - 1 }]] as const) {
      const res = await clientCredentials(s, assertion(s, id, rsa, { claims }));
      t.equal(res.statusCode, 401, `skew 0: ${what}`);
    }
    t.equal((await clientCredentials(s, assertion(s, id, rsa, { claims: { exp: now + 300, iat: now } }))).statusCode, 200);
  });

  t.test('replayed jti → invalid_client; a forgery cannot burn a jti', async (t) => {
    const jwt = assertion(s, id, ec);
    t.equal((await clientCredentials(s, jwt)).statusCode, 200);
    const again = await clientCredentials(s, jwt);
    t.equal(again.statusCode, 401);
    t.equal(again.json().error, 'invalid_client');
    const jti = crypto.randomUUID();
    const forged = await clientCredentials(s, assertion(s, id, ec, { claims: { jti }, key: makeKey('ES384').privateKey }));
    t.equal(forged.statusCode, 401);
    t.equal((await clientCredentials(s, assertion(s, id, ec, { claims: { jti } }))).statusCode, 200);
  });

  t.test('form client_id must equal iss; wrong client_assertion_type refused', async (t) => {
    const other = await clientCredentials(s, assertion(s, id, rsa), { client_id: 'someone-else' });
    t.equal(other.statusCode, 401);
    t.equal(other.json().error, 'invalid_client');
    const same = await clientCredentials(s, assertion(s, id, rsa), { client_id: id });
    t.equal(same.statusCode, 200);
    const type = await clientCredentials(s, assertion(s, id, rsa), { client_assertion_type: 'urn:example:other' });
    t.equal(type.statusCode, 401);
  });

  t.test('client_credentials is refused to symmetric, asymmetric non-backend and public clients', async (t) => {
    const sym = await registerClient(s, { name: 'Symmetric', type: 'confidential', redirect_uris: ['https://app.example/cb'],
      scope: 'system/*.rs' });
    const res = await postForm(s, 'token', { grant_type: 'client_credentials', scope: 'system/*.rs' },
      { authorization: basic(sym.client_id, sym.client_secret!) });
    t.equal(res.statusCode, 400);
    t.equal(res.json().error, 'unauthorized_client');
    const post = await postForm(s, 'token', { grant_type: 'client_credentials', scope: 'system/*.rs', client_id: sym.client_id,
      client_secret: sym.client_secret! });
    t.equal(post.json().error, 'unauthorized_client', 'client_secret_post too');
    const wrong = await postForm(s, 'token', { grant_type: 'client_credentials', scope: 'system/*.rs' },
      { authorization: basic(sym.client_id, 'wrong') });
    t.equal(wrong.statusCode, 401);
    t.equal(wrong.json().error, 'invalid_client');
    t.match(wrong.headers['www-authenticate'], /^Basic/);

    const key = makeKey('ES384');
    const asym = await registerClient(s, { name: 'Asymmetric app', type: 'confidential', redirect_uris: ['https://app.example/cb'],
      scope: 'system/*.rs', jwks: { keys: [key.jwk] } });
    const a = await clientCredentials(s, assertion(s, asym.client_id, key));
    t.equal(a.statusCode, 400);
    t.equal(a.json().error, 'unauthorized_client');

    const pub = await registerClient(s, { name: 'Public', type: 'public', redirect_uris: ['https://app.example/cb'] });
    const p = await postForm(s, 'token', { grant_type: 'client_credentials', scope: 'system/*.rs', client_id: pub.client_id });
    t.equal(p.statusCode, 400);
    t.equal(p.json().error, 'unauthorized_client');
  });
});

t.test('backend services with a jwks_uri', async (t) => {
  const s = await startServer(t);
  const k1 = makeKey('RS384');
  const k2 = makeKey('ES384');
  const served: { keys: ClientKey[]; cacheControl?: string; status: number; hits: number; hang: boolean } =
    { keys: [k1], cacheControl: 'max-age=60', status: 200, hits: 0, hang: false };
  const server = http.createServer((_req, res) => {
    served.hits++;
    if (served.hang) return;
    res.writeHead(served.status, { 'content-type': 'application/json',
      ...(served.cacheControl ? { 'cache-control': served.cacheControl } : {}) });
    res.end(JSON.stringify({ keys: served.keys.map((k) => k.jwk) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => { server.closeAllConnections(); server.close(); });
  const uri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
  const { client_id: id } = await registerClient(s, { name: 'Remote keys', type: 'backend', scope: 'system/*.rs', jwks_uri: uri });
  const clock = fixClock(t, s, new Date('2032-01-01T00:00:00Z'));
  const token = async (key: ClientKey, header: Record<string, unknown> = {}) =>
    (await clientCredentials(s, assertion(s, id, key, { header }))).statusCode;

  t.test('keys fetched once and cached for the max-age; jku must be the registered URL', async (t) => {
    t.equal(await token(k1), 200);
    t.equal(served.hits, 1);
    t.equal(await token(k1), 200);
    t.equal(await token(k1, { jku: uri }), 200, 'jku equal to the registered jwks_uri');
    t.equal(served.hits, 1, 'served from the cache');
    t.equal(await token(k1, { jku: `${uri}?other` }), 401, 'another jku');
    t.equal(served.hits, 1);
    const patient = await s.request('GET', 'Patient', { headers: bearer((await clientCredentials(s, assertion(s, id, k1))).json().access_token) });
    t.equal(patient.statusCode, 200, 'the system token reads the FHIR API');
  });

  t.test('a new kid triggers one refetch, at most every 10 s', async (t) => {
    served.keys = [k1, k2];
    t.equal(await token(k2), 401, 'fetched less than 10 s ago: not refetched');
    t.equal(served.hits, 1);
    clock.advance(11_000);
    t.equal(await token(k2), 200, 'refetched');
    t.equal(served.hits, 2);
    t.equal(await token(makeKey('RS384', 'never-published')), 401);
    t.equal(served.hits, 2, 'an unknown kid right after a fetch does not fetch again');
  });

  t.test('the cache expires with max-age; no max-age → no caching; fetch failures → invalid_client', async (t) => {
    clock.advance(61_000);
    t.equal(await token(k1), 200);
    t.equal(served.hits, 3, 'refetched after max-age');
    served.cacheControl = undefined;
    clock.advance(61_000);
    t.equal(await token(k1), 200);
    t.equal(await token(k1), 200);
    t.equal(served.hits, 5, 'without max-age every use fetches');
    served.status = 500;
    t.equal(await token(k1), 401);
    served.status = 200;
    served.hang = true;
    const started = Date.now();
    t.equal(await token(k1), 401, 'a JWKS URL that never answers');
    const waited = Date.now() - started;
    t.ok(waited >= 4500 && waited < 15_000, `gave up after the 5 s timeout (${waited} ms)`);
  });

});
