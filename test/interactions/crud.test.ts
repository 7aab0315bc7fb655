import t from 'tap';
import { PUBLIC_ORIGIN, startServer } from '../helpers/server.js';

const patient = { resourceType: 'Patient', name: [{ family: 'Chalmers', given: ['Peter'] }], gender: 'male' };

t.test('create, read, update, delete through HTTP', async (t) => {
  const s = await startServer(t);

  t.test('create → 201 with Location, ETag, Last-Modified and a server id', async (t) => {
    const res = await s.request('POST', 'Patient', { body: { ...patient, id: 'client-chosen', meta: { versionId: '9' } } });
    t.equal(res.statusCode, 201);
    const body = res.json();
    t.match(body.id, /^[0-9a-f-]{36}$/, 'server assigns a UUID');
    t.not(body.id, 'client-chosen', 'client id ignored');
    t.equal(body.meta.versionId, '1');
    t.equal(res.headers.location, `${s.url}/Patient/${body.id}/_history/1`);
    t.equal(res.headers.etag, 'W/"1"');
    t.ok(res.headers['last-modified']);
    t.same(body.name, patient.name, 'content kept');
    t.match(res.headers['content-type'], /^application\/fhir\+json/);
  });

  t.test('read → 200 with ETag and Content-Location; unknown → 404; bad id → 400; unknown type → 404', async (t) => {
    const created = (await s.request('POST', 'Patient', { body: patient })).json();
    const res = await s.request('GET', `Patient/${created.id}`);
    t.equal(res.statusCode, 200);
    t.equal(res.json().id, created.id);
    t.equal(res.headers.etag, 'W/"1"');
    t.equal(res.headers['content-location'], `${s.url}/Patient/${created.id}/_history/1`);
    const missing = await s.request('GET', 'Patient/does-not-exist');
    t.equal(missing.statusCode, 404);
    t.equal(missing.json().issue[0].code, 'not-found');
    t.equal((await s.request('GET', 'Patient/bad_id!')).statusCode, 400);
    const lower = await s.request('GET', 'patient/1');
    t.equal(lower.statusCode, 404);
    t.equal(lower.json().issue[0].code, 'not-supported');
  });

  t.test('update → new version; If-Match mismatch → 412; strong and weak tags both accepted', async (t) => {
    const created = (await s.request('POST', 'Patient', { body: patient })).json();
    const path = `Patient/${created.id}`;
    const v2 = await s.request('PUT', path, { body: { ...created, gender: 'female' } });
    t.equal(v2.statusCode, 200);
    t.equal(v2.headers.etag, 'W/"2"');
    t.equal(v2.json().meta.versionId, '2');
    const stale = await s.request('PUT', path, { body: created, headers: { 'if-match': 'W/"1"' } });
    t.equal(stale.statusCode, 412);
    t.equal(stale.json().resourceType, 'OperationOutcome');
    const strong = await s.request('PUT', path, { body: created, headers: { 'if-match': '"2"' } });
    t.equal(strong.statusCode, 200);
    t.equal(strong.headers.etag, 'W/"3"');
    t.equal((await s.request('PUT', path, { body: created, headers: { 'if-match': 'garbage' } })).statusCode, 400);
  });

  t.test('update needs a matching id in the body', async (t) => {
    const created = (await s.request('POST', 'Patient', { body: patient })).json();
    t.equal((await s.request('PUT', `Patient/${created.id}`, { body: patient })).statusCode, 400);
    const mismatch = await s.request('PUT', `Patient/${created.id}`, { body: { ...patient, id: 'other' } });
    t.equal(mismatch.statusCode, 400);
    t.equal(mismatch.json().issue[0].code, 'invalid');
  });

  t.test('update-as-create → 201 at version 1; If-None-Match: * guards it', async (t) => {
    const res = await s.request('PUT', 'Patient/chosen-id', { body: { ...patient, id: 'chosen-id' } });
    t.equal(res.statusCode, 201);
    t.equal(res.headers.location, `${s.url}/Patient/chosen-id/_history/1`);
    const again = await s.request('PUT', 'Patient/chosen-id', { body: { ...patient, id: 'chosen-id' }, headers: { 'if-none-match': '*' } });
    t.equal(again.statusCode, 412);
  });

  t.test('delete → 204; read → 410; vread of old version → 200; delete again → 204; PUT revives → 201', async (t) => {
    const created = (await s.request('POST', 'Patient', { body: patient })).json();
    const path = `Patient/${created.id}`;
    t.equal((await s.request('DELETE', path)).statusCode, 204);
    const gone = await s.request('GET', path);
    t.equal(gone.statusCode, 410);
    t.equal(gone.json().issue[0].code, 'deleted');
    t.equal((await s.request('GET', `${path}/_history/1`)).statusCode, 200);
    t.equal((await s.request('GET', `${path}/_history/2`)).statusCode, 410);
    t.equal((await s.request('GET', `${path}/_history/3`)).statusCode, 404);
    t.equal((await s.request('DELETE', path)).statusCode, 204);
    t.equal((await s.request('DELETE', 'Patient/never-existed')).statusCode, 204);
    const revived = await s.request('PUT', path, { body: created });
    t.equal(revived.statusCode, 201);
    t.equal(revived.json().meta.versionId, '3');
  });

  t.test('delete with a body → 400', async (t) => {
    const res = await s.request('DELETE', 'Patient/x', { body: patient });
    t.equal(res.statusCode, 400);
  });

  t.test('conditional read: If-None-Match and If-Modified-Since → 304', async (t) => {
    const created = (await s.request('POST', 'Patient', { body: patient })).json();
    const path = `Patient/${created.id}`;
    const same = await s.request('GET', path, { headers: { 'if-none-match': 'W/"1"' } });
    t.equal(same.statusCode, 304);
    t.equal(same.body, '');
    t.equal((await s.request('GET', path, { headers: { 'if-none-match': 'W/"0"' } })).statusCode, 200);
    const future = new Date(Date.now() + 60000).toUTCString();
    t.equal((await s.request('GET', path, { headers: { 'if-modified-since': future } })).statusCode, 304);
    const past = new Date(Date.now() - 3600000).toUTCString();
    t.equal((await s.request('GET', path, { headers: { 'if-modified-since': past } })).statusCode, 200);
  });

  t.test('Prefer: return=minimal | OperationOutcome | representation', async (t) => {
    const minimal = await s.request('POST', 'Patient', { body: patient, headers: { prefer: 'return=minimal' } });
    t.equal(minimal.statusCode, 201);
    t.equal(minimal.body, '');
    t.ok(minimal.headers.location);
    const oo = await s.request('POST', 'Patient', { body: patient, headers: { prefer: 'return=OperationOutcome' } });
    t.equal(oo.json().resourceType, 'OperationOutcome');
    t.equal(oo.json().issue[0].severity, 'information');
    const rep = await s.request('POST', 'Patient', { body: patient, headers: { prefer: 'return=representation' } });
    t.equal(rep.json().resourceType, 'Patient');
  });

  t.test('absolute URLs use HEARTH_BASE_URL', async (t) => {
    const res = await s.request('POST', 'Patient', { body: patient });
    t.ok(String(res.headers.location).startsWith(`${PUBLIC_ORIGIN}/fhir/${s.slug}/Patient/`));
  });
});
