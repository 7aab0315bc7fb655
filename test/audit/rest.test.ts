/**
 * Every REST interaction leaves a BALP-shaped AuditEvent (issue #6 §1–§4, audit-event.md §3 and §9): reads, searches,
 * writes (in the write's own transaction), failures (401/403/404), batch and transaction entries; AuditEvent itself is
 * append-only over the API and needs its own scope to read.
 */
import t from 'tap';
import { schemaFor } from '../../src/storage/tenants.js';
import { ident, sql } from '../../src/db/sql.js';
import { sealedAuditColumns } from '../../src/db/vault.js';
import { startServer } from '../helpers/server.js';
import { agents } from '../../src/audit/event.js';

const s = await startServer(t);
const schema = schemaFor(s.slug);
const DCM = 'http://dicom.nema.org/resources/ontology/DCM';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const auditor = await s.token('system/AuditEvent.rs');
const asAuditor = { headers: { authorization: `Bearer ${auditor}` } };

/** Events recorded after `since` (a seq), oldest first. */
async function eventsAfter(since: number): Promise<Json[]> {
  const rows = await s.deps.db.query<{ content: Json }>(sql`SELECT ${sealedAuditColumns(schema)} FROM ${ident(schema)}.audit_event e
    WHERE seq > ${since} ORDER BY seq`);
  return rows.map((r) => r.content);
}
async function lastSeq(): Promise<number> {
  const [r] = await s.deps.db.query<{ n: number | null }>(sql`SELECT max(seq) AS n FROM ${ident(schema)}.audit_event`);
  return Number(r?.n ?? 0);
}
const subtype = (e: Json): string[] => (e.subtype ?? []).map((c: Json) => c.code);
const entity = (e: Json, role: string) => e.entity.find((x: Json) => x.role?.code === role);
const agentType = (e: Json, i: number) => e.agent[i].type.coding[0].code;

async function put(resource: Json) {
  const res = await s.request('PUT', `${resource.resourceType}/${resource.id}`, { body: resource });
  if (res.statusCode >= 300) throw new Error(res.body);
}
await put({ resourceType: 'Patient', id: 'p1', name: [{ family: 'One' }] });
await put({ resourceType: 'Patient', id: 'p2', name: [{ family: 'Two' }] });
const CODE = { coding: [{ system: 'http://loinc.org', code: '8867-4' }] };
await put({ resourceType: 'Observation', id: 'o1', status: 'final', code: CODE, subject: { reference: 'Patient/p1' } });
await put({ resourceType: 'Observation', id: 'o2', status: 'final', code: CODE, subject: { reference: 'Patient/p2' } });

