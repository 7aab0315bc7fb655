/**
 * Audit retention (issue #6 §7, audit-event.md §8.3): monthly partitions older than the tenant's retention period
 * (default 72 months = 6 years) are exported to NDJSON with the seals that cover them, then dropped. Only fully
 * sealed partitions go (in files sealed with the tenant's key, bodies opened inside); the archive is recorded so that verification starts after it, and the purge is audited.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Db, Queryable } from '../db/db.js';
import { ident, sql } from '../db/sql.js';
import type { Tenant } from '../storage/tenants.js';
import { lastSeal, utc } from './chain.js';
import { monthStart } from '../db/partitions.js';
import { declareCursor } from '../db/cursor.js';
import { FileCipher, openWriter, readFile } from '../db/sealed-file.js';

interface PartitionRow { name: string; bound: string }

export interface Archived { partition: string; events: number; file: string }

/** The monthly partitions of audit_event with their [from, to) bounds, oldest first. */
async function partitions(db: Db, schema: string): Promise<{ name: string; from: Date; to: Date }[]> {
  const rows = await db.query<PartitionRow>(sql`SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
    JOIN pg_namespace n ON n.oid = p.relnamespace WHERE n.nspname = ${schema} AND p.relname = 'audit_event'`);
  return rows.flatMap((r) => {
    const m = /FROM \('([^']+)'\) TO \('([^']+)'\)/.exec(r.bound);
    return m ? [{ name: r.name, from: new Date(m[1]!), to: new Date(m[2]!) }] : [];
  }).sort((a, b) => a.from.getTime() - b.from.getTime());
}

/**
 * How an archive file is sealed (db/sealed-file.ts): under the tenant's data key, bound to the file's name — the
 * rekey job rewrites archives under a new key like any other file (bulk/reseal.ts).
 */
export const archiveCipher = (db: Queryable, schema: string, file: string): FileCipher | undefined =>
  db.keyring ? new FileCipher(db.keyring, schema, `audit-archive\0${path.basename(file)}`, path.basename(file)) : undefined;

/** Writes lines to a file atomically (a .partial file, fsynced, then renamed), sealed when the tenant has a key. */
async function writeLines(db: Queryable, schema: string, file: string,
  fill: (write: (line: string) => Promise<void>) => Promise<void>): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const out = await openWriter(`${file}.partial`, 0, archiveCipher(db, schema, file));
  try {
    // Lines go out a batch at a time: a sealed file's frames then hold many lines each.
    let batch: string[] = [];
    await fill(async (line) => {
      batch.push(line);
      if (batch.length >= 500) {
        await out.write(`${batch.join('\n')}\n`);
        batch = [];
      }
    });
    if (batch.length > 0) await out.write(`${batch.join('\n')}\n`);
    await out.sync();
  } finally {
    await out.close();
  }
  await fs.rename(`${file}.partial`, file);
}

/** An archive file's text (opened with the tenant's key when sealed); undefined when it does not exist. */
export async function readArchive(db: Queryable, schema: string, file: string): Promise<string | undefined> {
  const opened = await readFile(file, archiveCipher(db, schema, file));
  return opened ? Buffer.concat(await opened.stream.toArray() as Buffer[]).toString('utf8') : undefined;
}

/**
 * An event's line as stored — row_to_json keeps the resource's JSON text as the digest covers it — with a sealed
 * body opened into `content` (the file is sealed instead), so the archive verifies against its seals with no key
 * version the database may since have destroyed.
 */
async function archiveLine(tx: Queryable, schema: string, r: { row: string; id: string; sealed: Buffer | null }): Promise<string> {
  if (!r.sealed) return r.row;
  const sealed = Buffer.from(r.sealed);
  const text = await tx.keyring!.openText(schema, 'AuditEvent', r.id, 1, sealed);
  const stored = `"sealed":"\\\\x${sealed.toString('hex')}"`;
  if (!r.row.includes('"content":null') || !r.row.includes(stored)) throw new Error(`AuditEvent/${r.id}: unexpected archive row shape`);
  return r.row.replace('"content":null', `"content":${text}`).replace(`,${stored}`, '').replace(`${stored},`, '');
}

/**
 * Archives and drops one expired partition; undefined when some of its events are not sealed yet, 'gone' when another
 * run (another node, or a tenant's own retention call) archived it meanwhile. The tenant's retention lock, taken
 * first in the transaction, keeps two runs from writing the same archive file.
 */
