/**
 * Deferred writes (db/deferred.ts, storage/deferred-writes.ts, audit/store.ts) and group commit (db/group-commit.ts):
 * inside a transaction, creates, new versions, index rows and AuditEvents are held back and sent as one statement at
 * the transaction's next read or its commit. These tests hold the observable contract on the real database (PGlite,
 * or PostgreSQL under DATABASE_URL): reads see the transaction's own writes, index rows carry the right rid, nothing
 * survives a rollback, concurrent creates all land, and one failing member of a group commit fails alone.
 */
import crypto from 'node:crypto';
import t from 'tap';
import { auditEvent, dataEntity, dcm } from '../../src/audit/event.js';
import type { Queryable } from '../../src/db/db.js';
import { DeferringTx, deferring } from '../../src/db/deferred.js';
import { ident, sql } from '../../src/db/sql.js';
import type { Resource } from '../../src/fhir/types.js';
import { INDEX_TABLES } from '../../src/search/extract-types.js';
import { readCurrent, readVersion } from '../../src/storage/resources.js';
import { findTenant, schemaFor } from '../../src/storage/tenants.js';
import { type WriteGuard, writeResource } from '../../src/storage/write.js';
import { sealEverything } from '../helpers/audit.js';
import { type TestServer, startServer, usingPostgres } from '../helpers/server.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const s = await startServer(t);
const schema = schemaFor(s.slug);
const S = ident(schema);
/**
 * The tenant's search registry is (re)loaded by a read inside the write transaction when its cache entry is missing or
 * older than 5 s (storage/search-parameters.ts); loaded just before, a create makes no read of its own.
 */
const warm = async (sch = schema) => { await s.deps.tenantSearch.registryFor(s.deps.db, sch); };

const system = (name: string) => `http://hearth.test/deferred/${name}`;
const patient = (sys: string, value: string, extra: Record<string, unknown> = {}): Resource =>
  ({ resourceType: 'Patient', identifier: [{ system: sys, value }], ...extra });
const idOf = (location: string) => location.split('/').at(-3)!;

/** An AuditEvent naming `ref` (as the audit write guard records a change), identifiable by its own id. */
function eventFor(ref: string): Resource {
  return auditEvent({ type: dcm('110100', 'Application Activity'), subtype: [], action: 'C', pattern: 'Create',
    actor: { clientId: 'deferred-test' }, request: { requestId: crypto.randomUUID(), address: '127.0.0.1', method: 'POST',
      url: s.url }, base: s.url, outcome: { status: 201 }, entities: [dataEntity(ref)], recorded: new Date() });
}

/** A write guard that records each change's AuditEvent in the change's transaction (as writeGuard does for HTTP). */
const auditing = (events: Resource[] = []): WriteGuard => ({
  after: async (tx, change) => {
    const event = eventFor(`${change.type}/${change.id}/_history/${change.version}`);
    events.push(event);
    await s.deps.audit.insert(tx, schema, [event]);
  },
});

async function count(q: Queryable, statement: ReturnType<typeof sql>): Promise<number> {
  const [row] = await q.query<{ n: number }>(statement);
  return Number(row!.n);
}

const resourceRows = (q: Queryable, type: string, ids: string[]) =>
  count(q, sql`SELECT count(*)::int AS n FROM ${S}.resource WHERE type = ${type} AND id = ANY(${ids}::text[])`);
const versionRows = (q: Queryable, type: string, ids: string[]) =>
  count(q, sql`SELECT count(*)::int AS n FROM ${S}.resource_version WHERE type = ${type} AND id = ANY(${ids}::text[])`);
const auditRows = (q: Queryable, events: Resource[]) =>
  count(q, sql`SELECT count(*)::int AS n FROM ${S}.audit_event WHERE id = ANY(${events.map((e) => e.id!)}::uuid[])`);
/** Identifier index rows of a system, by the id of the resource row their rid points at. */
async function identifierRows(q: Queryable, type: string, sys: string): Promise<{ id: string; code: string }[]> {
  return q.query<{ id: string; code: string }>(sql`SELECT r.id, t.code FROM ${S}.idx_token t
    JOIN ${S}.resource r ON r.rid = t.rid AND r.type = t.type
    WHERE t.type = ${type} AND t.param = 'identifier' AND t.system = ${sys} ORDER BY t.code`);
}
/** Index rows of every idx_* table pointing at the resource (type, id). */
async function indexRowsOf(q: Queryable, type: string, id: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const table of INDEX_TABLES) {
    out[table] = await count(q, sql`SELECT count(*)::int AS n FROM ${S}.${ident(`idx_${table}`)} x
      JOIN ${S}.resource r ON r.rid = x.rid WHERE r.type = ${type} AND r.id = ${id}`);
  }
  return out;
}
/** The params of one idx_* table's rows pointing at (type, id). */
async function paramsOf(q: Queryable, table: string, type: string, id: string): Promise<string[]> {
  return (await q.query<{ param: string }>(sql`SELECT DISTINCT x.param FROM ${S}.${ident(`idx_${table}`)} x
    JOIN ${S}.resource r ON r.rid = x.rid WHERE r.type = ${type} AND r.id = ${id} ORDER BY x.param`)).map((r) => r.param);
}
const total = (rows: Record<string, number>) => Object.values(rows).reduce((a, b) => a + b, 0);

