/**
 * Encryption at rest (issue #17 §1–§2): each tenant's resource bodies are AES-256-GCM ciphertext under its own data
 * key, wrapped by the configured key-encryption key. Checked on the real tables (PGlite, or PostgreSQL under
 * DATABASE_URL): a patient's name is found in no column but the documented index columns; a body moved onto another
 * row or changed answers 500 naming the resource, never wrong data; a start with another key-encryption key stops
 * with one clear message and writes nothing; deleting a tenant destroys its keys first.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { createDeps } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { CONTROL_SCHEMA } from '../../src/db/migrate.js';
import { openDb } from '../../src/db/open.js';
import { ident, sql } from '../../src/db/sql.js';
import { defaultKeyFile, keyOptions, keyProviderFor } from '../../src/db/vault.js';
import { schemaFor } from '../../src/storage/tenants.js';
import { copyPgliteTemplate } from '../helpers/pglite-template.js';
import { startServer, usingPostgres } from '../helpers/server.js';

const s = await startServer(t);
const db = s.deps.db;
const schema = schemaFor(s.slug);
const S = ident(schema);
const NAME = 'Quaxworthington';
const NOTE = 'Allergic to zyrtecoplasm';

const put = async (resource: Record<string, unknown>, slug = s.slug) => {
  const res = await s.request('PUT', `/fhir/${slug}/${resource.resourceType}/${resource.id}`, { body: resource });
  if (res.statusCode >= 300) throw new Error(`${resource.resourceType}/${resource.id}: ${res.body}`);
  return res.json();
};
const patient = { resourceType: 'Patient', id: 'p1', name: [{ family: NAME, given: ['Ottilie'] }], birthDate: '1961-04-02',
  text: { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml">${NAME} ${NOTE}</div>` } };
await put(patient);
await put({ ...patient, gender: 'female' }); // a second version: both are in resource_version
await put({ resourceType: 'Observation', id: 'o1', status: 'final', code: { text: 'weight' }, subject: { reference: 'Patient/p1' },
  note: [{ text: NOTE }] });
await put({ resourceType: 'List', id: 'l1', status: 'current', mode: 'working', entry: [{ item: { reference: 'Patient/p1' } }] });

/** Every row of every table of the tenant's schema as text, with the columns where a needle was found. */
async function whereFound(needle: string): Promise<string[]> {
  const tables = await db.query<{ name: string }>(sql`SELECT table_name AS name FROM information_schema.tables
    WHERE table_schema = ${schema} AND table_type = 'BASE TABLE'`);
  const found = new Set<string>();
  for (const { name } of tables) {
    const columns = await db.query<{ column: string; type: string }>(sql`SELECT column_name AS column, data_type AS type
      FROM information_schema.columns WHERE table_schema = ${schema} AND table_name = ${name}`);
    for (const { column, type } of columns) {
      // Every column as the bytes the database holds (bytea as escaped text, the rest as its text form), case-blind.
      const text = type === 'bytea' ? sql`encode(x.${ident(column)}, 'escape')` : sql`x.${ident(column)}::text`;
      const hits = await db.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM ${S}.${ident(name)} x
        WHERE lower(${text}) LIKE ${`%${needle.toLowerCase()}%`}`);
      if (hits[0]!.n > 0) found.add(`${name}.${column}`);
    }
  }
  return [...found].sort();
}

t.test("a patient's name is stored only in the documented index columns", async (t) => {
  const rows = await db.query<{ n: number; sealed: number }>(sql`SELECT count(*)::int AS n, count(sealed)::int AS sealed
    FROM ${S}.resource_version WHERE content IS NULL`);
  t.equal(rows[0]!.sealed, rows[0]!.n, 'every version body is sealed, none in clear');
  const audit = await db.query<{ n: number; clear: number }>(sql`SELECT count(*)::int AS n, count(content)::int AS clear FROM ${S}.audit_event`);
  t.ok(audit[0]!.n > 0 && audit[0]!.clear === 0, 'every AuditEvent body is sealed too');
  t.ok(rows[0]!.n >= 4);
  t.same(await whereFound(NAME), ['idx_string.exact', 'idx_string.norm', 'resource.narrative', 'resource.words'],
    'the name: string index rows and the full-text words only');
  t.same(await whereFound('zyrtecoplasm'), ['resource.narrative', 'resource.words'], 'free text: the full-text words only');
  const date = await whereFound('1961-04-02');
  t.ok(date.length > 0 && date.every((c) => c.startsWith('idx_date.')), `a birth date: as a timestamp range in idx_date only (${date})`);
});

t.test('reads, history, search (also _content, _text and _list) open the sealed bodies', async (t) => {
  const read = await s.request('GET', 'Patient/p1');
  t.equal(read.statusCode, 200);
  t.equal(read.json().name[0].family, NAME);
  t.equal(read.json().gender, 'female');
  const v1 = await s.request('GET', 'Patient/p1/_history/1');
  t.equal(v1.json().gender, undefined, 'version 1 as it was');
  const history = await s.request('GET', 'Patient/p1/_history');
  t.equal(history.json().entry.length, 2);
  const ids = async (query: string) => ((await s.request('GET', query)).json().entry ?? []).map((e: { resource: { id: string } }) => e.resource.id).sort();
  t.same(await ids(`Patient?name=${NAME.slice(0, 6)}`), ['p1']);
  t.same(await ids('Observation?_content=zyrtecoplasm'), ['o1']);
  t.same(await ids('Patient?_text=zyrtecoplasm'), ['p1']);
  t.same(await ids('Patient?_content=nothing-like-this'), []);
  t.same(await ids('Patient?_list=l1'), ['p1']);
  t.same(await ids('Observation?subject=Patient/p1&_include=Observation:subject'), ['o1', 'p1']);
});

t.test('a body moved onto another row, or changed, answers 500 naming the resource and nothing of it', async (t) => {
  await put({ resourceType: 'Patient', id: 'p2', name: [{ family: 'Other' }] });
  // Another row's ciphertext: its associated data names Patient/p1, so it does not open as Patient/p2.
  await db.query(sql`UPDATE ${S}.resource SET sealed = (SELECT sealed FROM ${S}.resource WHERE type = 'Patient' AND id = 'p1')
    WHERE type = 'Patient' AND id = 'p2'`);
  const swapped = await s.request('GET', 'Patient/p2');
  t.equal(swapped.statusCode, 500);
  t.equal(swapped.json().resourceType, 'OperationOutcome');
  t.match(swapped.json().issue[0].diagnostics, /Patient\/p2\/_history\/1 cannot be read/);
  t.notMatch(swapped.body, new RegExp(NAME), 'no content of either row');
  // One changed byte of the ciphertext.
  await db.query(sql`UPDATE ${S}.resource SET sealed = overlay(sealed placing '\\x00'::bytea from length(sealed) - 3 for 1)
    WHERE type = 'Observation' AND id = 'o1'`);
  const changed = await s.request('GET', 'Observation/o1');
  t.equal(changed.statusCode, 500);
  t.match(changed.json().issue[0].diagnostics, /Observation\/o1\/_history\/1 cannot be read/);
  const search = await s.request('GET', 'Observation?status=final');
  t.equal(search.statusCode, 500, 'a search meeting it fails too rather than leave it out silently');
});

t.test('a tenant without a data key (HEARTH_ENCRYPTION=off, or made before encryption) stores bodies in clear', async (t) => {
  const config = loadConfig({ ...process.env, HEARTH_ENCRYPTION: 'off' });
  t.equal(keyOptions(config).sealNewTenants, false);
  t.equal(db.keyring.enabled, true, 'on by default');
  const plain = await s.newTenant();
  await db.keyring.destroyKeys(db, schemaFor(plain)); // as a tenant made with HEARTH_ENCRYPTION=off has none
  await put({ resourceType: 'Patient', id: 'c1', name: [{ family: NAME }] }, plain);
  const rows = await db.query<{ content: string | null; sealed: Buffer | null }>(sql`SELECT content::text AS content, sealed
    FROM ${ident(schemaFor(plain))}.resource WHERE id = 'c1'`);
  t.match(rows[0]!.content, new RegExp(NAME));
  t.equal(rows[0]!.sealed, null);
  const read = await s.request('GET', `/fhir/${plain}/Patient/c1`);
  t.equal(read.json().name[0].family, NAME);
  const found = await s.request('GET', `/fhir/${plain}/Patient?_content=${NAME}`);
  t.equal(found.json().entry.length, 1, '_content reads the clear body');
});

t.test("deleting a tenant destroys its data keys first, so its rows' copies cannot be opened", async (t) => {
  const other = await s.newTenant();
  await put({ resourceType: 'Patient', id: 'gone', name: [{ family: NAME }] }, other);
  const backup = await db.query<{ sealed: Buffer }>(sql`SELECT sealed FROM ${ident(schemaFor(other))}.resource WHERE id = 'gone'`);
  t.ok(backup[0]!.sealed.length > 0, 'a copy of its encrypted row');
  const keys = () => db.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM ${ident(CONTROL_SCHEMA)}.tenant_key
    WHERE schema_name = ${schemaFor(other)}`);
  t.equal((await keys())[0]!.n, 1);
  const res = await s.request('DELETE', `/admin/tenants/${other}?confirm=${other}`, { headers: { authorization: 'Bearer test-admin-token-0123456789' } });
  t.equal(res.statusCode, 204);
  t.equal((await keys())[0]!.n, 0, 'no key is left to open the copy with');
});

