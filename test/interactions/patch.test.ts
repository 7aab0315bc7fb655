import t from 'tap';
import { startServer } from '../helpers/server.js';

t.test('PATCH with JSON Patch and FHIRPath Patch', async (t) => {
  const s = await startServer(t);
  const created = (await s.request('POST', 'Patient', { body: { resourceType: 'Patient', active: false,
    name: [{ family: 'Before' }], text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Before</div>' } } })).json();
  const path = `Patient/${created.id}`;
  const jp = { 'content-type': 'application/json-patch+json' };

  const res = await s.request('PATCH', path, { headers: jp, body: [{ op: 'replace', path: '/active', value: true }] });
  t.equal(res.statusCode, 200);
  t.equal(res.headers.etag, 'W/"2"');
  t.equal(res.json().active, true);
  t.notOk(res.json().text, 'stale narrative dropped');

  const fp = await s.request('PATCH', path, { body: { resourceType: 'Parameters', parameter: [{ name: 'operation', part: [
    { name: 'type', valueCode: 'replace' }, { name: 'path', valueString: 'Patient.name[0].family' }, { name: 'value', valueString: 'After' }] }] } });
  t.equal(fp.statusCode, 200);
  t.equal(fp.json().name[0].family, 'After');

  t.equal((await s.request('PATCH', path, { headers: jp, body: [{ op: 'test', path: '/active', value: false }] })).statusCode, 409,
    'failed test op → 409');
  t.equal((await s.request('PATCH', path, { headers: jp, body: [{ op: 'jump', path: '/active' }] })).statusCode, 400);
  t.equal((await s.request('PATCH', path, { headers: jp, body: [{ op: 'add', path: '/nickname', value: 'x' }] })).statusCode, 422,
    'invalid result → 422');
  t.equal((await s.request('PATCH', path, { headers: jp, body: [{ op: 'replace', path: '/id', value: 'other' }] })).statusCode, 400,
    'changing id → 400');
  t.equal((await s.request('PATCH', path, { headers: { ...jp, 'if-match': 'W/"1"' }, body: [{ op: 'replace', path: '/active', value: false }] })).statusCode, 412);
  t.equal((await s.request('PATCH', path, { headers: { 'content-type': 'application/xml-patch+xml' }, body: '<x/>' })).statusCode, 415);
  t.equal((await s.request('PATCH', 'Patient/missing', { headers: jp, body: [] })).statusCode, 404);
  await s.request('DELETE', path);
  t.equal((await s.request('PATCH', path, { headers: jp, body: [] })).statusCode, 410);
});