/** PostgreSQL only: how many transactions wrote the Patient rows of ids (xmin; PGlite runs each alone anyway). */
const transactionsOf = (ids: string[]) => count(s.deps.db, sql`SELECT count(DISTINCT xmin::text)::int AS n FROM ${S}.resource
  WHERE type = 'Patient' AND id = ANY(${ids}::text[])`);

async function searchIds(server: TestServer, query: string): Promise<string[]> {
  const res = await server.request('GET', query);
  if (res.statusCode !== 200) throw new Error(`${query}: ${res.statusCode} ${res.body}`);
  return (res.json().entry ?? []).filter((e: Json) => e.search?.mode !== 'include').map((e: Json) => e.resource.id as string).sort();
}

/** Counts the statements a DeferringTx sends, over a real transaction (not a mock: every statement reaches the database). */
function countingTx(inner: Queryable): { tx: DeferringTx; sent: () => number } {
  let n = 0;
  const counting: Queryable = {
    query: (q) => { n++; return inner.query(q); },
    exec: (script) => { n++; return inner.exec(script); },
  };
  return { tx: new DeferringTx(async () => counting), sent: () => n };
}

t.test('transaction Bundle: GET entries see the Bundle\'s own creates; index rows carry the created rows\' rid', async (t) => {
  const sys = system('bundle');
  const pat = 'urn:uuid:6d1c7a3e-0b7e-4c55-9a55-6f1f0c1d0001';
  const obs1 = 'urn:uuid:6d1c7a3e-0b7e-4c55-9a55-6f1f0c1d0002';
  const obs2 = 'urn:uuid:6d1c7a3e-0b7e-4c55-9a55-6f1f0c1d0003';
  const observation = (value: string) => ({ resourceType: 'Observation', status: 'final', code: { text: 'deferred' },
    identifier: [{ system: sys, value }], subject: { reference: pat } });
  const res = await s.request('POST', '', { body: { resourceType: 'Bundle', type: 'transaction', entry: [
    // GET entries first in the Bundle: FHIR runs them after every write (DELETE, POST, PUT/PATCH, then GET).
    { request: { method: 'GET', url: `Patient?identifier=${encodeURIComponent(`${sys}|p1`)}` } },
    { request: { method: 'GET', url: `Observation?patient.identifier=${encodeURIComponent(`${sys}|p1`)}` } },
    { fullUrl: obs1, resource: observation('o1'), request: { method: 'POST', url: 'Observation' } },
    { fullUrl: pat, resource: patient(sys, 'p1', { name: [{ family: 'Deferred' }] }), request: { method: 'POST', url: 'Patient' } },
    { fullUrl: obs2, resource: observation('o2'), request: { method: 'POST', url: 'Observation' } },
    { request: { method: 'GET', url: `Observation?identifier=${encodeURIComponent(`${sys}|`)}&_sort=identifier` } },
  ] } });
  t.equal(res.statusCode, 200, res.body);
  const out = res.json();
  t.same(out.entry.map((e: Json) => e.response.status), ['200 OK', '200 OK', '201 Created', '201 Created', '201 Created', '200 OK']);
  const patId = idOf(out.entry[3].response.location);
  const obsIds = [idOf(out.entry[2].response.location), idOf(out.entry[4].response.location)].sort();

  const byIdentifier = out.entry[0].resource;
  t.equal(byIdentifier.resourceType, 'Bundle');
  t.same(byIdentifier.entry?.map((e: Json) => e.resource.id), [patId], 'the search by identifier sees the Patient created in the Bundle');
  const chained = out.entry[1].resource;
  t.same(chained.entry?.map((e: Json) => e.resource.id).sort(), obsIds,
    'a chained search inside the transaction joins the new Observations\' reference rows to the new Patient\'s token rows');
  t.same(chained.entry?.map((e: Json) => e.resource.subject.reference), [`Patient/${patId}`, `Patient/${patId}`],
    'urn:uuid references were rewritten before the deferred insert');
  t.same(out.entry[5].resource.entry?.map((e: Json) => e.resource.id).sort(), obsIds);

  // After commit: searches by reference find the Observations, i.e. each reference row has its own Observation's rid.
  t.same(await searchIds(s, `Observation?subject=Patient/${patId}`), obsIds);
  t.same(await searchIds(s, `Observation?patient=${patId}`), obsIds);
  t.same(await searchIds(s, `Patient?_has:Observation:patient:identifier=${encodeURIComponent(`${sys}|o2`)}`), [patId]);
  const refs = await s.deps.db.query<{ type: string; id: string; ref_id: string }>(sql`SELECT r.type, r.id, x.ref_id
    FROM ${S}.idx_reference x JOIN ${S}.resource r ON r.rid = x.rid
    WHERE x.param = 'subject' AND x.ref_type = 'Patient' AND x.ref_id = ${patId} ORDER BY r.id`);
  t.same(refs, obsIds.map((id) => ({ type: 'Observation', id, ref_id: patId })), 'one subject row per Observation, on its own rid');
  t.same((await identifierRows(s.deps.db, 'Observation', sys)).map((r) => [r.code, r.id]).sort(),
    [['o1', idOf(out.entry[2].response.location)], ['o2', idOf(out.entry[4].response.location)]].sort(),
    'each identifier row on the rid of the Observation that carries it');
  t.same(await identifierRows(s.deps.db, 'Patient', sys), [{ id: patId, code: 'p1' }]);
});