t.test('the key file: generated beside the data directory with mode 0600, then reused', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-key-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const dataDir = path.join(dir, 'data');
  const first = keyProviderFor({ dataDir, keySecret: undefined, keyFile: undefined });
  t.equal(first.source, defaultKeyFile(dataDir));
  t.equal(first.source, `${dataDir}.key`, 'beside the data directory, not inside it');
  t.ok(first.generated);
  t.equal(fs.statSync(first.source).mode & 0o777, 0o600);
  const again = keyProviderFor({ dataDir, keySecret: undefined, keyFile: undefined });
  t.notOk(again.generated);
  const wrapped = await first.provider.wrap(Buffer.from('k'), 'ctx');
  t.same(await again.provider.unwrap(wrapped, 'ctx'), Buffer.from('k'), 'the same key');
  await t.rejects(again.provider.unwrap(wrapped, 'another context'), 'the context is bound to the wrapped key');
});

t.test('another key-encryption key stops the start with one clear message and writes nothing', async (t) => {
  const wrong = { HEARTH_KEY_SECRET: crypto.randomBytes(16).toString('hex') };
  const config = loadConfig({ ...process.env, HEARTH_LOG_LEVEL: 'silent', ...wrong });
  const dataDir = usingPostgres() ? undefined : await copyPgliteTemplate('wrong-key');
  if (dataDir) { // a PGlite database first set up with the test key file's key
    const setUp = await openDb({ dataDir, ...keyOptions(loadConfig(process.env)) });
    await createDeps(loadConfig(process.env), setUp);
    await setUp.close();
  }
  const other = await openDb({ databaseUrl: config.databaseUrl, ...(dataDir ? { dataDir } : {}), ...keyOptions(config) });
  t.teardown(async () => { await other.close(); if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true }); });
  const tenants = async () => (await other.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM ${ident(CONTROL_SCHEMA)}.tenant_key`))[0]!.n;
  const before = await tenants();
  await t.rejects(createDeps(config, other), /key-encryption key \(secret\) is not the one this database's tenant keys are wrapped with.*Nothing was written/);
  t.equal(await tenants(), before, 'no key made');
});
