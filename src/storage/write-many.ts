/**
 * Many client-id writes in one transaction with PUT semantics (Bulk `$import`, issue #14 §3): one statement locks the
 * current rows of every (type, id), then every new row, new version and index row is a deferred write
 * (db/deferred.ts) — a batch of hundreds of resources costs two statements and a commit.
 */
import type { Queryable } from '../db/db.js';
import { deferring } from '../db/deferred.js';
import { ident, sql } from '../db/sql.js';
import type { Resource } from '../fhir/types.js';
import { deferNew, deferVersion } from './deferred-writes.js';
import { type Change, type WriteHook, prepareContent, stamp, writeResource } from './write.js';

export interface PutRequest { type: string; id: string; resource: Resource }

/** The (type, id) pairs must be distinct within one call: a repeated one belongs in the next batch. */
export async function writeMany(tx: Queryable, schema: string, reqs: PutRequest[], hooks: WriteHook[]): Promise<{ created: number; updated: number }> {
  if (!deferring(tx)) {
    // Not in a transaction of db.transaction(): one write at a time, as an update would.
    let created = 0;
    for (const r of reqs) if ((await writeResource(tx, schema, { ...r, method: 'PUT' }, hooks)).created) created++;
    return { created, updated: reqs.length - created };
  }
  const at = new Date();
  // Locked in rid order, as every writer locks one row at a time, so that two batches cannot deadlock each other.
  const rows = await tx.query<{ rid: number; type: string; id: string; version: number }>(sql`SELECT r.rid, r.type, r.id, r.version
    FROM ${ident(schema)}.resource r JOIN unnest(${reqs.map((r) => r.type)}::text[], ${reqs.map((r) => r.id)}::text[]) AS k(type, id)
      ON r.type = k.type AND r.id = k.id
    ORDER BY r.rid FOR UPDATE OF r`);
  const current = new Map(rows.map((r) => [`${r.type}/${r.id}`, r]));
  for (const req of reqs) {
    const found = current.get(`${req.type}/${req.id}`);
    const version = found ? found.version + 1 : 1;
    const resource = stamp(await prepareContent(tx, schema, hooks, req.type, req.resource), req.id, version, at);
    const row = { type: req.type, id: req.id, at, method: 'PUT' as const, content: resource };
    if (found) await deferVersion(tx, schema, { ...row, rid: found.rid, version });
    else await deferNew(tx, schema, row);
    const change: Change = { ...(found ? { rid: found.rid } : {}), type: req.type, id: req.id, resource, isNew: !found, version };
    for (const hook of hooks) await hook(tx, schema, change);
  }
  return { created: reqs.length - rows.length, updated: rows.length };
}
