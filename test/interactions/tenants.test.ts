import t from 'tap';
import { startServer } from '../helpers/server.js';

t.test('a resource in tenant A is invisible in tenant B', async (t) => {
  const s = await startServer(t);
  const other = await s.newTenant();
  const created = await s.request('POST', 'Patient', { body: { resourceType: 'Patient', gender: 'female' } });
  const id = created.json().id;
  t.equal((await s.request('GET', `Patient/${id}`)).statusCode, 200, 'visible in its own tenant');
  t.equal((await s.request('GET', `/fhir/${other}/Patient/${id}`)).statusCode, 404, 'read by guessing the id');
  t.equal((await s.request('GET', `/fhir/${other}/Patient/${id}/_history/1`)).statusCode, 404, 'vread');
  t.equal((await s.request('GET', `/fhir/${other}/Patient/${id}/_history`)).statusCode, 404, 'instance history');
  t.equal((await s.request('GET', `/fhir/${other}/Patient/_history`)).json().total, 0, 'type history');
  t.equal((await s.request('GET', `/fhir/${other}/_history`)).json().entry.length, 0, 'system history');
  const put = await s.request('PUT', `/fhir/${other}/Patient/${id}`, { body: { resourceType: 'Patient', id } });
  t.equal(put.statusCode, 201, 'the same id in B is a different resource');
  t.equal((await s.request('GET', `Patient/${id}`)).json().gender, 'female', 'A is untouched');
});

t.test('unknown tenant → 404 OperationOutcome; default tenant exists', async (t) => {
  const s = await startServer(t);
  const res = await s.request('GET', '/fhir/no-such-tenant/Patient/1');
  t.equal(res.statusCode, 404);
  t.equal(res.json().resourceType, 'OperationOutcome');
  t.equal((await s.request('GET', '/fhir/Bad_Slug/metadata')).statusCode, 404);
  t.equal((await s.request('GET', '/fhir/default/metadata')).statusCode, 200);
});

t.test('admin API creates, lists and deletes tenants behind the admin token', async (t) => {
  const s = await startServer(t);
  const auth = { authorization: 'Bearer test-admin-token-0123456789' };
  t.equal((await s.request('GET', '/admin/tenants')).statusCode, 401, 'no token → 401');
  t.equal((await s.request('GET', '/admin/tenants', { headers: { authorization: 'Bearer wrong' } })).statusCode, 401);
  const slug = `adm-${Date.now().toString(36)}`;
  const created = await s.request('POST', '/admin/tenants', { body: { slug }, headers: { ...auth, 'content-type': 'application/json' } });
  t.equal(created.statusCode, 201);
  t.equal(created.json().schema, `t_${slug.replace(/-/g, '_')}`);
  t.equal((await s.request('POST', '/admin/tenants', { body: { slug }, headers: { ...auth, 'content-type': 'application/json' } })).statusCode, 409);
  t.equal((await s.request('POST', '/admin/tenants', { body: { slug: 'Bad Slug' }, headers: { ...auth, 'content-type': 'application/json' } })).statusCode, 400);
  const list = (await s.request('GET', '/admin/tenants', { headers: auth })).json();
  t.ok(list.tenants.some((x: { slug: string }) => x.slug === slug));
  t.equal((await s.request('POST', `/fhir/${slug}/Patient`, { body: { resourceType: 'Patient' } })).statusCode, 201);
  t.equal((await s.request('DELETE', `/admin/tenants/${slug}`, { headers: auth })).statusCode, 400, 'without ?confirm=<slug>');
  t.equal((await s.request('DELETE', `/admin/tenants/${slug}?confirm=other`, { headers: auth })).statusCode, 400, 'with another slug');
  t.equal((await s.request('DELETE', `/admin/tenants/${slug}?confirm=${slug}`, { headers: auth })).statusCode, 204);
  t.equal((await s.request('GET', `/fhir/${slug}/metadata`)).statusCode, 404, 'deleted tenant is gone');
  t.equal((await s.request('DELETE', `/admin/tenants/${slug}?confirm=${slug}`, { headers: auth })).statusCode, 404);
});
