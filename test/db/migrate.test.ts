import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { loadAllMigrations } from '../../src/app.js';
import { loadMigrations, migrateSchema } from '../../src/db/migrate.js';
import { DataDirLockedError, lockDataDir, openDb } from '../../src/db/open.js';
import { sql } from '../../src/db/sql.js';

const open = () => openDb({ databaseUrl: process.env.DATABASE_URL || undefined, poolSize: 2 });

t.test('migrations: applied once, recorded with checksums, and a changed applied file stops the start', async (t) => {
  const db = await open();
  const schema = `mig_test_${process.pid}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-mig-'));
  fs.writeFileSync(path.join(dir, '001_one.sql'), 'CREATE TABLE one (x int);');
  t.same(await migrateSchema(db, schema, loadMigrations(dir)), [1]);
  t.same(await migrateSchema(db, schema, loadMigrations(dir)), [], 'second run applies nothing');
  fs.writeFileSync(path.join(dir, '002_two.sql'), 'CREATE TABLE two (y int); INSERT INTO two VALUES (1);');
  t.same(await migrateSchema(db, schema, loadMigrations(dir)), [2], 'only the new one');
  fs.writeFileSync(path.join(dir, '001_one.sql'), 'CREATE TABLE one (x bigint);');
  await t.rejects(migrateSchema(db, schema, loadMigrations(dir)), /changed after it was applied/);
  fs.writeFileSync(path.join(dir, '004_gap.sql'), 'SELECT 1;');
  t.throws(() => loadMigrations(dir), /without gaps/);
  await db.exec(`DROP SCHEMA ${schema} CASCADE`);
  await db.close();
});

t.test('a failing migration leaves nothing behind', async (t) => {
  const db = await open();
  const schema = `mig_fail_${process.pid}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-mig-'));
  fs.writeFileSync(path.join(dir, '001_ok.sql'), 'CREATE TABLE ok (x int);');
  fs.writeFileSync(path.join(dir, '002_bad.sql'), 'CREATE TABLE bad (x nosuchtype);');
  await t.rejects(migrateSchema(db, schema, loadMigrations(dir)));
  const rows = await db.query(sql`SELECT 1 FROM information_schema.schemata WHERE schema_name = ${schema}`);
  t.equal(rows.length, 0, 'schema creation rolled back too');
  await db.close();
});

t.test('the shipped migrations load in order', async (t) => {
  const m = loadAllMigrations();
  t.ok(m.control.length >= 1);
  t.ok(m.tenant.length >= 1);
  t.same(m.tenant.map((x) => x.version), m.tenant.map((_, i) => i + 1));
});

t.test('the PGlite data directory is locked against a second process', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-lock-'));
  const unlock = lockDataDir(dir);
  t.throws(() => lockDataDir(dir), DataDirLockedError, 'held by a live process → refused');
  unlock();
  fs.writeFileSync(path.join(dir, 'hearth.lock'), '999999999');
  const again = lockDataDir(dir);
  t.ok(again, 'a stale lock from a dead process is taken over');
  again();
  const db = await openDb({ dataDir: dir });
  await t.rejects(openDb({ dataDir: dir }), DataDirLockedError, 'second open of the same directory refused');
  await db.close();
  const reopened = await openDb({ dataDir: dir });
  await reopened.close();
});
