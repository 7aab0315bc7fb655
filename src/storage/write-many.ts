/**
 * Many client-id writes in one transaction with PUT semantics (Bulk `$import`, issue #14 §3): one statement locks the
 * current rows of every (type, id), then every new row, new version and index row is a deferred write
 * (db/deferred.ts) — a batch of hundreds of resources costs two statements and a commit.
 */
import type { Queryable } from '../db/db.js';
import { ident, sql } from '../db/sql.js';
import type { Resource } from '../fhir/types.js';
import { deferNew, deferVersion } from './deferred-writes.js';
import { type Change, type WriteHook, stamp, writeResource } from './write.js';

export interface PutRequest { type: string; id: string; resource: Resource }

/** The (type, id) pairs must be distinct within one call: a repeated one belongs in the next batch. */
export async function writeMany(tx: Queryable, schema: string, reqs: PutRequest[], hooks: WriteHook[]): Promise<{ created: number; updated: number }> {
  const at = new Date();
  const types = reqs.map((r) => r.type);
  const ids = reqs.map((r) => r.id);
  // Locked in rid order, as every writer locks one row at a time, so that two batches cannot deadlock each other.
  const rows = await tx.query<{ rid: number; type: string; id: string; version: number }>(sql`SELECT r.rid, r.type, r.id, r.version
    FROM ${ident(schema)}.resource r JOIN unnest(${types}::text[], ${ids}::text[]) AS k(type, id) ON r.type = k.type AND r.id = k.id
    ORDER BY r.rid FOR UPDATE OF r`);
  const current = new Map(rows.map((r) => [`${r.type}/${r.id}`, r]));
  let created = 0;
  for (const req of reqs) {
    const found = current.get(`${req.type}/${req.id}`);
    const version = found ? found.version + 1 : 1;
    const resource = stamp(req.resource, req.id, version, at);
    let change: Change;
    if (found) {
      if (!(await deferVersion(tx, schema, { rid: found.rid, type: req.type, id: req.id, version, at, method: 'PUT', content: resource }))) {
        await writeResource(tx, schema, { type: req.type, id: req.id, method: 'PUT', resource: req.resource }, hooks);
        continue;
      }
      change = { rid: found.rid, type: req.type, id: req.id, resource, isNew: false, version };
    } else {
      if (!(await deferNew(tx, schema, { type: req.type, id: req.id, at, method: 'PUT', content: resource }))) {
        await writeResource(tx, schema, { type: req.type, id: req.id, method: 'PUT', resource: req.resource }, hooks);
        created++;
        continue;
      }
      change = { type: req.type, id: req.id, resource, isNew: true, version: 1 };
      created++;
    }
    for (const hook of hooks) await hook(tx, schema, change);
  }
  return { created, updated: reqs.length - created };
}
