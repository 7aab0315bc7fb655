/**
 * Limits (issue #16 §5): the CORS allow-list (HEARTH_CORS_ORIGINS; by default no cross-origin access but to the
 * discovery documents) and the FHIR API's rate limits per client and per user (429 with Retry-After, the first
 * refusal of a window audited).
 */
import t from 'tap';
import { storedAuditEvents } from '../helpers/audit.js';
import { loadConfig } from '../../src/config.js';
import { schemaFor } from '../../src/storage/tenants.js';
import { type TestServer, startServer } from '../helpers/server.js';
import { makeCode, postForm, registerClient } from '../helpers/smart.js';

const EVIL = 'https://evil.example';
const APP = 'https://app.example';
const REDIRECT = `${APP}/callback`;

t.test('CORS by default: discovery documents for any origin, nothing else', async (t) => {
  const s = await startServer(t);
  const origin = { origin: EVIL };
  const pre = await s.request('OPTIONS', 'Patient', { headers: { ...origin, 'access-control-request-method': 'GET' } });
  t.equal(pre.statusCode, 204);
  t.equal(pre.headers['access-control-allow-origin'], undefined, 'a preflight from an unlisted origin is not allowed');
  t.equal(pre.headers['access-control-allow-methods'], undefined);
  const read = await s.request('GET', 'Patient', { headers: origin });
  t.equal(read.statusCode, 200, 'a request without CORS is answered as ever (the browser keeps it from the page)');
  t.equal(read.headers['access-control-allow-origin'], undefined);
  t.match(read.headers.vary, /Origin/);
  const token = await s.request('POST', `/auth/${s.slug}/token`, { auth: false, headers: origin, body: 'grant_type=client_credentials' });
  t.equal(token.headers['access-control-allow-origin'], undefined, 'nor the token endpoint');
  for (const path of [`${s.base}/.well-known/smart-configuration`, `${s.base}/metadata`, `/auth/${s.slug}/jwks`,
    `/auth/${s.slug}/smart-style.json`]) {
    const res = await s.request('GET', path, { auth: false, headers: origin });
    t.equal(res.statusCode, 200, path);
    t.equal(res.headers['access-control-allow-origin'], '*', `${path} is readable from any origin`);
  }
  t.equal((await s.request('GET', 'metadata', { auth: false })).json().rest[0].security.cors, false,
    'the CapabilityStatement says the API does not serve other origins');
});

t.test('CORS with HEARTH_CORS_ORIGINS: listed origins only', async (t) => {
  const s = await startServer(t, { HEARTH_CORS_ORIGINS: `${APP}, http://localhost:3000` });
  const pre = await s.request('OPTIONS', 'Patient', { headers: { origin: APP, 'access-control-request-method': 'POST' } });
  t.equal(pre.statusCode, 204);
  t.equal(pre.headers['access-control-allow-origin'], APP);
  t.match(pre.headers['access-control-allow-methods'], /PATCH/);
  for (const h of ['Authorization', 'Content-Type', 'If-Match', 'If-None-Exist', 'If-None-Match', 'If-Modified-Since', 'Prefer']) {
    t.match(pre.headers['access-control-allow-headers'], h);
  }
  const get = await s.request('GET', 'Patient', { headers: { origin: APP } });
  t.equal(get.headers['access-control-allow-origin'], APP);
  for (const h of ['ETag', 'Location', 'Content-Location', 'Last-Modified']) t.match(get.headers['access-control-expose-headers'], h);
  t.equal((await s.request('GET', 'Patient', { headers: { origin: 'http://localhost:3000' } })).headers['access-control-allow-origin'],
    'http://localhost:3000');
  t.equal((await s.request('GET', 'Patient', { headers: { origin: EVIL } })).headers['access-control-allow-origin'], undefined);
  t.equal((await s.request('GET', 'metadata', { auth: false })).json().rest[0].security.cors, true);
});

