import t from 'tap';
import { ident, raw, sql } from '../../src/db/sql.js';
import type { Resource } from '../../src/fhir/types.js';
import { INDEX_TABLES } from '../../src/search/extract-types.js';
import { indexResource } from '../../src/storage/index-writer.js';
import { createSearchRegistry } from '../../src/search/registry.js';
import { schemaFor } from '../../src/storage/tenants.js';
import { writeResource } from '../../src/storage/write.js';
import { type TestServer, startServer } from '../helpers/server.js';

type Row = Record<string, unknown>;

async function ridOf(s: TestServer, type: string, id: string): Promise<number> {
  const rows = await s.deps.db.query<{ rid: number }>(
    sql`SELECT rid FROM ${ident(schemaFor(s.slug))}.resource WHERE type = ${type} AND id = ${id}`);
  return Number(rows[0]!.rid);
}

/** The rows of one idx table for a resource, without rid/type, in a stable order. */
async function rowsOf(s: TestServer, table: string, rid: number, columns: string): Promise<Row[]> {
  const order = columns.split(',').map((_, i) => i + 1).join(', ');
  return s.deps.db.query(sql`SELECT ${raw(columns)} FROM ${ident(schemaFor(s.slug))}.${ident(`idx_${table}`)}
    WHERE rid = ${rid} ORDER BY ${raw(order)}`);
}

async function countAll(s: TestServer, rid: number): Promise<number> {
  let n = 0;
  for (const table of INDEX_TABLES) {
    const rows = await s.deps.db.query<{ n: number }>(
      sql`SELECT count(*)::int AS n FROM ${ident(schemaFor(s.slug))}.${ident(`idx_${table}`)} WHERE rid = ${rid}`);
    n += Number(rows[0]!.n);
  }
  return n;
}

const patient = (family: string): Resource => ({ resourceType: 'Patient', name: [{ family, given: ['Gustavo'] }],
  birthDate: '1970-05', gender: 'male', identifier: [{ system: 'urn:mrn', value: 'A1' }] } as Resource);

t.test('create → rows in each table the resource has values for; update replaces; delete removes', async (t) => {
  const s = await startServer(t);
  t.equal((await s.request('PUT', 'Patient/p1', { body: { ...patient('Mejía'), id: 'p1' } })).statusCode, 201);
  const rid = await ridOf(s, 'Patient', 'p1');
  const mejia = { norm: 'mejia', exact: 'Mejía', word: false }, gustavo = { norm: 'gustavo', exact: 'Gustavo', word: false };
  t.same(await rowsOf(s, 'string', rid, `param, norm, exact, word`), [{ param: 'family', ...mejia },
    { param: 'given', ...gustavo }, { param: 'name', ...gustavo }, { param: 'name', ...mejia },
    { param: 'phonetic', ...gustavo }, { param: 'phonetic', ...mejia }], 'HumanName parts, accent-free norm, exact as written');
  const dates = await rowsOf(s, 'date', rid, `param, lo::text AS lo, hi::text AS hi`);
  t.match(dates.find((r) => r.param === 'birthdate'), { lo: /^1970-05-01 00:00:00\+00/, hi: /^1970-06-01 00:00:00\+00/ });
  t.ok((await rowsOf(s, 'token', rid, `param, system, code`)).some((r) => r.param === 'identifier' && r.code === 'A1'));

  t.equal((await s.request('PUT', 'Patient/p1', { body: { ...patient('Carreno Quinones'), id: 'p1' } })).statusCode, 200);
  const family = await s.deps.db.query(sql`SELECT norm, word FROM ${ident(schemaFor(s.slug))}.idx_string
    WHERE rid = ${rid} AND param = 'family' ORDER BY norm`);
  t.same(family, [{ norm: 'carreno quinones', word: false }, { norm: 'quinones', word: true }], 'update replaced the rows');

  t.equal((await s.request('DELETE', 'Patient/p1')).statusCode, 204);
  t.equal(await countAll(s, rid), 0, 'delete removed every index row');
  t.equal((await s.request('PUT', 'Patient/p1', { body: { ...patient('Dach'), id: 'p1' } })).statusCode, 201);
  t.ok(await countAll(s, rid) > 0, 'a revived resource is indexed again');
});