t.test('read of a patient-linked Observation → one PatientRead event', async (t) => {
  const since = await lastSeq();
  const res = await s.request('GET', 'Observation/o1', { headers: { 'x-request-id': 'req-read-1' } });
  t.equal(res.statusCode, 200);
  const events = await eventsAfter(since);
  t.equal(events.length, 1);
  const e = events[0];
  t.equal(e.resourceType, 'AuditEvent');
  t.same(e.type, { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest', display: 'Restful Operation' });
  t.same(subtype(e), ['read']);
  t.equal(e.action, 'R');
  t.equal(e.outcome, '0');
  t.match(e.meta.profile, ['https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.PatientRead']);
  t.match(e.recorded, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  // client (Destination: data flows to it) and server (Source) agents; a system token has no user agent
  t.equal(e.agent.length, 2);
  t.equal(agentType(e, 0), '110152');
  t.equal(e.agent[0].who.identifier.value, 'hearth-admin');
  t.equal(e.agent[0].network.type, '2');
  t.match(e.agent[0].policy[0], /^urn:ietf:params:oauth:jti:[0-9a-f-]{36}$/);
  t.equal(agentType(e, 1), '110153');
  t.equal(e.agent[1].who.identifier.value, s.url);
  t.same(e.source.type[0].code, '3');
  t.equal(entity(e, '4').what.reference, 'Observation/o1/_history/1');
  t.equal(entity(e, '4').type.code, '2');
  t.equal(entity(e, '1').what.reference, 'Patient/p1');
  t.equal(entity(e, '1').type.code, '1');
  const txEntity = e.entity.find((x: Json) => x.type?.code === 'XrequestId');
  t.equal(txEntity.what.identifier.value, 'req-read-1');
  t.notOk(JSON.stringify(e).includes('8867-4'), 'no clinical content copied into the audit record');
});

t.test('a user adds the user agent (fhirUser, requestor, IRCP / AUT) and the client is then not the requestor', async (t) => {
  const request = { requestId: 'r', address: '10.0.0.1', method: 'GET', url: 'http://x/fhir/a/Patient/1' };
  const actor = { clientId: 'app', subject: 'u1', fhirUser: 'Practitioner/doc', jti: 'j1' };
  const [user, client, server] = agents('Read', actor, request, 'http://x/fhir/a');
  t.same(user!.who, { reference: 'Practitioner/doc' });
  t.equal(user!.requestor, true);
  t.same((user!.type as Json).coding.map((c: Json) => c.code), ['IRCP', 'UserOauthAgent']);
  t.same(user!.policy, ['urn:ietf:params:oauth:jti:j1']);
  t.equal(client!.requestor, false);
  t.equal((server!.type as Json).coding[0].code, '110153');
  t.equal((agents('Update', actor, request, 'http://x/fhir/a')[0]!.type as Json).coding[0].code, 'AUT');
  const backend = agents('Read', { clientId: 'svc', subject: 'svc', jti: 'j2' }, request, 'http://x/fhir/a');
  t.equal(backend.length, 2, 'a backend service acts as its client');
  t.equal(backend[0]!.requestor, true);
});

t.test('search → Query event with the raw request, one event per patient in the results', async (t) => {
  const since = await lastSeq();
  const path = `${s.base}/Observation?code=http://loinc.org|8867-4&_count=10`;
  const res = await s.request('GET', path);
  t.equal(res.statusCode, 200);
  t.equal(res.json().entry.length, 2);
  const events = await eventsAfter(since);
  t.equal(events.length, 2, 'one per patient (p1, p2)');
  const patients = events.map((e) => entity(e, '1').what.reference).sort();
  t.same(patients, ['Patient/p1', 'Patient/p2']);
  for (const e of events) {
    t.equal(e.action, 'E');
    t.same(subtype(e), ['search-type']);
    const q = entity(e, '24');
    t.equal(Buffer.from(q.query, 'base64').toString(), `http://hearth.test${path}`);
    t.notOk(q.name, 'sev-1: query, not name');
    t.notOk(JSON.stringify(e).includes('_history/1'), 'results are not recorded');
  }
});

t.test('POST _search records the form body with the URL', async (t) => {
  const since = await lastSeq();
  const res = await s.request('POST', 'Observation/_search', { body: 'subject=Patient/p1',
    headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  t.equal(res.statusCode, 200);
  const [e] = await eventsAfter(since);
  t.equal(Buffer.from(entity(e, '24').query, 'base64').toString(), `${s.url}/Observation/_search\nsubject=Patient%2Fp1`);
});

t.test('failures are audited: 404 and 403 with outcome 4 and the OperationOutcome; 401 too', async (t) => {
  let since = await lastSeq();
  t.equal((await s.request('GET', 'Observation/nope')).statusCode, 404);
  let [e] = await eventsAfter(since);
  t.equal(e.outcome, '4');
  t.match(e.outcomeDesc, /^HTTP 404/);
  t.equal(e.contained[0].resourceType, 'OperationOutcome');
  t.ok(e.entity.some((x: Json) => x.what?.reference === '#outcome'));
  t.equal(entity(e, '4').what.reference, 'Observation/nope');

  const narrow = await s.token('system/Patient.rs');
  since = await lastSeq();
  t.equal((await s.request('GET', 'Observation/o1', { headers: { authorization: `Bearer ${narrow}` } })).statusCode, 403);
  [e] = await eventsAfter(since);
  t.equal(e.outcome, '4');
  t.match(e.outcomeDesc, /^HTTP 403/);

  since = await lastSeq();
  t.equal((await s.request('GET', 'Patient/p1', { auth: false })).statusCode, 401);
  [e] = await eventsAfter(since);
  t.equal(e.outcome, '4');
  t.match(e.outcomeDesc, /^HTTP 401/);
  t.same(subtype(e), ['read']);
  t.equal(entity(e, '1').what.reference, 'Patient/p1');
  t.equal(e.agent[0].who, undefined, 'no client is known without a token');
});

t.test('create, update, patch and delete → C, U, U, D with versioned references', async (t) => {
  const since = await lastSeq();
  const created = await s.request('POST', 'Observation', { body: { resourceType: 'Observation', status: 'final', code: CODE,
    subject: { reference: 'Patient/p2' } } });
  t.equal(created.statusCode, 201);
  const id = created.json().id;
  t.equal((await s.request('PUT', `Observation/${id}`, { body: { ...(created.json() as object), status: 'amended' } })).statusCode, 200);
  t.equal((await s.request('PATCH', `Observation/${id}`, { body: [{ op: 'replace', path: '/status', value: 'final' }],
    headers: { 'content-type': 'application/json-patch+json' } })).statusCode, 200);
  t.equal((await s.request('DELETE', `Observation/${id}`)).statusCode, 204);
  const events = await eventsAfter(since);
  t.same(events.map((e) => e.action), ['C', 'U', 'U', 'D']);
  t.same(events.map((e) => subtype(e)[0]), ['create', 'update', 'patch', 'delete']);
  t.same(events.map((e) => entity(e, '4').what.reference), [1, 2, 3, 4].map((v) => `Observation/${id}/_history/${v}`));
  for (const e of events) t.equal(entity(e, '1').what.reference, 'Patient/p2', 'deletes too carry the patient');
  t.equal(agentType(events[0], 0), '110153', 'Create: client is the source');
  t.equal(agentType(events[3], 0), '110150', 'Delete: client is the application');
  t.equal(agentType(events[3], 1), 'custodian');
});

t.test('a refused write leaves no create event, only its failure', async (t) => {
  const token = await s.token('patient/Observation.cruds', { context: { patient: 'p1' } });
  const since = await lastSeq();
  const res = await s.request('POST', 'Observation', { headers: { authorization: `Bearer ${token}` },
    body: { resourceType: 'Observation', status: 'final', code: CODE, subject: { reference: 'Patient/p2' } } });
  t.equal(res.statusCode, 403);
  const events = await eventsAfter(since);
  t.equal(events.length, 1);
  t.equal(events[0].outcome, '4');
  t.equal(entity(events[0], '4'), undefined, 'no data entity: nothing was written');
});

t.test('transaction: one event per entry committed with it, and one for the transaction', async (t) => {
  const since = await lastSeq();
  const bundle = { resourceType: 'Bundle', type: 'transaction', entry: [
    { fullUrl: 'urn:uuid:0b6c5b2e-3a64-4a45-9f5e-4d1c8e2a7b10', request: { method: 'POST', url: 'Observation' },
      resource: { resourceType: 'Observation', status: 'final', code: CODE, subject: { reference: 'Patient/p1' } } },
    { request: { method: 'GET', url: 'Patient/p1' } },
  ] };
  t.equal((await s.request('POST', '', { body: bundle })).statusCode, 200);
  const events = await eventsAfter(since);
  t.same(events.map((e) => subtype(e)[0]).sort(), ['create', 'read', 'transaction']);

  const before = await lastSeq();
  const failing = { ...bundle, entry: [bundle.entry[0], { request: { method: 'GET', url: 'Patient/missing' } }] };
  t.equal((await s.request('POST', '', { body: failing })).statusCode, 404);
  const after = await eventsAfter(before);
  t.equal(after.length, 1, 'the rolled-back entries leave nothing; the transaction records the failure');
  t.same(subtype(after[0]), ['transaction']);
  t.equal(after[0].outcome, '4');
});

t.test('batch: each entry has its own event with its own URL', async (t) => {
  const since = await lastSeq();
  const bundle = { resourceType: 'Bundle', type: 'batch', entry: [
    { request: { method: 'GET', url: 'Observation?subject=Patient/p2' } },
    { request: { method: 'GET', url: 'Patient/missing' } },
  ] };
  t.equal((await s.request('POST', '', { body: bundle })).statusCode, 200);
  const events = await eventsAfter(since);
  t.same(events.map((e) => `${subtype(e)[0]}:${e.outcome}`).sort(), ['batch:0', 'read:4', 'search-type:0']);
  const search = events.find((e) => subtype(e)[0] === 'search-type');
  t.equal(Buffer.from(entity(search, '24').query, 'base64').toString(), `${s.url}/Observation?subject=Patient%2Fp2`);
});

t.test('AuditEvent over the API: append-only, its own scope, client-reported creates', async (t) => {
  const [anyEvent] = await eventsAfter(0);
  for (const [method, body] of [['PUT', anyEvent], ['DELETE', undefined], ['PATCH', [{ op: 'remove', path: '/outcome' }]]] as const) {
    const res = await s.request(method, `AuditEvent/${anyEvent.id}`, { ...asAuditor, ...(body ? { body } : {}),
      ...(method === 'PATCH' ? { headers: { ...asAuditor.headers, 'content-type': 'application/json-patch+json' } } : {}) });
    t.equal(res.statusCode, 405, `${method} → 405`);
  }
  t.equal((await s.request('GET', 'AuditEvent')).statusCode, 403, 'system/*.cruds does not reach the audit trail');
  t.equal((await s.request('GET', `AuditEvent/${anyEvent.id}`)).statusCode, 403);
  const read = await s.request('GET', `AuditEvent/${anyEvent.id}`, asAuditor);
  t.equal(read.statusCode, 200);
  t.same(read.json(), anyEvent);

  const since = await lastSeq();
  t.equal((await s.request('GET', 'AuditEvent?action=R', asAuditor)).statusCode, 200);
  const [readOfAudit] = await eventsAfter(since);
  t.same(subtype(readOfAudit), ['search-type'], 'reading the audit trail is audited');

  const report = { resourceType: 'AuditEvent', type: { system: DCM, code: '110100' }, recorded: '2026-01-01T00:00:00Z',
    agent: [{ who: { reference: 'Device/app' }, requestor: true }], source: { observer: { display: 'an app' } },
    entity: [{ what: { reference: 'Patient/p1' } }] };
  t.equal((await s.request('POST', 'AuditEvent', { body: report })).statusCode, 403, 'creating needs the dedicated scope');
  const reporter = await s.token('system/AuditEvent.client-reported');
  const created = await s.request('POST', 'AuditEvent', { body: report, headers: { authorization: `Bearer ${reporter}` } });
  t.equal(created.statusCode, 201, created.body);
  const stored = created.json();
  t.ok(stored.meta.tag.some((c: Json) => c.code === 'client-reported'));
  t.equal(stored.extension[0].valueInstant, '2026-01-01T00:00:00Z', "the client's own time is kept");
  const [row] = await s.deps.db.query<{ client_reported: boolean }>(sql`SELECT client_reported FROM ${ident(schema)}.audit_event
    WHERE id = ${stored.id}::uuid`);
  t.equal(row?.client_reported, true);
  const found = await s.request('GET', `AuditEvent?patient=p1&type=${DCM}|110100`, asAuditor);
  t.same(found.json().entry.map((e: Json) => e.resource.id), [stored.id]);
  t.equal((await s.request('POST', 'AuditEvent', { body: { resourceType: 'AuditEvent' },
    headers: { authorization: `Bearer ${reporter}` } })).statusCode, 400, 'an invalid AuditEvent is refused');
});

t.test('a patient-bound token reads only its own audit trail', async (t) => {
  const token = await s.token('patient/AuditEvent.rs', { context: { patient: 'p1' } });
  const res = await s.request('GET', 'AuditEvent?_count=1000', { headers: { authorization: `Bearer ${token}` } });
  t.equal(res.statusCode, 200);
  const entries = res.json().entry;
  t.ok(entries.length > 0);
  for (const e of entries) {
    const refs = [...e.resource.entity.map((x: Json) => x.what?.reference), ...e.resource.agent.map((a: Json) => a.who?.reference)];
    t.ok(refs.includes('Patient/p1'), `${e.resource.id} concerns Patient/p1`);
  }
  const other = (await eventsAfter(0)).find((e) => entity(e, '1')?.what.reference === 'Patient/p2');
  t.equal((await s.request('GET', `AuditEvent/${other.id}`, { headers: { authorization: `Bearer ${token}` } })).statusCode, 404);
});

t.test('auditor search parameters', async (t) => {
  const q = async (query: string) => {
    const res = await s.request('GET', `AuditEvent?${query}`, asAuditor);
    t.equal(res.statusCode, 200, `${query}: ${res.body.slice(0, 200)}`);
    return res.json().entry?.map((e: Json) => e.resource) ?? [];
  };
  const all = await eventsAfter(0);
  const known = new Set(all.map((e) => e.id));
  const count = (pred: (e: Json) => boolean) => all.filter(pred).length;
  // searching is audited too: compare only the events that existed before these searches
  const q0 = q;
  const qKnown = async (query: string) => (await q0(query)).filter((e: Json) => known.has(e.id));
  t.equal((await qKnown('action=C&_count=1000')).length, count((e) => e.action === 'C'));
  t.equal((await qKnown('subtype=delete&_count=1000')).length, count((e) => subtype(e).includes('delete')));
  t.equal((await qKnown('subtype=http://hl7.org/fhir/restful-interaction|read&_count=1000')).length, count((e) => subtype(e).includes('read')));
  t.equal((await qKnown('outcome=4&_count=1000')).length, count((e) => e.outcome === '4'));
  t.equal((await qKnown('type=rest&_count=1000')).length, count((e) => e.type.code === 'rest'));
  t.equal((await qKnown('entity=Observation/o1&_count=1000')).length,
    count((e) => e.entity.some((x: Json) => /^Observation\/o1(\/|$)/.test(x.what?.reference ?? ''))));
  t.equal((await qKnown('entity-type=1&_count=1000')).length, count((e) => e.entity.some((x: Json) => x.type?.code === '1')));
  t.equal((await qKnown('entity-role=http://terminology.hl7.org/CodeSystem/object-role|&_count=1000')).length,
    count((e) => e.entity.some((x: Json) => x.role?.system === 'http://terminology.hl7.org/CodeSystem/object-role')), 'token system|');
  t.equal((await qKnown('type=http://terminology.hl7.org/CodeSystem/audit-event-type|rest,|rest&_count=1000')).length,
    count((e) => e.type.code === 'rest'), 'token system|code, alternatives');
  t.equal((await qKnown('agent:identifier=hearth-admin&_count=1000')).length,
    count((e) => e.agent.some((a: Json) => a.who?.identifier?.value === 'hearth-admin')), 'identifier value alone');
  t.equal((await qKnown('patient=Patient/p2&_count=1000')).length, count((e) => e.entity.some((x: Json) => x.what?.reference === 'Patient/p2')));
  t.equal((await qKnown('agent:identifier=http://hearth.dev/fhir/sid/client-id|hearth-admin&_count=1000')).length,
    count((e) => e.agent.some((a: Json) => a.who?.identifier?.value === 'hearth-admin')));
  t.equal((await qKnown('address=127.0&_count=1000')).length,
    count((e) => e.agent.some((a: Json) => a.network?.address?.startsWith('127.0'))), 'address: starts-with');
  t.equal((await qKnown(`source=${encodeURIComponent(s.url)}&_count=1000`)).length,
    count((e) => e.source.observer.identifier?.value === s.url));
  t.equal((await qKnown('date=gt2000-01-01&date=lt2999&_count=1000')).length, all.length, 'date ranges');
  t.equal((await q('date=lt2000-01-01')).length, 0);

  const newest = await q('_sort=-date&_count=3');
  const dates = newest.map((e: Json) => e.recorded);
  t.same(dates, [...dates].sort().reverse(), '_sort=-date is newest first');
  const oldest = await q('_sort=date&_count=1');
  t.equal(oldest[0].id, all[0].id);

  // paging: next links walk every event exactly once
  const seen = new Set<string>();
  let next: string | undefined = `${s.base}/AuditEvent?_count=7`;
  while (next) {
    const page = await s.request('GET', next.replace('http://hearth.test', ''), asAuditor);
    t.equal(page.statusCode, 200);
    for (const e of page.json().entry ?? []) seen.add(e.resource.id);
    next = page.json().link.find((l: Json) => l.relation === 'next')?.url;
  }
  t.ok(seen.size >= all.length, 'every event reached through next links');

  t.equal((await s.request('GET', 'AuditEvent?_sort=outcome', asAuditor)).statusCode, 400);
  t.equal((await s.request('GET', 'AuditEvent?date=yesterday', asAuditor)).statusCode, 400);
  t.equal((await s.request('GET', 'AuditEvent?bogus=1', { headers: { ...asAuditor.headers, prefer: 'handling=strict' } })).statusCode, 400);
  t.equal((await s.request('GET', "AuditEvent?patient=Patient/p1'--", asAuditor)).statusCode, 400, 'injection attempt is a 400');
});

t.test('the CapabilityStatement describes AuditEvent as it is served', async (t) => {
  const cs = (await s.request('GET', 'metadata', { auth: false })).json();
  const entry = cs.rest[0].resource.find((r: Json) => r.type === 'AuditEvent');
  t.same(entry.interaction.map((i: Json) => i.code).sort(), ['create', 'read', 'search-type', 'vread']);
  t.equal(entry.conditionalDelete, 'not-supported');
  const names = entry.searchParam.map((p: Json) => p.name);
  for (const name of ['date', 'patient', 'agent', 'entity', 'entity-type', 'action', 'type', 'subtype', 'outcome', 'source', 'address']) {
    t.ok(names.includes(name), `searchParam ${name}`);
  }
  t.notOk(names.includes('agent-name'), 'only what the audit search implements');
  t.same(entry.operation.map((o: Json) => o.name), ['verify-chain']);
  t.equal((await s.request('POST', 'AuditEvent/$reindex', asAuditor)).statusCode, 404);
});

t.test('Patient/[id]/AuditEvent is that patient\'s audit trail', async (t) => {
  const res = await s.request('GET', 'Patient/p2/AuditEvent?_count=1000', asAuditor);
  t.equal(res.statusCode, 200);
  const entries = res.json().entry;
  t.ok(entries.length > 0);
  for (const e of entries) t.ok(e.resource.entity.some((x: Json) => x.what?.reference === 'Patient/p2'));
  t.match(res.json().link[0].url, /\/Patient\/p2\/AuditEvent/);
  t.equal((await s.request('GET', 'Patient/p2/AuditEvent')).statusCode, 403, 'needs the audit scope');
});
