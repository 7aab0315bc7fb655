/**
 * Routing by host name and audited deletion (issue #17 §5): a tenant given a host name is served there with /fhir as
 * its base — links, tokens and SMART discovery all say so — while the path form keeps working; a tenant's deletion is
 * recorded in the control schema, append-only.
 */
import t from 'tap';
import { sql } from '../../src/db/sql.js';
import { mintLocalToken } from '../../src/auth/tokens.js';
import { rewriteForHost } from '../../src/http/host-routing.js';
import { findTenant } from '../../src/storage/tenants.js';
import { ADMIN } from '../access/helpers.js';
import { startServer } from '../helpers/server.js';

const s = await startServer(t);
const HOST = `h-${s.slug}.example.test`;
const HOST_BASE = `http://${HOST}/fhir`;
const admin = (method: string, path: string, body?: unknown) =>
  s.request(method, `/admin${path}`, { headers: ADMIN, ...(body !== undefined ? { body } : {}) });
const tenant = (await findTenant(s.deps.db, s.slug))!;
const hostToken = (await mintLocalToken(s.deps.db, s.deps.auth, tenant, HOST_BASE, 'system/*.cruds')).token;
const atHost = (method: string, url: string, body?: unknown, token = hostToken) => s.request(method, url,
  { headers: { host: HOST, authorization: `Bearer ${token}` }, ...(body !== undefined ? { body } : {}) });

t.test('the path form of a URL asked at a tenant\'s host', async (t) => {
  t.equal(rewriteForHost('/fhir/Patient/1?_format=json', 'acme'), '/fhir/acme/Patient/1?_format=json');
  t.equal(rewriteForHost('/fhir', 'acme'), '/fhir/acme');
  t.equal(rewriteForHost('/fhir?x=1', 'acme'), '/fhir/acme?x=1');
  t.equal(rewriteForHost('/fhir/acme/Patient', 'acme'), '/fhir/acme/Patient', 'the path form stays');
  t.equal(rewriteForHost('/auth/token', 'acme'), '/auth/acme/token');
  t.equal(rewriteForHost('/fhirx/Patient', 'acme'), '/fhirx/Patient');
  t.equal(rewriteForHost('/admin/tenants', 'acme'), '/admin/tenants', 'the admin API is never rewritten');
});

t.test('a host name is checked and unique', async (t) => {
  for (const bad of ['Not A Host', 'a..b', '-a.example', 'x'.repeat(254), 42]) {
    t.equal((await admin('PATCH', `/tenants/${s.slug}`, { host: bad })).statusCode, 400, String(bad).slice(0, 20));
  }
  const set = await admin('PATCH', `/tenants/${s.slug}`, { host: HOST.toUpperCase() });
  t.equal(set.statusCode, 200, set.body);
  t.equal(set.json().host, HOST, 'kept lower-case');
  const other = await s.newTenant();
  t.equal((await admin('PATCH', `/tenants/${other}`, { host: HOST })).statusCode, 409, 'one tenant per host');
});

t.test('at its host the tenant is served at /fhir, and says so in links, tokens and discovery', async (t) => {
  const meta = await atHost('GET', '/fhir/metadata');
  t.equal(meta.statusCode, 200, meta.body);
  t.equal(meta.json().implementation.url, HOST_BASE);
  const created = await atHost('POST', '/fhir/Patient', { resourceType: 'Patient', name: [{ family: 'Hosted' }] });
  t.equal(created.statusCode, 201, created.body);
  t.match(String(created.headers.location), new RegExp(`^${HOST_BASE}/Patient/[^/]+/_history/1$`));
  const id = created.json().id as string;
  const found = await atHost('GET', `/fhir/Patient?_id=${id}`);
  t.equal(found.json().entry[0].fullUrl, `${HOST_BASE}/Patient/${id}`);
  t.equal((await atHost('GET', `/fhir/${s.slug}/Patient/${id}`)).statusCode, 200, 'the path form works at the host too');
  const smart = await atHost('GET', '/fhir/.well-known/smart-configuration');
  t.equal(smart.statusCode, 200, smart.body);
  t.equal(smart.json().token_endpoint, `http://${HOST}/auth/token`);
  const token = await s.request('POST', '/auth/token', { headers: { host: HOST, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials', auth: false });
  t.match(token.json(), { error: 'invalid_client' }, 'the token endpoint answers there (an OAuth error, not 404)');
  const pathToken = await s.token('system/*.cruds');
  t.equal((await atHost('GET', `/fhir/Patient/${id}`, undefined, pathToken)).statusCode, 401,
    'a token for the path-form base is for another audience');
  t.equal((await s.request('GET', `Patient/${id}`)).statusCode, 200, 'the path form on the server\'s own host keeps working');
});

t.test('without its host name the tenant is served at the path form only', async (t) => {
  t.equal((await admin('PATCH', `/tenants/${s.slug}`, { host: null })).statusCode, 200);
  const gone = await atHost('GET', '/fhir/metadata');
  t.not(gone.statusCode, 200, 'no longer routed: /fhir/metadata names no tenant');
  t.notMatch(gone.body, 'CapabilityStatement');
});

t.test('a tenant\'s deletion is recorded in the control schema, append-only', async (t) => {
  const slug = await s.newTenant();
  t.equal((await admin('DELETE', `/tenants/${slug}?confirm=${slug}`)).statusCode, 204);
  const list = await admin('GET', '/tenant-deletions');
  t.equal(list.statusCode, 200);
  t.match(list.json().deletions.find((d: { slug: string }) => d.slug === slug), { slug, operator: 'admin-token', deletedAt: /^\d{4}-/ });
  await t.rejects(s.deps.db.query(sql`UPDATE hearth.tenant_deletion SET operator = 'someone else' WHERE slug = ${slug}`), /append-only/);
});