t.test('a failing transaction leaves no index rows', async (t) => {
  const s = await startServer(t);
  const schema = schemaFor(s.slug);
  await t.rejects(s.deps.db.transaction(async (tx) => {
    await writeResource(tx, schema, { type: 'Patient', id: 'ghost', method: 'PUT', resource: patient('Ghost') }, s.deps.writeHooks);
    throw new Error('rolled back');
  }), /rolled back/);
  for (const table of INDEX_TABLES) {
    const rows = await s.deps.db.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM ${ident(schema)}.${ident(`idx_${table}`)}`);
    t.equal(Number(rows[0]!.n), 0, `idx_${table} is empty`);
  }
});

t.test('every column type round-trips: numeric ranges, infinite dates, canonical versions, composites', async (t) => {
  const s = await startServer(t);
  const observation = { resourceType: 'Observation', id: 'o1', status: 'final', subject: { reference: 'Patient/p1/_history/2' },
    code: { coding: [{ system: 'http://loinc.org', code: '85354-9' }], text: 'Blood pressure' },
    effectivePeriod: { start: '2020-01-01' }, component: [{ code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] },
      valueQuantity: { value: 120, system: 'http://unitsofmeasure.org', code: 'mm[Hg]' } }],
    meta: { profile: ['http://example.org/StructureDefinition/bp|1.0'] } };
  for (const family of ['One', 'Two']) await s.request('PUT', 'Patient/p1', { body: { ...patient(family), id: 'p1' } });
  t.equal((await s.request('PUT', 'Observation/o1', { body: observation })).statusCode, 201);
  const rid = await ridOf(s, 'Observation', 'o1');
  t.same(await rowsOf(s, 'quantity', rid, `param, code, value::text AS value, lo::text AS lo, hi::text AS hi`), [
    { param: 'combo-value-quantity', code: 'mm[Hg]', value: '120', lo: '119.5', hi: '120.5' },
    { param: 'component-value-quantity', code: 'mm[Hg]', value: '120', lo: '119.5', hi: '120.5' },
  ]);
  const date = (await rowsOf(s, 'date', rid, `param, lo::text AS lo, hi::text AS hi`)).find((r) => r.param === 'date');
  t.match(date, { lo: /^2020-01-01 00:00:00\+00/, hi: 'infinity' }, 'open Period end is infinity');
  t.same((await rowsOf(s, 'reference', rid, `param, ref_type, ref_id, ref_version, url`)).find((r) => r.param === 'patient'),
    { param: 'patient', ref_type: 'Patient', ref_id: 'p1', ref_version: '2', url: null });
  t.same(await rowsOf(s, 'uri', rid, `param, uri, version`),
    [{ param: '_profile', uri: 'http://example.org/StructureDefinition/bp', version: '1.0' }]);
  const composites = await rowsOf(s, 'composite', rid, `param, parts`);
  const ccvq = composites.find((r) => r.param === 'component-code-value-quantity')!;
  t.match(ccvq.parts, [[{ system: 'http://loinc.org', code: '8480-6' }], [{ code: 'mm[Hg]', value: '120' }]]);
});

t.test('re-indexing an unchanged resource (isNew false) yields the same rows, not duplicates', async (t) => {
  const s = await startServer(t);
  await s.request('PUT', 'Patient/p2', { body: { ...patient('Wiegand'), id: 'p2' } });
  const rid = await ridOf(s, 'Patient', 'p2');
  const before = await countAll(s, rid);
  const resource = (await s.request('GET', 'Patient/p2')).json() as Resource;
  await s.deps.db.transaction(async (tx) => {
    for (const hook of s.deps.writeHooks) await hook(tx, schemaFor(s.slug), { rid, type: 'Patient', id: 'p2', resource, isNew: false, version: 1 });
  });
  t.equal(await countAll(s, rid), before);
});

t.test('a per-tenant registry resolver: the tenant\'s custom parameter is indexed with the core ones', async (t) => {
  const s = await startServer(t);
  const schema = schemaFor(s.slug);
  const custom = { url: 'http://example.org/SearchParameter/nickname', name: 'nickname', code: 'nickname', base: ['Patient'],
    type: 'string' as const, expression: "Patient.name.where(use='nickname').given" };
  const tenant = createSearchRegistry(s.deps.defs, [custom]);
  const hook = indexResource(async (_tx, forSchema) => (forSchema === schema ? tenant : s.deps.search));
  const resource = { resourceType: 'Patient', name: [{ use: 'nickname', given: ['Gus'] }, { family: 'Mejía' }] } as Resource;
  await s.deps.db.transaction((tx) => writeResource(tx, schema, { type: 'Patient', id: 'nick', method: 'PUT', resource }, [hook]));
  const rid = await ridOf(s, 'Patient', 'nick');
  t.same(await rowsOf(s, 'string', rid, `param, norm`).then((rows) => rows.filter((r) => ['nickname', 'family'].includes(r.param as string))),
    [{ param: 'family', norm: 'mejia' }, { param: 'nickname', norm: 'gus' }]);
});
