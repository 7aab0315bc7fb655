/**
 * The two passes of an export job, each over keyset pages in rid order: the resources (output files) and, with
 * _since, the deletions (deleted files of one-entry transaction Bundles, bulk-data.md §5.5). Memory stays flat: one
 * page at a time, its size adapted to the rows' size, its lines appended to the files before the next page is read.
 * Lines are the stored JSON text as PostgreSQL prints it (content::text): no parsing or serialising per resource
 * unless _elements asks for a subset.
 */
import type { Db } from '../db/db.js';
import { type Sql, ident, sql } from '../db/sql.js';
import type { Definitions } from '../fhir/definitions.js';
import { subset } from '../fhir/subset.js';
import type { Resource } from '../fhir/types.js';
import { patientCompartment } from '../search/compartment.js';
import { extractIndexRows } from '../search/extract.js';
import type { SearchRegistry } from '../search/registry.js';
import type { OutputFiles } from './output.js';
import { elementsFor } from './plan.js';
import { type DeletedPlan, type ScanPlan, deletedPage, scanPage } from '../storage/as-of.js';

export interface PageOptions {
  /** Most rows per page. */
  pageSize: number;
  /** Least time between checkpoints (each syncs the files and saves the cursor). */
  checkpointMs: number;
}

/** Characters per page aimed at: pages of large resources shrink, down to a single row. */
const PAGE_CHARS = 8 << 20;

/** One page read and written: how many rows, the last rid, and their size in characters. */
interface Page { rows: number; last: number; chars: number }

/** Pages after cursor until none is left (next answers undefined); answers the last rid. */
async function runPages(next: (cursor: number, limit: number) => Promise<Page | undefined>,
  checkpoint: (cursor: number) => Promise<void>, cursor: number, o: PageOptions): Promise<number> {
  let limit = o.pageSize;
  let saved = Date.now();
  for (;;) {
    const page = await next(cursor, limit);
    if (!page) break;
    cursor = page.last;
    if (page.rows < limit) break;
    if (page.chars > PAGE_CHARS) limit = Math.max(1, Math.floor(limit / 2));
    else if (page.chars < PAGE_CHARS / 4) limit = Math.min(o.pageSize, limit * 2);
    if (Date.now() - saved >= o.checkpointMs) {
      await checkpoint(cursor);
      saved = Date.now();
    }
  }
  await checkpoint(cursor);
  return cursor;
}

export interface PassContext {
  db: Db;
  defs: Definitions;
  files: OutputFiles;
  /** Saves the cursor and the count of lines written (after the files' checkpoint). */
  checkpoint(cursor: number, written: number): Promise<void>;
  options: PageOptions;
}

/** content: the JSON text of a version stored in clear, the opened resource of an encrypted one (storage/as-of.ts). */
interface ScanRow { rid: number; type: string; content: string | Resource }

export const jsonText = (content: string | Resource): string => (typeof content === 'string' ? content : JSON.stringify(content));
const parsed = (content: string | Resource): Resource => (typeof content === 'string' ? JSON.parse(content) as Resource : content);

/**
 * Page queries run with JIT off: a page is too short to repay compiling it (measured ~45 ms of a ~150 ms page on
 * PostgreSQL 15, whose cost estimate for the version subqueries crosses jit_above_cost).
 */
function pageQuery<T>(db: Db, q: Sql): Promise<T[]> {
  return db.transaction(async (tx) => {
    await tx.query(sql`SET LOCAL jit = off`);
    return tx.query<T>(q);
  }, { retries: 0 });
}

/** One page: its lines grouped per type, each group appended as one block (no await per resource). */
async function scanOnePage(pc: PassContext, plan: ScanPlan, cursor: number, limit: number,
  subsets: Map<string, string[] | undefined>): Promise<Page | undefined> {
  const rows = await pageQuery<ScanRow>(pc.db, scanPage(plan, cursor, limit));
  if (rows.length === 0) return undefined;
  const byType = new Map<string, string[]>();
  let chars = 0;
  for (const r of rows) {
    const only = subsets.get(r.type);
    const line = only ? JSON.stringify(subset(pc.defs, parsed(r.content), undefined, only)) : jsonText(r.content);
    const lines = byType.get(r.type);
    if (lines) lines.push(line);
    else byType.set(r.type, [line]);
    chars += line.length;
  }
  for (const [type, lines] of byType) await pc.files.appendBlock('output', type, lines.join('\n'), lines.length);
  await pc.files.flush();
  return { rows: rows.length, last: Number(rows[rows.length - 1]!.rid), chars };
}

/** The output files: each resource's JSON as stored (or its _elements subset), one line per resource. */
export async function scanPass(pc: PassContext, plan: ScanPlan, cursor: number, elements: string[] | undefined): Promise<number> {
  let written = 0;
  const subsets = new Map(plan.types.map((t) => [t, elementsFor(elements, t)]));
  return runPages(async (c, limit) => {
    const page = await scanOnePage(pc, plan, c, limit, subsets);
    written += page?.rows ?? 0;
    return page;
  }, async (c) => { await pc.checkpoint(c, written); written = 0; }, cursor, pc.options);
}

interface DeletedRow { rid: number; type: string; id: string; content?: string | Resource | null }

/**
 * Patient level: a deleted resource is reported when its last live version was in the compartment of a patient of
 * the export (its references re-extracted with the tenant's search parameters, as the index had them).
 */
async function inCompartments(db: Db, registry: SearchRegistry, plan: DeletedPlan, rows: DeletedRow[]): Promise<DeletedRow[]> {
  const refs = new Map<DeletedRow, string[]>();
  for (const r of rows) {
    if (r.type === 'Patient' || !r.content) continue;
    const params = patientCompartment().get(r.type) ?? [];
    const found = extractIndexRows(registry, parsed(r.content)).reference
      .filter((x) => x.ref_type === 'Patient' && x.ref_id !== null && params.includes(x.param)).map((x) => x.ref_id!);
    refs.set(r, found);
  }
  const ids = [...new Set([...refs.values()].flat())];
  const known = new Set(ids.length === 0 ? [] : (await db.query<{ id: string }>(sql`SELECT id FROM ${ident(plan.schema)}.export_patient
    WHERE job = ${plan.job} AND id = ANY(${ids})`)).map((x) => x.id));
  return rows.filter((r) => r.type === 'Patient' || (refs.get(r) ?? []).some((id) => known.has(id)));
}

/** The deleted files: one transaction Bundle with one DELETE entry per deleted resource. */
export async function deletedPass(pc: PassContext, plan: DeletedPlan, registry: SearchRegistry, cursor: number): Promise<number> {
  if (plan.types.length === 0) return cursor;
  return runPages(async (c, limit) => {
    const rows = await pageQuery<DeletedRow>(pc.db, deletedPage(plan, c, limit));
    if (rows.length === 0) return undefined;
    const kept = plan.patientLevel ? await inCompartments(pc.db, registry, plan, rows) : rows;
    for (const r of kept) {
      await pc.files.appendBlock('deleted', 'Bundle', JSON.stringify({ resourceType: 'Bundle', type: 'transaction',
        entry: [{ request: { method: 'DELETE', url: `${r.type}/${r.id}` } }] }), 1);
    }
    await pc.files.flush();
    return { rows: rows.length, last: Number(rows[rows.length - 1]!.rid), chars: rows.reduce((n, r) => n + (r.content ? jsonText(r.content).length : 64), 0) };
  }, (c) => pc.checkpoint(c, 0), cursor, pc.options);
}