t.test('storage: creates are held back until the next read, which sees them with their index rows and AuditEvents', async (t) => {
  const sys = system('read-after-create');
  const ids = [0, 1, 2].map(() => crypto.randomUUID());
  const events: Resource[] = [];
  await warm();
  await s.deps.db.transaction(async (tx) => {
    for (const [i, id] of ids.entries()) {
      const { versioned } = await writeResource(tx, schema, { type: 'Patient', id, method: 'POST', resource: patient(sys, `v${i}`) },
        s.deps.writeHooks, auditing(events));
      t.equal(versioned?.versionId, 1);
    }
    t.equal(deferring(tx)?.hasPending, true, 'nothing sent yet: the creates wait for the next statement');
    const first = await readCurrent(tx, schema, 'Patient', ids[0]!);
    t.equal(deferring(tx)?.hasPending, false, 'the read sent them first');
    t.equal(first?.versionId, 1);
    t.same(first?.resource?.identifier, [{ system: sys, value: 'v0' }]);
    t.equal(first?.resource?.id, ids[0]);
    for (const id of ids.slice(1)) t.equal((await readCurrent(tx, schema, 'Patient', id))?.versionId, 1, `${id} readable in the tx`);
    t.equal((await readVersion(tx, schema, 'Patient', ids[2]!, 1))?.method, 'POST', 'version 1 in the history table');
    t.equal(await versionRows(tx, 'Patient', ids), 3);
    t.same(await identifierRows(tx, 'Patient', sys), ids.map((id, i) => ({ id, code: `v${i}` })),
      'index rows written in the same statement, each on its own resource\'s rid');
    t.equal(await auditRows(tx, events), 3, 'the AuditEvents went with them');
  });
  t.equal(await resourceRows(s.deps.db, 'Patient', ids), 3, 'committed');
  t.same(await searchIds(s, `Patient?identifier=${encodeURIComponent(`${sys}|`)}`), [...ids].sort());
});

t.test('storage: every write deferred since the last read travels as one statement', async (t) => {
  const sys = system('one-statement');
  const ids = [0, 1, 2, 3].map(() => crypto.randomUUID());
  const existing = crypto.randomUUID();
  t.equal((await s.request('PUT', `Patient/${existing}`, { body: { ...patient(sys, 'before'), id: existing } })).statusCode, 201);
  await warm();
  await s.deps.db.transaction(async (inner) => {
    const { tx, sent } = countingTx(inner);
    for (const [i, id] of ids.entries()) {
      await writeResource(tx, schema, { type: 'Patient', id, method: 'POST', resource: patient(sys, `c${i}`) }, s.deps.writeHooks, auditing());
    }
    t.equal(sent(), 0, 'four creates, their index rows and AuditEvents: nothing sent yet');
    t.ok(await readCurrent(tx, schema, 'Patient', ids[3]!));
    t.equal(sent(), 2, 'one statement for all of them, then the read');
    // An update reads (locks) its row first: that read sends nothing pending, then the new version waits in turn.
    await writeResource(tx, schema, { type: 'Patient', id: existing, method: 'PUT', resource: { ...patient(sys, 'after'), id: existing } },
      s.deps.writeHooks, auditing());
    t.equal(sent(), 3, 'the lock');
    await tx.flush();
    t.equal(sent(), 4, 'the new version, its index rows and its AuditEvent in one statement');
    await tx.flush();
    t.equal(sent(), 4, 'nothing left to send');
  });
  t.same((await identifierRows(s.deps.db, 'Patient', sys)).map((r) => r.code), ['after', 'c0', 'c1', 'c2', 'c3']);
});