async function archivePartition(db: Db, tenant: Tenant, dir: string, p: { name: string; from: Date; to: Date }): Promise<Archived | 'gone' | undefined> {
  const schema = tenant.schema;
  const part = sql`${ident(schema)}.${ident(p.name)}`;
  const seal = await lastSeal(db, schema);
  const [{ unsealed }] = await db.query<{ unsealed: number | string }>(sql`SELECT count(*) AS unsealed FROM ${part}
    WHERE xid >= ${String(seal?.xid_to ?? '0')}::bigint`) as [{ unsealed: number | string }];
  if (Number(unsealed) > 0) return undefined;
  const file = path.join(dir, tenant.slug, `${p.name}.ndjson`);
  let events = 0;
  const gone = await db.transaction(async (tx) => {
    await tx.query(sql`SELECT pg_advisory_xact_lock(hashtext(${`hearth.audit.retention.${schema}`}))`);
    if (!(await partitionExists(tx, schema, p.name))) return true;
    // row_to_json keeps the resource's JSON text as stored (the digest covers it), so the archive can be re-verified
    // against its seals; instants in UTC as the digests hold them
    await utc(tx);
    await writeLines(tx, schema, file, (write) => declareCursor<{ row: string; id: string; sealed: Buffer | null }>(tx,
      sql`SELECT row_to_json(e)::text AS row, e.id::text AS id, e.sealed FROM ${part} e ORDER BY xid, seq`, 2000,
      async (rows) => { for (const r of rows) await write(await archiveLine(tx, schema, r)); events += rows.length; }));
    await writeLines(tx, schema, file.replace(/\.ndjson$/, '.seals.ndjson'), (write) => declareCursor<{ row: string }>(tx,
      sql`SELECT to_jsonb(s)::text AS row FROM ${ident(schema)}.audit_seal s WHERE first_recorded < ${p.to}
        AND last_recorded >= ${p.from} ORDER BY seal_no`, 100, async (rows) => { for (const r of rows) await write(r.row); }));
    const [{ through }] = await tx.query<{ through: number | string | null }>(sql`SELECT max(seal_no) AS through
      FROM ${ident(schema)}.audit_seal WHERE last_recorded < ${p.to}`) as [{ through: number | string | null }];
    await tx.query(sql`INSERT INTO ${ident(schema)}.audit_archive (partition, range_from, range_to, events, through_seal, location)
      VALUES (${p.name}, ${p.from}, ${p.to}, ${events}, ${through === null ? null : Number(through)}, ${file})`);
    await tx.query(sql`DROP TABLE ${part}`);
    return false;
  });
  return gone ? 'gone' : { partition: p.name, events, file };
}

async function partitionExists(db: Queryable, schema: string, name: string): Promise<boolean> {
  const rows = await db.query(sql`SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = ${schema} AND c.relname = ${name}`);
  return rows.length > 0;
}

/** Archives every expired, fully sealed partition of the tenant, oldest first. */
export async function applyRetention(db: Db, tenant: Tenant, archiveDir: string, now: Date): Promise<Archived[]> {
  const [{ months }] = await db.query<{ months: number }>(sql`SELECT retention_months AS months
    FROM ${ident(tenant.schema)}.audit_setting`) as [{ months: number }];
  const cutoff = monthStart(now, -months);
  const done: Archived[] = [];
  for (const p of await partitions(db, tenant.schema)) {
    if (p.to.getTime() > cutoff.getTime()) break;
    let archived: Archived | 'gone' | undefined;
    try {
      archived = await archivePartition(db, tenant, archiveDir, p);
    } catch (e) {
      // Another run (another node, or a tenant's own retention call) archived and dropped it meanwhile: leave the rest
      // to that run, which keeps the order.
      if ((e as { code?: unknown }).code === '42P01' && !(await partitionExists(db, tenant.schema, p.name))) break;
      throw e;
    }
    // keep the order: a later partition never goes before an earlier one; one archived meanwhile leaves the rest to
    // the run that archived it
    if (!archived || archived === 'gone') break;
    done.push(archived);
  }
  return done;
}

export async function setRetention(db: Db, tenant: Tenant, months: number): Promise<void> {
  await db.query(sql`UPDATE ${ident(tenant.schema)}.audit_setting SET retention_months = ${months}`);
}

export async function getRetention(db: Db, tenant: Tenant): Promise<number> {
  const rows = await db.query<{ months: number }>(sql`SELECT retention_months AS months FROM ${ident(tenant.schema)}.audit_setting`);
  return Number(rows[0]?.months ?? 72);
}