t.test('HEARTH_CORS_ORIGINS must be origins, or * alone', async (t) => {
  t.throws(() => loadConfig({ HEARTH_CORS_ORIGINS: 'https://app.example/path' }), /not an origin/);
  t.throws(() => loadConfig({ HEARTH_CORS_ORIGINS: 'app.example' }), /not an origin/);
  t.throws(() => loadConfig({ HEARTH_CORS_ORIGINS: '*, https://app.example' }), /cannot be combined/);
  t.same(loadConfig({ HEARTH_CORS_ORIGINS: 'https://App.example/' }).corsOrigins, ['https://app.example']);
  t.same(loadConfig({ HEARTH_CORS_ORIGINS: '*' }).corsOrigins, ['*']);
  t.same(loadConfig({}).corsOrigins, []);
});

async function refusals(s: TestServer): Promise<number> {
  return (await storedAuditEvents(s.deps.db, schemaFor(s.slug))).filter((e) => String(e.outcomeDesc ?? '').startsWith('HTTP 429')).length;
}

t.test('a client over its rate limit gets 429 with Retry-After; the first refusal of the minute is audited', async (t) => {
  const s = await startServer(t, { HEARTH_API_RATE_LIMIT: '5', HEARTH_USER_RATE_LIMIT: '0' });
  const codes: number[] = [];
  for (let i = 0; i < 5; i++) codes.push((await s.request('GET', 'Patient')).statusCode);
  t.same(codes, [200, 200, 200, 200, 200]);
  const refused = await s.request('GET', 'Patient');
  t.equal(refused.statusCode, 429);
  t.match(Number(refused.headers['retry-after']), /^\d+$/);
  t.ok(Number(refused.headers['retry-after']) >= 1 && Number(refused.headers['retry-after']) <= 60);
  t.equal(refused.json().issue[0].code, 'throttled');
  t.match(refused.json().issue[0].diagnostics, /limit 5 a minute/);
  t.equal((await s.request('POST', 'Patient', { body: { resourceType: 'Patient' } })).statusCode, 429, 'writes count too');
  t.equal(await refusals(s), 1, 'one AuditEvent for the window, not one per refused request');
  t.equal((await s.request('GET', 'metadata', { auth: false })).statusCode, 200, 'the public CapabilityStatement is not limited');
  const other = await s.newTenant();
  t.equal((await s.request('GET', `/fhir/${other}/Patient`, { headers: { authorization: `Bearer ${await s.token('system/*.rs', { slug: other })}` } })).statusCode,
    200, 'the same client in another tenant has its own count');
});

t.test('a user over the per-user limit gets 429 while other users of the same app go on', async (t) => {
  const s = await startServer(t, { HEARTH_API_RATE_LIMIT: '0', HEARTH_USER_RATE_LIMIT: '3' });
  const app = (await registerClient(s, { name: 'Ward app', type: 'public', redirect_uris: [REDIRECT] })).client_id;
  const userToken = async (userId: string) => {
    const c = await makeCode(s, { clientId: app, redirectUri: REDIRECT, scope: 'user/*.rs', userId });
    const res = await postForm(s, 'token', { grant_type: 'authorization_code', code: c.code, redirect_uri: REDIRECT,
      code_verifier: c.verifier, client_id: app });
    if (res.statusCode !== 200) throw new Error(res.body);
    return { authorization: `Bearer ${res.json().access_token}` };
  };
  const ann = await userToken('00000000-0000-4000-8000-00000000000a');
  const bob = await userToken('00000000-0000-4000-8000-00000000000b');
  const codes: number[] = [];
  for (let i = 0; i < 4; i++) codes.push((await s.request('GET', 'Patient', { headers: ann })).statusCode);
  t.same(codes, [200, 200, 200, 429]);
  t.match((await s.request('GET', 'Patient', { headers: ann })).json().issue[0].diagnostics, /this user/);
  t.equal((await s.request('GET', 'Patient', { headers: bob })).statusCode, 200, 'another user of the app');
  t.equal((await s.request('GET', 'Patient')).statusCode, 200, 'a backend service is not a user');
});