t.test('a transaction that fails after deferring writes leaves nothing behind', async (t) => {
  const sys = system('rollback');
  for (const readFirst of [false, true]) {
    const ids = [0, 1, 2].map(() => crypto.randomUUID());
    const events: Resource[] = [];
    const name = readFirst ? 'after a read sent them' : 'with nothing sent yet';
    await t.rejects(s.deps.db.transaction(async (tx) => {
      for (const [i, id] of ids.entries()) {
        await writeResource(tx, schema, { type: 'Patient', id, method: 'POST', resource: patient(sys, `${readFirst}-${i}`) },
          s.deps.writeHooks, auditing(events));
      }
      if (readFirst) t.equal((await readCurrent(tx, schema, 'Patient', ids[0]!))?.versionId, 1, 'visible inside');
      throw new Error('abort');
    }), { message: 'abort' }, name);
    t.equal(events.length, 3);
    t.equal(await resourceRows(s.deps.db, 'Patient', ids), 0, `${name}: no resource row`);
    t.equal(await versionRows(s.deps.db, 'Patient', ids), 0, `${name}: no resource_version row`);
    t.equal(await count(s.deps.db, sql`SELECT count(*)::int AS n FROM ${S}.idx_token WHERE system = ${sys}`), 0, `${name}: no index row`);
    t.equal(await auditRows(s.deps.db, events), 0, `${name}: no AuditEvent`);
  }
  // Orphan index rows (a rid with no resource row) would escape the checks above: none in any table.
  for (const table of INDEX_TABLES) {
    t.equal(await count(s.deps.db, sql`SELECT count(*)::int AS n FROM ${S}.${ident(`idx_${table}`)} x
      WHERE NOT EXISTS (SELECT 1 FROM ${S}.resource r WHERE r.rid = x.rid)`), 0, `idx_${table}: no orphan rows`);
  }
  t.same(await searchIds(s, `Patient?identifier=${encodeURIComponent(`${sys}|`)}`), []);
});

t.test('40 concurrent creates: all answered 201, readable, stored once each with their index rows and AuditEvents', async (t) => {
  const sys = system('concurrent');
  const n = 40;
  await warm();
  const replies = await Promise.all(Array.from({ length: n }, (_, i) =>
    s.request('POST', 'Patient', { body: patient(sys, `c${String(i).padStart(2, '0')}`) })));
  t.same(replies.map((r) => r.statusCode), Array(n).fill(201));
  const ids = replies.map((r) => idOf(r.headers.location as string));
  t.equal(new Set(ids).size, n, 'distinct ids');
  for (const [i, r] of replies.entries()) {
    const read = await s.request('GET', `Patient/${ids[i]}`);
    t.equal(read.statusCode, 200, `${ids[i]} readable`);
    const body = read.json();
    t.equal(body.meta.versionId, '1');
    t.equal(body.meta.lastUpdated, r.json().meta.lastUpdated, 'stored as answered');
    t.same(body.identifier, [{ system: sys, value: `c${String(i).padStart(2, '0')}` }], 'each id holds its own content');
  }
  t.equal(await resourceRows(s.deps.db, 'Patient', ids), n);
  t.equal(await versionRows(s.deps.db, 'Patient', ids), n);
  const indexed = await identifierRows(s.deps.db, 'Patient', sys);
  t.same(indexed.map((r) => [r.id, r.code]), ids.map((id, i) => [id, `c${String(i).padStart(2, '0')}`]),
    'one identifier row per create, on its own resource\'s rid');
  const found = await s.request('GET', `Patient?identifier=${encodeURIComponent(`${sys}|`)}&_count=100&_total=accurate`);
  t.equal(found.json().total, n);
  const audited = await count(s.deps.db, sql`SELECT count(*)::int AS n FROM ${S}.audit_event
    WHERE action = 'C' AND entity && ${ids.map((id) => `Patient/${id}`)}::text[]`);
  t.equal(audited, n, 'one create AuditEvent each');
  if (usingPostgres()) {
    // Rows written by one statement share its transaction id: group commit merged the write-only creates.
    t.ok(await transactionsOf(ids) < n / 2, 'group commit: the 40 creates were committed by a few shared statements');
  }
  // AuditEvents of group-committed creates share a transaction id: sealing and verifying the chain still holds.
  await sealEverything(s.deps.db, (await findTenant(s.deps.db, s.slug))!);
  const verified = await s.request('GET', 'AuditEvent/$verify-chain?full=true', { headers: {
    authorization: `Bearer ${await s.token('system/AuditEvent.rs')}` } });
  t.equal(verified.statusCode, 200, verified.body);
  const result = Object.fromEntries(verified.json().parameter.map((p: Json) => [p.name, p.valueBoolean ?? p.valueInteger]));
  t.equal(result.verified, true, 'the audit chain verifies');
  t.ok(result.events >= n, 'every create\'s event sealed');
});

