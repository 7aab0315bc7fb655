/** FHIR delete — https://hl7.org/fhir/R4/http.html#delete */
import type { Queryable } from '../db/db.js';
import { badRequest, tooCostly } from '../errors.js';
import { etag } from '../fhir/etag.js';
import { param } from '../fhir/request.js';
import { referrersOf } from '../storage/links.js';
import { writeResource } from '../storage/write.js';
import { type Context, type Deps, inTransaction, writeGuard } from './context.js';
import { type FhirRequest, type FhirResult } from '../fhir/request.js';
import { versionPreconditions } from './update.js';

export function assertEmptyBody(req: FhirRequest): void {
  const b = req.body;
  if (b !== undefined && b !== null && !(typeof b === 'string' && b.length === 0)) {
    throw badRequest('A delete request must not have a body');
  }
}

/** Resources one `_cascade=delete` may delete besides its target. */
export const CASCADE_LIMIT = 1000;

/** `_cascade=delete` (the name HAPI FHIR gives it): true when asked, 400 for any other value. */
export function cascadeRequested(req: FhirRequest): boolean {
  const value = param(req.query, '_cascade');
  if (value === undefined) return false;
  if (value !== 'delete') throw badRequest(`_cascade must be 'delete', not '${value}'`, ['_cascade']);
  return true;
}

/**
 * Deletes, in the delete's transaction, every live resource that refers to (type, id), then what refers to those,
 * and so on: each is a delete of its own (scope and compartment checks, version, AuditEvent). Referential integrity
 * (migrations/tenant/020) then finds no referrer left at commit.
 */
async function deleteReferrers(tx: Queryable, deps: Deps, ctx: Context, type: string, id: string): Promise<void> {
  const schema = ctx.tenant.schema;
  const seen = new Set([`${type}/${id}`]);
  const queue = [{ type, id }];
  for (let next = queue.shift(); next; next = queue.shift()) {
    for (const r of await referrersOf(tx, schema, next.type, next.id, CASCADE_LIMIT + 1)) {
      const key = `${r.type}/${r.id}`;
      if (seen.has(key)) continue;
      seen.add(key);
      if (seen.size > CASCADE_LIMIT + 1) {
        throw tooCostly(`_cascade=delete would delete more than ${CASCADE_LIMIT} resources; delete some of them first`);
      }
      await writeResource(tx, schema, { type: r.type, id: r.id, method: 'DELETE' }, deps.writeHooks, writeGuard(ctx, r.type, 'd'));
      queue.push(r);
    }
  }
}

/** Deleting a missing or already-deleted resource is no error: 204 all the same. */
export async function deleteResource(deps: Deps, ctx: Context, req: FhirRequest, type: string, id: string): Promise<FhirResult> {
  assertEmptyBody(req);
  const cascade = cascadeRequested(req);
  const { ifMatch } = versionPreconditions({ ...req, headers: { ...req.headers, ifNoneMatch: undefined } });
  const guard = writeGuard(ctx, type, 'd');
  const { versioned } = await inTransaction(deps, ctx, async (tx) => {
    const written = await writeResource(tx, ctx.tenant.schema, { type, id, method: 'DELETE', ...(ifMatch !== undefined ? { ifMatch } : {}) },
      deps.writeHooks, guard);
    if (cascade) await deleteReferrers(tx, deps, ctx, type, id);
    return written;
  });
  return { status: 204, ...(versioned ? { etag: etag(versioned.versionId), lastModified: versioned.lastUpdated } : {}) };
}
