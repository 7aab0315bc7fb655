/** SMART discovery, the JWKS endpoint, the CapabilityStatement security block, OAuth error format and rate limits. */
import t from 'tap';
import { decodeJwt, publicKeyFromJwk, verifySignature } from '../../src/auth/jws.js';
import { ConfigError } from '../../src/config.js';
import { authRateLimit } from '../../src/config.js';
import { PUBLIC_ORIGIN, startServer } from '../helpers/server.js';
import { postForm } from '../helpers/smart.js';

/** smart-app-launch.md §1.6, as written. */
const CAPABILITIES = ['launch-ehr', 'launch-standalone', 'authorize-post', 'client-public', 'client-confidential-symmetric',
  'client-confidential-asymmetric', 'sso-openid-connect', 'context-banner', 'context-style', 'context-ehr-patient',
  'context-ehr-encounter', 'context-standalone-patient', 'context-standalone-encounter', 'permission-offline',
  'permission-online', 'permission-patient', 'permission-user', 'permission-v1', 'permission-v2'];

t.test('discovery', async (t) => {
  const s = await startServer(t);
  const iss = `${PUBLIC_ORIGIN}/auth/${s.slug}`;

  t.test('.well-known/smart-configuration: JSON whatever Accept says, no token, CORS for any origin', async (t) => {
    const res = await s.request('GET', `${s.base}/.well-known/smart-configuration`, { auth: false,
      headers: { accept: 'application/fhir+xml', origin: 'https://app.example' } });
    t.equal(res.statusCode, 200);
    t.match(res.headers['content-type'], /^application\/json/);
    t.equal(res.headers['access-control-allow-origin'], '*');
    const c = res.json();
    t.equal(c.issuer, iss);
    t.equal(c.jwks_uri, `${iss}/jwks`);
    t.equal(c.authorization_endpoint, `${iss}/authorize`);
    t.equal(c.token_endpoint, `${iss}/token`);
    t.equal(c.introspection_endpoint, `${iss}/introspect`);
    t.equal(c.revocation_endpoint, `${iss}/revoke`);
    for (const f of ['issuer', 'jwks_uri', 'authorization_endpoint', 'token_endpoint', 'introspection_endpoint', 'revocation_endpoint']) {
      t.ok(new URL(c[f]).protocol.startsWith('http'), `${f} is absolute`);
    }
    t.same(c.grant_types_supported, ['authorization_code', 'client_credentials', 'refresh_token']);
    t.same(c.token_endpoint_auth_methods_supported, ['client_secret_basic', 'private_key_jwt']);
    t.same(c.token_endpoint_auth_signing_alg_values_supported, ['RS384', 'ES384']);
    t.same(c.response_types_supported, ['code']);
    t.same(c.code_challenge_methods_supported, ['S256']);
    t.same([...c.capabilities].sort(), [...CAPABILITIES].sort());
    t.ok(Array.isArray(c.scopes_supported) && c.scopes_supported.includes('openid') && c.scopes_supported.includes('launch/patient'));
    t.notOk(c.scopes_supported.some((x: unknown) => typeof x !== 'string'));
  });

  t.test('GET without any Accept header answers JSON too', async (t) => {
    const res = await s.app.inject({ method: 'GET', url: `${s.base}/.well-known/smart-configuration` });
    t.equal(res.statusCode, 200);
    t.equal(JSON.parse(res.body).token_endpoint, `${iss}/token`);
  });

  t.test('unknown tenant → 404', async (t) => {
    const res = await s.request('GET', '/fhir/no-such-tenant/.well-known/smart-configuration', { auth: false });
    t.equal(res.statusCode, 404);
  });

  t.test('JWKS publishes the key that signs access tokens', async (t) => {
    const token = await s.token('system/*.rs');
    const res = await s.request('GET', `/auth/${s.slug}/jwks`);
    t.equal(res.statusCode, 200);
    t.match(res.headers['cache-control'], /max-age=\d+/);
    const jwt = decodeJwt(token);
    const keys = res.json().keys as Record<string, unknown>[];
    t.ok(keys.length >= 1);
    for (const k of keys) t.notOk('d' in k || 'p' in k, 'no private members');
    const jwk = keys.find((k) => k.kid === jwt.header.kid);
    t.ok(jwk, 'the signing kid is published');
    t.equal(jwk?.alg, 'RS256');
    t.ok(await verifySignature(jwt, publicKeyFromJwk(jwk!)!, 'RS256'), 'the published key verifies the token');
  });

  t.test('JWKS of an unknown tenant → 404 OAuth error', async (t) => {
    const res = await s.request('GET', '/auth/no-such-tenant/jwks');
    t.equal(res.statusCode, 404);
    t.equal(res.json().error, 'invalid_request');
  });

  t.test('CapabilityStatement: SMART security block with oauth-uris equal to discovery', async (t) => {
    const cs = (await s.request('GET', 'metadata', { auth: false })).json();
    const sec = cs.rest[0].security;
    t.equal(sec.cors, false, 'no HEARTH_CORS_ORIGINS: the API serves no other origin (test/http/limits.test.ts)');
    t.same(sec.service[0].coding[0], { system: 'http://terminology.hl7.org/CodeSystem/restful-security-service',
      code: 'SMART-on-FHIR', display: 'SMART-on-FHIR' });
    t.match(sec.description, `${s.url}/.well-known/smart-configuration`);
    const ext = sec.extension.find((e: { url: string }) => e.url === 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris');
    const uri = (name: string) => ext.extension.find((e: { url: string }) => e.url === name)?.valueUri;
    const well = (await s.request('GET', `${s.base}/.well-known/smart-configuration`, { auth: false })).json();
    t.equal(uri('authorize'), well.authorization_endpoint);
    t.equal(uri('token'), well.token_endpoint);
    t.equal(uri('introspect'), well.introspection_endpoint);
    t.equal(uri('revoke'), well.revocation_endpoint);
  });

  t.test('smart-style.json: public JSON with every SMART styling field, CORS for any origin', async (t) => {
    const res = await s.request('GET', `/auth/${s.slug}/smart-style.json`, { auth: false,
      headers: { origin: 'https://app.example' } });
    t.equal(res.statusCode, 200);
    t.match(res.headers['content-type'], /^application\/json/);
    t.equal(res.headers['access-control-allow-origin'], '*');
    t.match(res.headers['cache-control'], /^public, max-age=\d+/);
    const style = res.json();
    for (const f of ['color_background', 'color_error', 'color_highlight', 'color_modal_backdrop', 'color_success', 'color_text',
      'dim_border_radius', 'dim_font_size', 'dim_spacing_size', 'font_family_body', 'font_family_heading']) {
      t.ok(typeof style[f] === 'string' && style[f] !== '', f);
    }
    t.equal((await s.request('GET', '/auth/no-such-tenant/smart-style.json', { auth: false })).statusCode, 404, 'unknown tenant');
  });

  t.test('OAuth endpoints answer RFC 6749 JSON errors, never cached', async (t) => {
    const json = await s.app.inject({ method: 'POST', url: `/auth/${s.slug}/token`, headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ grant_type: 'client_credentials' }) });
    t.equal(json.statusCode, 400);
    t.equal(JSON.parse(json.body).error, 'invalid_request');
    t.equal(json.headers['cache-control'], 'no-store');
    t.equal(json.headers.pragma, 'no-cache');
    const repeated = await s.app.inject({ method: 'POST', url: `/auth/${s.slug}/token`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'grant_type=refresh_token&grant_type=client_credentials' });
    t.equal(JSON.parse(repeated.body).error, 'invalid_request', 'a repeated parameter is refused');
    const missing = await postForm(s, 'token', {});
    t.equal(missing.statusCode, 400);
    t.equal(missing.json().error, 'invalid_request');
    const unsupported = await postForm(s, 'token', { grant_type: 'password', username: 'a', password: 'b' });
    t.equal(unsupported.statusCode, 400);
    t.equal(unsupported.json().error, 'unsupported_grant_type');
    const tenant = await postForm(s, 'token', { grant_type: 'client_credentials' }, {}, 'no-such-tenant');
    t.equal(tenant.statusCode, 404);
    t.equal(tenant.json().error, 'invalid_request');
  });
});