t.test('concurrent creates in two tenants: each tenant holds exactly its own rows', async (t) => {
  const sys = system('tenants');
  const other = await s.newTenant();
  const otherSchema = schemaFor(other);
  await warm();
  await warm(otherSchema);
  const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => {
    const slug = i % 2 === 0 ? s.slug : other;
    return s.request('POST', `/fhir/${slug}/Patient`, { body: patient(sys, `${slug}-${i}`) })
      .then((r) => ({ slug, i, status: r.statusCode, id: idOf(r.headers.location as string) }));
  }));
  t.same(replies.map((r) => r.status), Array(20).fill(201));
  for (const slug of [s.slug, other]) {
    const mine = replies.filter((r) => r.slug === slug);
    const ids = await searchIds(s, `/fhir/${slug}/Patient?identifier=${encodeURIComponent(`${sys}|`)}&_count=100`);
    t.same(ids, mine.map((r) => r.id).sort(), `${slug}: its own creates, found by their index rows`);
    for (const r of mine) {
      const read = await s.request('GET', `/fhir/${slug}/Patient/${r.id}`);
      t.equal(read.json().identifier?.[0]?.value, `${slug}-${r.i}`);
    }
    const foreign = replies.filter((r) => r.slug !== slug);
    const leaked = await count(s.deps.db, sql`SELECT count(*)::int AS n FROM ${ident(schemaFor(slug))}.resource
      WHERE type = 'Patient' AND id = ANY(${foreign.map((r) => r.id)}::text[])`);
    t.equal(leaked, 0, `${slug}: none of the other tenant's rows`);
  }
});

