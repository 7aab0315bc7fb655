/**
 * The admin HTTP API for SMART: clients, users, EHR launches, local tokens, key rotation (issue #4 §6–§7), in process
 * and as the CLI uses it against a running server.
 */
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { consumeLaunch } from '../../src/auth/grants.js';
import { decodeJwt } from '../../src/auth/jws.js';
import { findClient } from '../../src/oauth/clients.js';
import { authenticate, findUser } from '../../src/oauth/users.js';
import { totpCode } from '../../src/oauth/totp.js';
import { findTenant } from '../../src/storage/tenants.js';
import { PUBLIC_ORIGIN, startServer } from '../helpers/server.js';
import { runCli } from '../helpers/cli.js';

const ADMIN = { authorization: 'Bearer test-admin-token-0123456789', 'content-type': 'application/json' };
const REDIRECT = 'https://app.example.org/callback';

t.test('admin API', async (t) => {
  const s = await startServer(t);
  const schema = (await findTenant(s.deps.db, s.slug))!.schema;
  const admin = (method: string, path: string, body?: unknown) =>
    s.request(method, path, { headers: body === undefined ? { authorization: ADMIN.authorization } : ADMIN, body });

  t.test('no admin token → 401; a wrong one → 401; both as OperationOutcome', async (t) => {
    for (const path of [`/admin/tenants/${s.slug}/clients`, `/admin/tenants/${s.slug}/tokens`, '/admin/keys/rotate']) {
      const none = await s.request('POST', path, { body: { scope: 'system/*.rs' }, headers: { 'content-type': 'application/json' } });
      t.equal(none.statusCode, 401, path);
      t.equal(none.json().resourceType, 'OperationOutcome');
      t.equal(none.json().issue[0].code, 'login');
      const wrong = await s.request('POST', path, { body: {}, headers: { ...ADMIN, authorization: 'Bearer test-admin-token-0123456780' } });
      t.equal(wrong.statusCode, 401, `${path} with a wrong token`);
    }
    const smartToken = await s.token('system/*.cruds');
    const res = await s.request('GET', `/admin/tenants/${s.slug}/clients`, { headers: { authorization: `Bearer ${smartToken}` } });
    t.equal(res.statusCode, 401, 'a FHIR access token is not an admin credential');
  });

  t.test('unknown tenant → 404 on every tenant route', async (t) => {
    for (const [method, path, body] of [['POST', 'clients', { name: 'x', type: 'public', redirect_uris: [REDIRECT] }], ['GET', 'clients'],
      ['DELETE', 'clients/abc'], ['POST', 'users', { username: 'u', password: 'long enough!', fhirUser: 'Patient/1' }],
      ['POST', 'launches', { patient: '1' }], ['POST', 'tokens', { scope: 'system/*.rs' }]] as [string, string, unknown][]) {
      const res = await admin(method, `/admin/tenants/no-such-tenant/${path}`, body);
      t.equal(res.statusCode, 404, `${method} ${path}`);
      t.match(res.json().issue[0], { code: 'not-found', diagnostics: "Tenant 'no-such-tenant' was not found" });
    }
  });

  t.test('clients: create (secret once), list (never secrets), delete', async (t) => {
    const created = await admin('POST', `/admin/tenants/${s.slug}/clients`,
      { name: 'EHR app', type: 'confidential', redirect_uris: [REDIRECT], scope: 'launch user/*.rs openid fhirUser' });
    t.equal(created.statusCode, 201);
    const body = created.json();
    t.match(body, { client_id: /^[A-Za-z0-9_-]{22}$/, client_secret: /^[A-Za-z0-9_-]{43}$/, name: 'EHR app', type: 'confidential',
      redirect_uris: [REDIRECT], scope: 'launch user/*.rs openid fhirUser', token_endpoint_auth_method: 'client_secret_basic' });
    t.ok(await findClient(s.deps.db, schema, body.client_id), 'stored in the tenant');
    const backend = (await admin('POST', `/admin/tenants/${s.slug}/clients`,
      { name: 'bulk', type: 'backend', jwks_uri: 'https://b.example.org/jwks', scope: 'system/*.rs' })).json();
    t.equal(backend.client_secret, undefined);
    t.equal(backend.token_endpoint_auth_method, 'private_key_jwt');
    t.equal(backend.jwks_uri, 'https://b.example.org/jwks');

    const list = await admin('GET', `/admin/tenants/${s.slug}/clients`);
    t.equal(list.statusCode, 200);
    t.same(list.json().clients.map((c: { client_id: string }) => c.client_id), [body.client_id, backend.client_id]);
    t.notOk(list.body.includes(body.client_secret), 'the secret is never listed');
    t.notOk(list.body.includes('client_secret"'), 'no client_secret member at all');

    const bad = await admin('POST', `/admin/tenants/${s.slug}/clients`, { name: 'p', type: 'public' });
    t.equal(bad.statusCode, 400);
    t.match(bad.json().issue[0], { code: 'invalid', diagnostics: 'A public client needs at least one redirect_uris entry' });
    t.equal((await admin('POST', `/admin/tenants/${s.slug}/clients`, '[1,2]')).statusCode, 400, 'not an object → 400');

    t.equal((await admin('DELETE', `/admin/tenants/${s.slug}/clients/${body.client_id}`)).statusCode, 204);
    const again = await admin('DELETE', `/admin/tenants/${s.slug}/clients/${body.client_id}`);
    t.equal(again.statusCode, 404);
    t.equal(again.json().issue[0].code, 'not-found');
    t.equal(await findClient(s.deps.db, schema, body.client_id), undefined);
  });

  t.test('users: create with and without TOTP; duplicates → 409', async (t) => {
    const res = await admin('POST', `/admin/tenants/${s.slug}/users`, { username: 'dr.grey', password: 'correct horse battery', fhirUser: 'Practitioner/12' });
    t.equal(res.statusCode, 201);
    const user = res.json();
    t.same(Object.keys(user).sort(), ['fhirUser', 'id', 'username']);
    t.match(user, { username: 'dr.grey', fhirUser: 'Practitioner/12' });
    t.same(await findUser(s.deps.db, schema, user.id), { id: user.id, username: 'dr.grey', fhirUser: 'Practitioner/12', totp: false });
    t.notOk(res.body.includes('correct horse'), 'the password is not echoed');

    const totp = await admin('POST', `/admin/tenants/${s.slug}/users`,
      { username: 'pat', password: 'correct horse battery', fhirUser: 'Patient/p1', totp: true });
    t.equal(totp.statusCode, 201);
    const { totp_secret: secret, otpauth_uri: uri } = totp.json();
    t.match(secret, /^[A-Z2-7]{32}$/);
    t.equal(uri, `otpauth://totp/Hearth:pat?secret=${secret}&issuer=Hearth&algorithm=SHA1&digits=6&period=30`);
    const now = new Date();
    t.equal((await authenticate(s.deps.db, schema, 'pat', 'correct horse battery', totpCode(secret, now), now)).ok, true,
      'the enrolled secret works at login');

    const dup = await admin('POST', `/admin/tenants/${s.slug}/users`, { username: 'pat', password: 'correct horse battery', fhirUser: 'Patient/p2' });
    t.equal(dup.statusCode, 409);
    t.equal(dup.json().issue[0].code, 'duplicate');
    const weak = await admin('POST', `/admin/tenants/${s.slug}/users`, { username: 'weak', password: 'short', fhirUser: 'Patient/p2' });
    t.equal(weak.statusCode, 400);
    t.match(weak.json().issue[0].diagnostics, /at least 10 characters/);
  });

  t.test('launches: a single-use launch id bound to the context, and the tenant FHIR base as iss', async (t) => {
    const fhirContext = [{ reference: 'ImagingStudy/1' }, { canonical: 'http://example.org/Questionnaire/q|1', type: 'Questionnaire' }];
    const res = await admin('POST', `/admin/tenants/${s.slug}/launches`,
      { patient: 'pat-1', encounter: 'enc.2', fhirContext, need_patient_banner: false });
    t.equal(res.statusCode, 201);
    const { launch, iss } = res.json();
    t.equal(iss, s.url);
    t.equal(iss, `${PUBLIC_ORIGIN}/fhir/${s.slug}`);
    t.match(launch, /^[A-Za-z0-9_-]{43}$/);
    t.same(await consumeLaunch(s.deps.db, schema, launch, s.deps.auth.now()),
      { patient: 'pat-1', encounter: 'enc.2', fhirContext, need_patient_banner: false });
    t.equal(await consumeLaunch(s.deps.db, schema, launch, s.deps.auth.now()), undefined, 'used once');

    const refused: [unknown, RegExp][] = [
      [{}, /patient must be a resource id/],
      [{ patient: '../Patient/1' }, /patient must be a resource id/],
      [{ patient: '1', encounter: 'x'.repeat(65) }, /encounter must be a resource id/],
      [{ patient: '1', fhirContext: {} }, /fhirContext must be an array/],
      [{ patient: '1', fhirContext: [{ type: 'ImagingStudy' }] }, /needs a reference, canonical or identifier/],
      [{ patient: '1', fhirContext: [{ reference: 'http://x/ImagingStudy/1' }] }, /relative reference/],
      [{ patient: '1', fhirContext: [{ reference: 'ImagingStudy/1', role: '' }] }, /role must be a non-empty string/],
      [{ patient: '1', need_patient_banner: 'no' }, /need_patient_banner must be true or false/],
      [{ patient: '1', user: 'x' }, /Unknown field\(s\): user/],
    ];
    for (const [body, message] of refused) {
      const bad = await admin('POST', `/admin/tenants/${s.slug}/launches`, body);
      t.equal(bad.statusCode, 400, JSON.stringify(body));
      t.match(bad.json().issue[0].diagnostics, message);
    }
  });

  t.test('tokens: a JWT for the tenant base that the FHIR API accepts', async (t) => {
    const res = await admin('POST', `/admin/tenants/${s.slug}/tokens`, { scope: 'system/*.read  system/Patient.c' });
    t.equal(res.statusCode, 200);
    t.equal(res.headers['cache-control'], 'no-store');
    const body = res.json();
    t.match(body, { token_type: 'Bearer', expires_in: 3600, scope: 'system/*.read system/Patient.c' });
    const { header, claims } = decodeJwt(body.access_token);
    t.equal(header.alg, 'RS256');
    t.equal(claims.aud, s.url, 'aud is the tenant FHIR base');
    t.equal(claims.iss, `${PUBLIC_ORIGIN}/auth/${s.slug}`);
    t.equal(claims.client_id, 'hearth-admin');
    t.equal(claims.scope, 'system/*.read system/Patient.c');
    t.equal((claims.exp as number) - (claims.iat as number), 3600);

    const read = await s.request('GET', 'Patient', { headers: { authorization: `Bearer ${body.access_token}` } });
    t.equal(read.statusCode, 200, 'the token reads the tenant');

    const short = (await admin('POST', `/admin/tenants/${s.slug}/tokens`, { scope: 'system/Observation.rs', expires_in: 60 })).json();
    t.equal(short.expires_in, 60);
    const c = decodeJwt(short.access_token).claims;
    t.equal((c.exp as number) - (c.iat as number), 60);

    const patient = (await admin('POST', `/admin/tenants/${s.slug}/tokens`, { scope: 'patient/*.rs', patient: 'p-9' })).json();
    t.equal(decodeJwt(patient.access_token).claims.patient, 'p-9', 'patient/ scopes with a patient context');
  });

  t.test('tokens: scope and lifetime are checked', async (t) => {
    const refused: [unknown, RegExp][] = [
      [{}, /scope is required/],
      [{ scope: '   ' }, /scope is required/],
      [{ scope: 'system/*.read banana system/Foo.read' }, /Unknown or malformed scope\(s\): banana system\/Foo\.read/],
      [{ scope: 'openid fhirUser' }, /at least one resource scope/],
      [{ scope: 'system/*.read', expires_in: 3601 }, /expires_in must be a whole number of seconds from 1 to 3600/],
      [{ scope: 'system/*.read', expires_in: 0 }, /expires_in/],
      [{ scope: 'system/*.read', expires_in: '60' }, /expires_in/],
      [{ scope: 'patient/*.rs' }, /patient\/ scopes need a patient/],
      [{ scope: 'system/*.rs', patient: 'a/b' }, /patient must be a resource id/],
      [{ scope: 'system/*.rs', aud: 'http://elsewhere' }, /Unknown field\(s\): aud/],
    ];
    for (const [body, message] of refused) {
      const bad = await admin('POST', `/admin/tenants/${s.slug}/tokens`, body);
      t.equal(bad.statusCode, 400, JSON.stringify(body));
      t.match(bad.json().issue[0].diagnostics, message);
    }
  });

  t.test('keys/rotate: a new signing key signs the next tokens', async (t) => {
    const res = await admin('POST', '/admin/keys/rotate');
    t.equal(res.statusCode, 200);
    const { kid } = res.json();
    t.match(kid, /^[A-Za-z0-9_-]{16}$/);
    const token = (await admin('POST', `/admin/tenants/${s.slug}/tokens`, { scope: 'system/*.rs' })).json().access_token;
    t.equal(decodeJwt(token).header.kid, kid);
    t.ok(await s.deps.auth.keys.publicKey(kid), 'published');
  });
});



