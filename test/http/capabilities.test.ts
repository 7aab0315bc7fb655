import t from 'tap';
import { startServer } from '../helpers/server.js';

t.test('CapabilityStatement is derived, JSON-only, and advertises only what works', async (t) => {
  const s = await startServer(t);
  const res = await s.request('GET', 'metadata');
  t.equal(res.statusCode, 200);
  t.ok(res.headers.etag);
  const cs = res.json();
  t.equal(cs.resourceType, 'CapabilityStatement');
  t.equal(cs.status, 'active');
  t.equal(cs.kind, 'instance');
  t.equal(cs.fhirVersion, '4.0.1');
  t.equal(cs.implementation.url, s.url);
  t.same(cs.format, ['application/fhir+json', 'json']);
  t.match(cs.name, /^[A-Z][A-Za-z0-9_]{0,254}$/);
  const rest = cs.rest[0];
  t.equal(rest.mode, 'server');
  t.equal(rest.resource.length, s.deps.defs.resourceTypes.size, 'one entry per R4 resource type');
  t.ok(rest.interaction.some((i: { code: string }) => i.code === 'transaction'));
  const patient = rest.resource.find((r: { type: string }) => r.type === 'Patient');
  const codes = patient.interaction.map((i: { code: string }) => i.code);
  t.same(codes, ['read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'history-type', 'create', 'search-type']);
  t.equal(patient.updateCreate, true);

  // Every advertised interaction answers something other than 405.
  const created = (await s.request('POST', 'Patient', { body: { resourceType: 'Patient' } })).json();
  const probes: Record<string, [string, string, unknown?]> = {
    read: ['GET', `Patient/${created.id}`], vread: ['GET', `Patient/${created.id}/_history/1`],
    update: ['PUT', `Patient/${created.id}`, created], delete: ['DELETE', 'Patient/x'],
    'history-instance': ['GET', `Patient/${created.id}/_history`], 'history-type': ['GET', 'Patient/_history'],
    create: ['POST', 'Patient', { resourceType: 'Patient' }], 'search-type': ['GET', 'Patient?gender=male'],
  };
  for (const code of codes.filter((c: string) => c !== 'patch')) {
    const [method, path, body] = probes[code]!;
    const r = await s.request(method, path, body ? { body } : {});
    t.not(r.statusCode, 405, `${code} is served`);
  }
  t.equal((await s.request('GET', 'metadata?mode=terminology')).statusCode, 404);

  const off = await startServer(t, { HEARTH_UPDATE_CREATE: 'false' });
  const offPatient = (await off.request('GET', 'metadata')).json().rest[0].resource.find((r: { type: string }) => r.type === 'Patient');
  t.equal(offPatient.updateCreate, false);
  t.equal((await off.request('PUT', 'Patient/new-one', { body: { resourceType: 'Patient', id: 'new-one' } })).statusCode, 405);
});
