/** Client registration rules (smart-app-launch.md §2): public, confidential symmetric/asymmetric, backend. */
import crypto from 'node:crypto';
import t, { type Test } from 'tap';
import { checkClientSecret, createClient, deleteClient, findClient, listClients } from '../../src/oauth/clients.js';
import { createGrant, grantActive, hashSecret } from '../../src/auth/grants.js';
import { ident, sql } from '../../src/db/sql.js';
import { FhirError } from '../../src/errors.js';
import { findTenant } from '../../src/storage/tenants.js';
import { startServer } from '../helpers/server.js';

const publicJwk = (key: crypto.KeyObject, kid: string) => ({ ...key.export({ format: 'jwk' }), kid });
const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' });
const RSA_JWK = { ...publicJwk(rsa.publicKey, 'rsa-1'), alg: 'RS384', use: 'sig' };
const EC_JWK = { ...publicJwk(ec.publicKey, 'ec-1'), alg: 'ES384' };
const JWKS = { keys: [RSA_JWK, EC_JWK] };

const REDIRECT = 'https://app.example.org/callback';

t.test('clients in a tenant schema', async (t) => {
  const s = await startServer(t);
  const db = s.deps.db;
  const schema = (await findTenant(db, s.slug))!.schema;
  const create = (input: unknown) => createClient(db, schema, input);
  const refused = async (t: Test, input: unknown, message: RegExp, what = JSON.stringify(input).slice(0, 120)) => {
    const e = await create(input).catch((e: unknown) => e);
    t.ok(e instanceof FhirError && e.status === 400, `400: ${what}`);
    t.match((e as Error).message, message, what);
  };

  t.test('public client: redirect URIs, no secret, no keys', async (t) => {
    const { client, clientSecret } = await create({ name: ' Patient app ', type: 'public', redirect_uris: [REDIRECT, 'http://localhost:3000/cb'],
      scope: '  launch/patient patient/*.rs openid fhirUser ', launch_uri: 'https://app.example.org/launch' });
    t.equal(clientSecret, undefined);
    t.match(client.clientId, /^[A-Za-z0-9_-]{22}$/, '16 random bytes, base64url');
    t.same(client, { clientId: client.clientId, name: 'Patient app', type: 'public', redirectUris: [REDIRECT, 'http://localhost:3000/cb'],
      scope: 'launch/patient patient/*.rs openid fhirUser', launchUri: 'https://app.example.org/launch', hasSecret: false });
    t.same(await findClient(db, schema, client.clientId), client);
    await refused(t, { name: 'p', type: 'public' }, /A public client needs at least one redirect_uris entry/);
    await refused(t, { name: 'p', type: 'public', redirect_uris: [] }, /at least one redirect_uris/);
    await refused(t, { name: 'p', type: 'public', redirect_uris: [REDIRECT], jwks: JWKS }, /A public client has no credentials/);
    await refused(t, { name: 'p', type: 'public', redirect_uris: [REDIRECT], client_secret: 'x' }, /Unknown client field\(s\): client_secret/);
  });

  t.test('confidential symmetric client: secret returned once, stored only as its hash', async (t) => {
    const { client, clientSecret } = await create({ name: 'EHR app', type: 'confidential', redirect_uris: [REDIRECT], scope: 'launch user/*.rs' });
    t.match(clientSecret, /^[A-Za-z0-9_-]{43}$/, '32 random bytes, base64url');
    t.equal(client.hasSecret, true);
    t.notOk('clientSecret' in client || JSON.stringify(client).includes(clientSecret!), 'the client view has no secret');
    const [row] = await db.query<{ secret_hash: string }>(sql`SELECT secret_hash FROM ${ident(schema)}.auth_client
      WHERE client_id = ${client.clientId}`);
    t.not(row!.secret_hash, clientSecret, 'the database row does not hold the secret');
    t.equal(row!.secret_hash, hashSecret(clientSecret!), 'it holds its SHA-256');
    t.equal(await checkClientSecret(db, schema, client.clientId, clientSecret!), true);
    t.equal(await checkClientSecret(db, schema, client.clientId, `${clientSecret}x`), false);
    t.equal(await checkClientSecret(db, schema, client.clientId, ''), false);
    t.equal(await checkClientSecret(db, schema, 'unknown-client', clientSecret!), false);
    t.notOk(JSON.stringify(await listClients(db, schema)).includes(clientSecret!), 'never listed');
    await refused(t, { name: 'c', type: 'confidential' }, /A confidential client needs at least one redirect_uris entry/);
  });

  t.test('confidential asymmetric client: a JWKS or JWKS URL instead of a secret', async (t) => {
    const inline = await create({ name: 'keys', type: 'confidential', redirect_uris: [REDIRECT], jwks: JWKS });
    t.equal(inline.clientSecret, undefined);
    t.same(inline.client.jwks, JWKS);
    t.equal(inline.client.hasSecret, false);
    const byUrl = await create({ name: 'url', type: 'confidential', redirect_uris: [REDIRECT], jwks_uri: 'https://app.example.org/jwks.json' });
    t.equal(byUrl.clientSecret, undefined);
    t.equal(byUrl.client.jwksUri, 'https://app.example.org/jwks.json');
    t.equal(await checkClientSecret(db, schema, byUrl.client.clientId, ''), false, 'no secret to match');
  });

  t.test('backend client: keys required, no redirect URIs, only system/ scopes', async (t) => {
    const { client, clientSecret } = await create({ name: 'bulk', type: 'backend', jwks: JWKS, scope: 'system/*.rs system/introspect' });
    t.equal(clientSecret, undefined);
    t.same(client.redirectUris, []);
    t.equal(client.scope, 'system/*.rs system/introspect');
    t.ok((await create({ name: 'v1', type: 'backend', jwks_uri: 'https://b.example.org/jwks', scope: 'system/Patient.read system/Observation.*' })).client);
    await refused(t, { name: 'b', type: 'backend', scope: 'system/*.rs' }, /backend client authenticates with private_key_jwt: give jwks or jwks_uri/);
    await refused(t, { name: 'b', type: 'backend', jwks: JWKS, scope: 'system/*.rs', redirect_uris: [REDIRECT] }, /backend client has no redirect_uris/);
    await refused(t, { name: 'b', type: 'backend', jwks: JWKS, scope: 'system/*.rs patient/*.rs launch' },
      /only system\/ scopes; not allowed: patient\/\*\.rs launch/);
    await refused(t, { name: 'b', type: 'backend', jwks: JWKS, scope: 'system/*.dus' }, /not allowed: system\/\*\.dus/);
    await refused(t, { name: 'b', type: 'backend', jwks: JWKS }, /needs its pre-authorized system\/ scopes/);
  });

  t.test('jwks_uri: https, or http on loopback only', async (t) => {
    for (const uri of ['http://localhost:9000/jwks', 'http://127.0.0.1/jwks', 'http://[::1]:8443/jwks', 'https://keys.example.org/k']) {
      const { client } = await create({ name: 'b', type: 'backend', jwks_uri: uri, scope: 'system/*.rs' });
      t.equal(client.jwksUri, uri, uri);
    }
    await refused(t, { name: 'b', type: 'backend', jwks_uri: 'http://keys.example.org/jwks', scope: 'system/*.rs' },
      /jwks_uri must use https \(http is accepted only for localhost, 127\.0\.0\.1 and \[::1\]\)/);
    await refused(t, { name: 'b', type: 'backend', jwks_uri: 'http://localhost.evil.org/jwks', scope: 'system/*.rs' }, /must use https/);
    await refused(t, { name: 'b', type: 'backend', jwks_uri: 'ftp://keys.example.org/jwks', scope: 'system/*.rs' }, /must use http or https/);
    await refused(t, { name: 'b', type: 'backend', jwks_uri: 'keys.json', scope: 'system/*.rs' }, /not an absolute URL/);
    await refused(t, { name: 'b', type: 'backend', jwks: JWKS, jwks_uri: 'https://k.example.org/', scope: 'system/*.rs' },
      /either jwks or jwks_uri, not both/);
  });

  t.test('redirect URIs: absolute http(s), no fragment; stored exactly', async (t) => {
    const base = { name: 'r', type: 'public' };
    await refused(t, { ...base, redirect_uris: ['/callback'] }, /redirect_uris '\/callback' is not an absolute URL/);
    await refused(t, { ...base, redirect_uris: ['https://app.example.org/cb#frag'] }, /must not have a fragment/);
    await refused(t, { ...base, redirect_uris: ['https://app.example.org/cb#'] }, /must not have a fragment/);
    await refused(t, { ...base, redirect_uris: ['javascript:alert(1)'] }, /must use http or https/);
    await refused(t, { ...base, redirect_uris: ['com.example.app:/cb'] }, /must use http or https/);
    await refused(t, { ...base, redirect_uris: 'https://app.example.org/cb' }, /redirect_uris must be an array/);
    await refused(t, { ...base, redirect_uris: [42] }, /redirect_uris must be an absolute http\(s\) URL/);
    await refused(t, { ...base, redirect_uris: [REDIRECT], launch_uri: 'launch.html' }, /launch_uri 'launch.html' is not an absolute URL/);
    const exact = 'https://App.example.org:443/cb/?a=1&b=2';
    t.same((await create({ ...base, redirect_uris: [exact, exact] })).client.redirectUris, [exact], 'as given, once');
  });

  t.test('jwks: public RSA or P-384 EC keys with kid, no private members', async (t) => {
    const base = { name: 'k', type: 'backend', scope: 'system/*.rs' };
    const withKey = (key: Record<string, unknown>) => ({ ...base, jwks: { keys: [key] } });
    const { n: _n, ...noN } = RSA_JWK;
    const { kid: _kid, ...noKid } = EC_JWK;
    const small = publicJwk(crypto.generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey, 'small');
    const p256 = publicJwk(crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey, 'p256');
    const rsaPrivate = { ...rsa.privateKey.export({ format: 'jwk' }), kid: 'oops' };
    await refused(t, { ...base, jwks: { keys: [] } }, /jwks must be a JWK Set \{"keys": \[\.\.\.\]\} with at least one key/);
    await refused(t, { ...base, jwks: [RSA_JWK] }, /jwks must be a JWK Set/);
    await refused(t, withKey(noKid), /jwks\.keys\[0\] needs a kid/);
    await refused(t, withKey(noN), /an RSA key needs n and e/);
    await refused(t, withKey(p256), /an EC key needs crv "P-384"/);
    await refused(t, withKey({ kty: 'oct', kid: 'h', k: 'c2VjcmV0' }), /holds private key material \(k\)/);
    await refused(t, withKey({ kty: 'OKP', kid: 'ed', crv: 'Ed25519', x: 'abc' }), /kty must be RSA or EC/);
    await refused(t, withKey(rsaPrivate), /\(kid oops\) holds private key material \(d, p, q, dp, dq, qi\): register public keys only/);
    // node:crypto loads any base64url as a modulus; the size check is what refuses junk.
    await refused(t, withKey({ ...RSA_JWK, n: 'not-a-modulus' }), /RSA keys must have at least 2048 bits/);
    await refused(t, withKey({ ...EC_JWK, x: EC_JWK.y }), /is not a usable EC public key/);
    await refused(t, withKey(small), /RSA keys must have at least 2048 bits/);
    await refused(t, { ...base, jwks: { keys: [RSA_JWK, { ...RSA_JWK }] } }, /two RSA keys with kid rsa-1/);
    t.ok((await create({ ...base, jwks: { keys: [RSA_JWK, { ...EC_JWK, kid: 'rsa-1' }] } })).client, 'one kid for an RSA and an EC key');
  });

  t.test('name, type, scope and unknown fields', async (t) => {
    await refused(t, 'a string', /must be a JSON object/);
    await refused(t, { type: 'public', redirect_uris: [REDIRECT] }, /name must be a non-empty string/);
    await refused(t, { name: '   ', type: 'public', redirect_uris: [REDIRECT] }, /name must be a non-empty string/);
    await refused(t, { name: 'x', type: 'spa', redirect_uris: [REDIRECT] }, /type must be one of public, confidential, backend/);
    await refused(t, { name: 'x', type: 'public', redirect_uris: [REDIRECT], scope: ['launch'] }, /scope must be a space-separated string/);
    await refused(t, { name: 'x', type: 'public', redirect_uris: [REDIRECT], scope: 'launch "x"' }, /printable ASCII/);
    await refused(t, { name: 'x', type: 'public', redirect_uri: REDIRECT }, /Unknown client field\(s\): redirect_uri \(known: name, type/);
  });

  t.test('list and delete; deleting a client revokes its grants', async (t) => {
    const slug2 = await s.newTenant();
    const schema2 = (await findTenant(db, slug2))!.schema;
    const a = (await createClient(db, schema2, { name: 'A', type: 'public', redirect_uris: [REDIRECT] })).client;
    const b = (await createClient(db, schema2, { name: 'B', type: 'backend', jwks: JWKS, scope: 'system/*.rs' })).client;
    t.same((await listClients(db, schema2)).map((c) => c.clientId).sort(), [a.clientId, b.clientId].sort());
    t.same(await listClients(db, schema).then((l) => l.some((c) => c.clientId === a.clientId)), false, 'tenants do not share clients');
    const grant = await createGrant(db, schema2, { clientId: a.clientId, scope: 'patient/*.rs', context: {} }, new Date());
    t.equal(await grantActive(db, schema2, grant.id), true);
    t.equal(await deleteClient(db, schema2, a.clientId), true);
    t.equal(await grantActive(db, schema2, grant.id), false, 'its tokens stop working');
    t.equal(await findClient(db, schema2, a.clientId), undefined);
    t.equal(await deleteClient(db, schema2, a.clientId), false);
    t.equal(await deleteClient(db, schema2, "x' OR '1'='1"), false);
    t.same((await listClients(db, schema2)).map((c) => c.clientId), [b.clientId]);
  });
});