t.test('CLI: client create, launch and token go through the admin API of a running server', async (t) => {
  const s = await startServer(t);
  await s.app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = s.app.server.address() as AddressInfo;
  // The data directory is held by this live process and DATABASE_URL is unset: only the admin API can do the work.
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-admin-cli-'));
  fs.writeFileSync(path.join(dataDir, 'hearth.lock'), String(process.pid));
  const env = { DATABASE_URL: '', HEARTH_DATA_DIR: dataDir, HEARTH_ADMIN_URL: `http://127.0.0.1:${port}`,
    HEARTH_ADMIN_TOKEN: ADMIN.authorization.slice('Bearer '.length), HEARTH_LOG_LEVEL: 'silent' };
  const schema = (await findTenant(s.deps.db, s.slug))!.schema;

  const created = await runCli(['client', 'create', '--tenant', s.slug, '--name', 'Via API', '--type', 'public',
    '--redirect-uri', REDIRECT, '--scope', 'launch/patient patient/*.rs'], env);
  t.equal(created.status, 0, created.stderr);
  t.match(created.stdout, /^client_id [A-Za-z0-9_-]{22}\n$/);
  const clientId = created.stdout.trim().split(' ')[1]!;
  t.equal((await findClient(s.deps.db, schema, clientId))?.name, 'Via API', "registered in the server's database");

  const launch = await runCli(['launch', '--tenant', s.slug, '--patient', 'p7'], env);
  t.equal(launch.status, 0, launch.stderr);
  t.match(launch.stdout, `iss ${s.url}\n`);

  // Without HEARTH_ADMIN_TOKEN the CLI reads <HEARTH_DATA_DIR>/admin-token, as `serve` writes it.
  fs.writeFileSync(path.join(dataDir, 'admin-token'), `${env.HEARTH_ADMIN_TOKEN}\n`, { mode: 0o600 });
  const token = await runCli(['token', '--tenant', s.slug, '--scope', 'system/*.read'], { ...env, HEARTH_ADMIN_TOKEN: '' });
  t.equal(token.status, 0, token.stderr);
  t.equal(decodeJwt(token.stdout.trim()).claims.aud, s.url, 'aud: the tenant base as the server sees it');
  const read = await s.request('GET', 'Patient', { headers: { authorization: `Bearer ${token.stdout.trim()}` } });
  t.equal(read.statusCode, 200, 'the token works on the FHIR API');

  const wrong = await runCli(['token', '--tenant', s.slug, '--scope', 'system/*.read'], { ...env, HEARTH_ADMIN_TOKEN: 'wrong-admin-token-000000' });
  t.equal(wrong.status, 1);
  t.match(wrong.stderr, `http://127.0.0.1:${port} answered 401: The bearer token is not valid`);
  const refused = await runCli(['token', '--tenant', s.slug, '--scope', 'patient/*.rs'], env);
  t.equal(refused.status, 1);
  t.match(refused.stderr, /answered 400: patient\/ scopes need a patient/, "the server's message reaches the operator");
});