t.test('HEARTH_AUTH_RATE_LIMIT: validated, and the token endpoint answers 429 past it', async (t) => {
  t.equal(authRateLimit({}), 60);
  t.equal(authRateLimit({ HEARTH_AUTH_RATE_LIMIT: '500' }), 500);
  t.throws(() => authRateLimit({ HEARTH_AUTH_RATE_LIMIT: '0' }), ConfigError);
  t.throws(() => authRateLimit({ HEARTH_AUTH_RATE_LIMIT: 'lots' }), ConfigError);

  const saved = process.env.HEARTH_AUTH_RATE_LIMIT;
  process.env.HEARTH_AUTH_RATE_LIMIT = '3';
  t.teardown(() => {
    if (saved === undefined) delete process.env.HEARTH_AUTH_RATE_LIMIT;
    else process.env.HEARTH_AUTH_RATE_LIMIT = saved;
  });
  const s = await startServer(t);
  const statuses = [];
  for (let i = 0; i < 4; i++) statuses.push((await postForm(s, 'token', { grant_type: 'password' })).statusCode);
  t.same(statuses, [400, 400, 400, 429]);
  const limited = await postForm(s, 'token', { grant_type: 'password' });
  t.equal(limited.statusCode, 429);
  t.equal(limited.json().error, 'temporarily_unavailable');
  t.ok(Number(limited.headers['retry-after']) > 0, 'Retry-After');
  t.equal(limited.headers['cache-control'], 'no-store');
  const other = await postForm(s, 'revoke', { token: 'x' });
  t.equal(other.statusCode, 401, 'each endpoint counts on its own');
  const discovery = await s.request('GET', `${s.base}/.well-known/smart-configuration`, { auth: false });
  t.equal(discovery.statusCode, 200, 'discovery has a far higher limit');
});