t.test('one failing write among concurrent write-only transactions fails alone', async (t) => {
  // On PostgreSQL these transactions only defer, so they are group-committed in one statement; the duplicate id makes
  // that statement fail and each member must then be committed on its own. PGlite runs them one after another: the
  // outcome asked of both engines is the same.
  const sys = system('group-failure');
  const create = (id: string, events: Resource[] = []) => s.deps.db.transaction((tx) => writeResource(tx, schema,
    { type: 'Patient', id, method: 'POST', resource: patient(sys, id) }, s.deps.writeHooks, auditing(events)));

  // Control: the same shape of concurrent transactions, none failing, shares a statement on PostgreSQL.
  const control = [0, 1, 2, 3, 4].map(() => crypto.randomUUID());
  await warm();
  await Promise.all(control.map((id) => create(id)));
  if (usingPostgres()) t.equal(await transactionsOf(control), 1, 'control: five write-only transactions, one group commit');

  const taken = crypto.randomUUID();
  t.equal((await s.request('PUT', `Patient/${taken}`, { body: { resourceType: 'Patient', id: taken, name: [{ family: 'First' }] } })).statusCode, 201);
  const ids = [crypto.randomUUID(), crypto.randomUUID(), taken, crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
  const events = new Map<string, Resource[]>();
  await warm();
  // A POST with a caller-chosen id stands for a server id that clashes: the deferred INSERT has no ON CONFLICT.
  const settled = await Promise.allSettled(ids.map((id) => {
    const mine: Resource[] = [];
    events.set(id, mine);
    return create(id, mine);
  }));
  const failed = settled.flatMap((r, i) => (r.status === 'rejected' ? [[ids[i], r.reason]] as const : []));
  t.same(failed.map(([id]) => id), [taken], 'only the clashing create failed');
  t.equal((failed[0]?.[1] as { code?: string } | undefined)?.code, '23505', 'a unique violation');
  const fresh = ids.filter((id) => id !== taken);
  for (const id of fresh) {
    const read = await readCurrent(s.deps.db, schema, 'Patient', id);
    t.equal(read?.versionId, 1, `${id} committed`);
    t.same(read?.resource?.identifier, [{ system: sys, value: id }]);
  }
  const kept = await readCurrent(s.deps.db, schema, 'Patient', taken);
  t.equal(kept?.versionId, 1, 'the existing resource is untouched');
  t.same(kept?.resource?.name, [{ family: 'First' }]);
  t.equal(await versionRows(s.deps.db, 'Patient', [taken]), 1);
  t.same((await identifierRows(s.deps.db, 'Patient', sys)).map((r) => r.id).sort(), [...control, ...fresh].sort(),
    'index rows of the committed creates only');
  t.equal(await auditRows(s.deps.db, fresh.flatMap((id) => events.get(id)!)), fresh.length, 'their AuditEvents committed');
  t.equal(await auditRows(s.deps.db, events.get(taken)!), 0, 'the failed one\'s AuditEvent did not');
  t.equal(await count(s.deps.db, sql`SELECT count(*)::int AS n FROM ${S}.idx_token t JOIN ${S}.resource r ON r.rid = t.rid
    WHERE r.id = ${taken} AND t.system = ${sys}`), 0, 'no index row of the failed create on the existing resource');
});

t.test('update then read in one transaction: the read sees the new version; old index rows are replaced', async (t) => {
  const sys = system('update');
  const id = crypto.randomUUID();
  t.equal((await s.request('PUT', `Patient/${id}`, { body: { ...patient(sys, 'old', { birthDate: '1970-01-01' }), id } })).statusCode, 201);
  t.ok((await paramsOf(s.deps.db, 'date', 'Patient', id)).includes('birthdate'), 'version 1 indexed');
  await warm();
  await s.deps.db.transaction(async (tx) => {
    const { versioned } = await writeResource(tx, schema, { type: 'Patient', id, method: 'PUT',
      resource: { ...patient(sys, 'new', { gender: 'female' }), id } }, s.deps.writeHooks, auditing());
    t.equal(versioned?.versionId, 2);
    t.equal(deferring(tx)?.hasPending, true, 'the new version waits');
    const read = await readCurrent(tx, schema, 'Patient', id);
    t.equal(read?.versionId, 2, 'the read sees version 2');
    t.same(read?.resource?.identifier, [{ system: sys, value: 'new' }]);
    t.equal(read?.resource?.gender, 'female');
    t.equal(read?.deleted, false);
    t.same((await identifierRows(tx, 'Patient', sys)).map((r) => r.code), ['new'], 'inside the tx: only the new identifier row');
    t.notOk((await paramsOf(tx, 'date', 'Patient', id)).includes('birthdate'), 'birthDate gone from the index');
    t.ok((await paramsOf(tx, 'token', 'Patient', id)).includes('gender'), 'gender indexed');
    // A second update in the same transaction: the lock sends nothing pending; the version after it is deferred again.
    await writeResource(tx, schema, { type: 'Patient', id, method: 'PUT', resource: { ...patient(sys, 'newer'), id } }, s.deps.writeHooks);
  });
  t.equal((await readCurrent(s.deps.db, schema, 'Patient', id))?.versionId, 3);
  t.same((await readVersion(s.deps.db, schema, 'Patient', id, 2))?.resource?.identifier, [{ system: sys, value: 'new' }]);
  t.same((await readVersion(s.deps.db, schema, 'Patient', id, 1))?.resource?.identifier, [{ system: sys, value: 'old' }]);
  t.equal(await versionRows(s.deps.db, 'Patient', [id]), 3);
  t.same(await searchIds(s, `Patient?identifier=${encodeURIComponent(`${sys}|old`)}`), [], 'the old identifier no longer matches');
  t.same(await searchIds(s, `Patient?identifier=${encodeURIComponent(`${sys}|new`)}`), [], 'nor the intermediate one');
  t.same(await searchIds(s, `Patient?identifier=${encodeURIComponent(`${sys}|newer`)}`), [id], 'the current one does');
  t.same(await searchIds(s, `Patient?gender=female&identifier=${encodeURIComponent(`${sys}|`)}`), []);
  t.same(await identifierRows(s.deps.db, 'Patient', sys), [{ id, code: 'newer' }], 'exactly one identifier row');
});

t.test('create then update of the same resource in one transaction: one resource row, the latest index rows', async (t) => {
  const sys = system('create-update');
  const id = crypto.randomUUID();
  await s.deps.db.transaction(async (tx) => {
    await writeResource(tx, schema, { type: 'Patient', id, method: 'POST', resource: patient(sys, 'first') }, s.deps.writeHooks);
    const { versioned } = await writeResource(tx, schema, { type: 'Patient', id, method: 'PUT',
      resource: { ...patient(sys, 'second'), id } }, s.deps.writeHooks);
    t.equal(versioned?.versionId, 2, 'the update found the deferred create (its lock sent it)');
  });
  t.equal((await readCurrent(s.deps.db, schema, 'Patient', id))?.versionId, 2);
  t.equal(await versionRows(s.deps.db, 'Patient', [id]), 2);
  t.same(await identifierRows(s.deps.db, 'Patient', sys), [{ id, code: 'second' }]);
});

t.test('delete inside a transaction: the resource is marked deleted and all its index rows are gone after commit', async (t) => {
  const sys = system('delete');
  const id = crypto.randomUUID();
  const org = crypto.randomUUID();
  t.equal((await s.request('PUT', `Organization/${org}`, { body: { resourceType: 'Organization', id: org, name: 'Org' } })).statusCode, 201);
  t.equal((await s.request('PUT', `Patient/${id}`, { body: { ...patient(sys, 'gone', { name: [{ family: 'Gone' }], birthDate: '1980-02-03',
    managingOrganization: { reference: `Organization/${org}` } }), id } })).statusCode, 201);
  const before = await indexRowsOf(s.deps.db, 'Patient', id);
  t.ok(before.token! > 0 && before.string! > 0 && before.date! > 0 && before.reference! > 0, 'indexed before');
  const events: Resource[] = [];
  await warm();
  await s.deps.db.transaction(async (tx) => {
    const { versioned } = await writeResource(tx, schema, { type: 'Patient', id, method: 'DELETE' }, s.deps.writeHooks, auditing(events));
    t.equal(versioned?.versionId, 2);
    t.equal(deferring(tx)?.hasPending, true, 'the delete waits for the commit');
  });
  const after = await indexRowsOf(s.deps.db, 'Patient', id);
  t.equal(total(after), 0, 'no index row in any table');
  t.same(after, Object.fromEntries(INDEX_TABLES.map((table) => [table, 0])));
  const row = await readCurrent(s.deps.db, schema, 'Patient', id);
  t.equal(row?.deleted, true);
  t.equal(row?.versionId, 2);
  t.equal(row?.resource, undefined, 'no content on the delete marker');
  t.equal((await readVersion(s.deps.db, schema, 'Patient', id, 2))?.method, 'DELETE');
  t.equal(await auditRows(s.deps.db, events), 1);
  t.equal((await s.request('GET', `Patient/${id}`)).statusCode, 410);
  t.same(await searchIds(s, `Patient?identifier=${encodeURIComponent(`${sys}|gone`)}`), []);
  t.same(await searchIds(s, `Patient?organization=Organization/${org}`), []);
  t.same(await searchIds(s, 'Patient?family=Gone&birthdate=1980-02-03'), []);
  t.equal((await indexRowsOf(s.deps.db, 'Organization', org)).string! > 0, true, 'other resources\' index rows untouched');
});

t.test('a transaction Bundle deletes, creates and updates: deferred rows commit together with correct index rows', async (t) => {
  const sys = system('bundle-mixed');
  const doomed = crypto.randomUUID();
  const kept = crypto.randomUUID();
  for (const [id, value] of [[doomed, 'doomed'], [kept, 'kept-v1']] as const) {
    t.equal((await s.request('PUT', `Patient/${id}`, { body: { ...patient(sys, value), id } })).statusCode, 201);
  }
  const res = await s.request('POST', '', { body: { resourceType: 'Bundle', type: 'transaction', entry: [
    { request: { method: 'DELETE', url: `Patient/${doomed}` } },
    { fullUrl: 'urn:uuid:1f0f8a52-2d1e-4d8a-9c36-000000000001', resource: patient(sys, 'created'),
      request: { method: 'POST', url: 'Patient' } },
    { resource: { ...patient(sys, 'kept-v2', { link: [{ type: 'seealso',
      other: { reference: 'urn:uuid:1f0f8a52-2d1e-4d8a-9c36-000000000001' } }] }), id: kept },
    request: { method: 'PUT', url: `Patient/${kept}` } },
    { request: { method: 'GET', url: `Patient?identifier=${encodeURIComponent(`${sys}|`)}` } },
  ] } });
  t.equal(res.statusCode, 200, res.body);
  const out = res.json();
  t.same(out.entry.map((e: Json) => e.response.status), ['204 No Content', '201 Created', '200 OK', '200 OK']);
  const created = idOf(out.entry[1].response.location);
  const expected = [created, kept].sort();
  t.same(out.entry[3].resource.entry.map((e: Json) => e.resource.id).sort(), expected, 'the GET saw the delete, create and update');
  t.same(await searchIds(s, `Patient?identifier=${encodeURIComponent(`${sys}|`)}`), expected);
  t.same((await identifierRows(s.deps.db, 'Patient', sys)).map((r) => [r.code, r.id]),
    [['created', created], ['kept-v2', kept]], 'index rows after commit: the created and the updated, nothing of the deleted');
  t.same(await searchIds(s, `Patient?link=Patient/${created}`), [kept], 'the updated resource\'s reference row points at the new one');
});

t.test('a create whose row was sent before its index rows (registry reloaded in between) is indexed on its own rid', async (t) => {
  // The index hook reloads an expired registry with a read, which sends the pending create alone; its index rows
  // then travel in a later statement and find their rid by (type, id), next to another create's same-statement insert.
  const sys = system('split');
  const [a, b] = [crypto.randomUUID(), crypto.randomUUID()];
  await s.deps.db.transaction(async (tx) => {
    s.deps.tenantSearch.invalidate(schema);
    await writeResource(tx, schema, { type: 'Patient', id: a, method: 'POST', resource: patient(sys, 'a') }, s.deps.writeHooks);
    await writeResource(tx, schema, { type: 'Patient', id: b, method: 'POST', resource: patient(sys, 'b') }, s.deps.writeHooks);
    t.equal(deferring(tx)?.hasPending, true);
  });
  t.same(await identifierRows(s.deps.db, 'Patient', sys), [{ id: a, code: 'a' }, { id: b, code: 'b' }]);
  t.same(await searchIds(s, `Patient?identifier=${encodeURIComponent(`${sys}|a`)}`), [a]);
});

t.test('AuditEvents past the per-statement row limit: all committed with the transaction, or none', async (t) => {
  const events = Array.from({ length: 2500 }, (_, i) => eventFor(`Patient/bulk-${i}`));
  await s.deps.db.transaction(async (tx) => {
    for (let i = 0; i < events.length; i += 700) await s.deps.audit.insert(tx, schema, events.slice(i, i + 700));
  });
  t.equal(await auditRows(s.deps.db, events), events.length, 'every event written');
  const rolledBack = Array.from({ length: 1800 }, (_, i) => eventFor(`Patient/rolled-back-${i}`));
  await t.rejects(s.deps.db.transaction(async (tx) => {
    await s.deps.audit.insert(tx, schema, rolledBack); // heavy enough to be sent before the commit
    throw new Error('abort');
  }), { message: 'abort' });
  t.equal(await auditRows(s.deps.db, rolledBack), 0, 'nothing of a rolled-back transaction');
});

t.test('a transaction Bundle of 300 creates: every reference row on its own Observation, seen by the Bundle\'s GET', async (t) => {
  const sys = system('large');
  const pat = 'urn:uuid:9b6f1f5c-3a52-4f61-8d8e-0000000000aa';
  const n = 300;
  const entry: Json[] = [{ fullUrl: pat, resource: patient(sys, 'subject'), request: { method: 'POST', url: 'Patient' } }];
  for (let i = 0; i < n; i++) {
    entry.push({ fullUrl: `urn:uuid:9b6f1f5c-3a52-4f61-8d8e-${String(i).padStart(12, '0')}`, request: { method: 'POST', url: 'Observation' },
      resource: { resourceType: 'Observation', status: 'final', code: { text: 'large' }, identifier: [{ system: sys, value: `o${i}` }],
        subject: { reference: pat }, valueQuantity: { value: i, unit: 'mg', system: 'http://unitsofmeasure.org', code: 'mg' } } });
  }
  entry.push({ request: { method: 'GET', url: `Observation?patient.identifier=${encodeURIComponent(`${sys}|subject`)}&_summary=count` } });
  entry.push({ request: { method: 'GET', url: `Observation?identifier=${encodeURIComponent(`${sys}|o123`)}&value-quantity=123` } });
  const res = await s.request('POST', '', { body: { resourceType: 'Bundle', type: 'transaction', entry } });
  t.equal(res.statusCode, 200, res.body.slice(0, 500));
  const out = res.json();
  const patId = idOf(out.entry[0].response.location);
  const obsIds = out.entry.slice(1, n + 1).map((e: Json) => idOf(e.response.location));
  t.equal(out.entry[n + 1].resource.total, n, 'the chained count inside the transaction sees every Observation');
  t.same(out.entry[n + 2].resource.entry?.map((e: Json) => e.resource.id), [obsIds[123]], 'quantity and token rows of the same one');
  const rows = await s.deps.db.query<{ id: string; code: string }>(sql`SELECT r.id, t.code FROM ${S}.idx_token t
    JOIN ${S}.resource r ON r.rid = t.rid WHERE t.type = 'Observation' AND t.param = 'identifier' AND t.system = ${sys}`);
  const byId = new Map(rows.map((r) => [r.id, r.code]));
  t.equal(rows.length, n);
  t.ok(obsIds.every((id: string, i: number) => byId.get(id) === `o${i}`), 'each identifier row on the rid of its own Observation');
  const subjects = await count(s.deps.db, sql`SELECT count(*)::int AS n FROM ${S}.idx_reference x JOIN ${S}.resource r ON r.rid = x.rid
    WHERE x.param = 'subject' AND x.ref_id = ${patId} AND r.type = 'Observation' AND r.id = ANY(${obsIds}::text[])`);
  t.equal(subjects, n);
});

t.test('a SearchParameter created earlier in the same transaction Bundle indexes the Bundle\'s later creates', async (t) => {
  // The index hook reloads the tenant's registry through the transaction (the SearchParameter's hook invalidated it):
  // that read must send the pending SearchParameter first, or the Patients are indexed without the new parameter.
  // (A GET entry of the same Bundle cannot be used to check it: a request's search registry is fixed when it starts.)
  const other = await s.newTenant();
  const otherSchema = schemaFor(other);
  const url = 'http://hearth.test/deferred/favourite-colour';
  const colour = (c: string) => ({ resourceType: 'Patient', extension: [{ url, valueString: c }] });
  const res = await s.request('POST', `/fhir/${other}`, { body: { resourceType: 'Bundle', type: 'transaction', entry: [
    { request: { method: 'POST', url: 'SearchParameter' }, resource: { resourceType: 'SearchParameter',
      url: 'http://hearth.test/deferred/SearchParameter/colour', name: 'colour', status: 'active', description: 'Colour',
      code: 'colour', base: ['Patient'], type: 'string', expression: `Patient.extension.where(url='${url}').value` } },
    { request: { method: 'POST', url: 'Patient' }, resource: colour('teal') },
    { request: { method: 'POST', url: 'Patient' }, resource: colour('red') },
  ] } });
  t.equal(res.statusCode, 200, res.body);
  const out = res.json();
  const [teal, red] = [idOf(out.entry[1].response.location), idOf(out.entry[2].response.location)];
  const rows = await s.deps.db.query<{ id: string; norm: string }>(sql`SELECT r.id, x.norm FROM ${ident(otherSchema)}.idx_string x
    JOIN ${ident(otherSchema)}.resource r ON r.rid = x.rid WHERE x.param = 'colour' ORDER BY x.norm`);
  t.same(rows.map((r) => r.id), [red, teal], 'each Patient\'s colour row on its own rid');
  t.same(await searchIds(s, `/fhir/${other}/Patient?colour=teal`), [teal]);
  t.same(await searchIds(s, `/fhir/${other}/Patient?colour=red`), [red]);
});
