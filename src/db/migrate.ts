/** Forward-only, checksummed SQL migrations for the control schema and each tenant schema (ARCHITECTURE §3). */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Db, Queryable } from './db.js';
import { ident, sql } from './sql.js';

export interface Migration {
  version: number;
  name: string;
  text: string;
  checksum: string;
}

export const CONTROL_SCHEMA = 'hearth';

export function loadMigrations(dir: string): Migration[] {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.sql')).sort();
  return files.map((file, i) => {
    const m = /^(\d{3})_([a-z0-9_]+)\.sql$/.exec(file);
    if (!m) throw new Error(`Migration file name must be NNN_name.sql: ${file}`);
    const version = Number(m[1]);
    if (version !== i + 1) throw new Error(`Migrations must be numbered 001, 002, … without gaps: ${file}`);
    const text = fs.readFileSync(path.join(dir, file), 'utf8');
    const checksum = crypto.createHash('sha256').update(text).digest('hex');
    return { version, name: m[2]!, text, checksum };
  });
}

/** Applies pending migrations to one schema inside one transaction under an advisory lock. Returns versions applied. */
export async function migrateSchema(db: Db, schema: string, migrations: Migration[],
  guard?: (tx: Queryable) => Promise<boolean>): Promise<number[]> {
  return db.transaction(async (tx) => {
    // The guard (e.g. "the tenant still exists", holding its row) runs first: nothing happens when it says no.
    if (guard && !(await guard(tx))) return [];
    await tx.query(sql`SELECT pg_advisory_xact_lock(hashtext(${`hearth.migrate.${schema}`}))`);
    await tx.query(sql`CREATE SCHEMA IF NOT EXISTS ${ident(schema)}`);
    await tx.query(sql`CREATE TABLE IF NOT EXISTS ${ident(schema)}.schema_migration (
      version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now())`);
    const applied = await tx.query<{ version: number; checksum: string; name: string }>(
      sql`SELECT version, checksum, name FROM ${ident(schema)}.schema_migration ORDER BY version`);
    verifyApplied(schema, applied, migrations);
    const pending = migrations.filter((m) => !applied.some((a) => a.version === m.version));
    // Tenant SQL files are unqualified; SET LOCAL confines the search_path to this transaction.
    await tx.query(sql`SET LOCAL search_path TO ${ident(schema)}`);
    for (const m of pending) await applyOne(tx, schema, m);
    return pending.map((m) => m.version);
  }, { retries: 0 });
}

function verifyApplied(schema: string, applied: { version: number; checksum: string; name: string }[], migrations: Migration[]) {
  for (const a of applied) {
    const m = migrations.find((x) => x.version === a.version);
    if (!m) throw new Error(`Schema ${schema} has migration ${a.version} (${a.name}) that this version of Hearth does not know`);
    if (m.checksum !== a.checksum) {
      throw new Error(`Migration ${a.version} (${a.name}) of schema ${schema} was changed after it was applied`);
    }
  }
}

async function applyOne(tx: Queryable, schema: string, m: Migration) {
  await tx.exec(m.text);
  await tx.query(sql`INSERT INTO ${ident(schema)}.schema_migration (version, name, checksum)
    VALUES (${m.version}, ${m.name}, ${m.checksum})`);
}

/** True when every migration is applied to the schema (readiness). */
export async function isMigrated(db: Queryable, schema: string, migrations: Migration[]): Promise<boolean> {
  const rows = await db.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM ${ident(schema)}.schema_migration`);
  return rows[0]?.n === migrations.length;
}
