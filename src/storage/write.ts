/** The versioned write path shared by create, update, patch and delete (http.html#versioning, #concurrency). */
import type { Queryable } from '../db/db.js';
import { preconditionFailed } from '../errors.js';
import type { Resource } from '../fhir/types.js';
import { type Locked, type Versioned, type WriteMethod, claimNew, lockCurrent, writeVersion } from './resources.js';

/** One change, as seen by write hooks. */
export interface Change {
  rid: number;
  type: string;
  id: string;
  /** The stored content; undefined for a delete. */
  resource: Resource | undefined;
  /** True when this row had no version before (nothing derived from it can exist yet). */
  isNew: boolean;
}

/** Called inside the write transaction so that derived rows (search indexes) commit with the resource. */
export type WriteHook = (tx: Queryable, schema: string, change: Change) => Promise<void>;

export interface WriteRequest {
  type: string;
  id: string;
  method: WriteMethod;
  /** The new content; absent for DELETE. */
  resource?: Resource;
  /** Expected current version (If-Match); mismatch → 412. */
  ifMatch?: number;
  /** If-None-Match: * — only create; an existing live resource → 412. */
  createOnly?: boolean;
}

export interface WriteResult {
  /** The version written, or for a delete of nothing, undefined. */
  versioned?: Versioned;
  /** True when no live resource existed before (create, update-as-create, revive). */
  created: boolean;
  previous?: Locked;
}

/** Places id and meta first, with server-assigned versionId and lastUpdated (client values are ignored). */
export function stamp(resource: Resource, id: string, version: number, at: Date): Resource {
  const { resourceType, id: _ignored, meta, ...rest } = resource;
  const { versionId: _v, lastUpdated: _l, ...keptMeta } = meta ?? {};
  return { resourceType, id, meta: { ...keptMeta, versionId: String(version), lastUpdated: at.toISOString() }, ...rest };
}

async function lockOrClaim(tx: Queryable, schema: string, type: string, id: string, at: Date, claim: boolean) {
  for (;;) {
    const current = await lockCurrent(tx, schema, type, id);
    if (current || !claim) return { current, rid: current?.rid };
    const rid = await claimNew(tx, schema, type, id, at);
    if (rid !== undefined) return { current: undefined, rid };
    // Another transaction created it first; loop to lock the committed row.
  }
}

function checkPreconditions(req: WriteRequest, current: Locked | undefined) {
  const live = current && !current.deleted;
  if (req.createOnly && live) throw preconditionFailed(`${req.type}/${req.id} already exists (If-None-Match: *)`);
  if (req.ifMatch !== undefined && (!live || current.version !== req.ifMatch)) {
    throw preconditionFailed(
      `Version mismatch for ${req.type}/${req.id}: If-Match ${req.ifMatch}, current ${live ? current.version : 'none'}`);
  }
}

export async function writeResource(tx: Queryable, schema: string, req: WriteRequest, hooks: WriteHook[] = []): Promise<WriteResult> {
  const at = new Date();
  const { current, rid } = await lockOrClaim(tx, schema, req.type, req.id, at, req.method !== 'DELETE');
  checkPreconditions(req, current);
  const created = !current || current.deleted;
  if (req.method === 'DELETE' && created) return { created: false, ...(current ? { previous: current } : {}) };
  const version = (current?.version ?? 0) + 1;
  const resource = req.resource && stamp(req.resource, req.id, version, at);
  await writeVersion(tx, schema, { rid: rid!, type: req.type, id: req.id, version, lastUpdated: at, method: req.method,
    ...(resource ? { resource } : {}) });
  const change: Change = { rid: rid!, type: req.type, id: req.id, resource, isNew: !current };
  for (const hook of hooks) await hook(tx, schema, change);
  const versioned: Versioned = { type: req.type, id: req.id, versionId: version, lastUpdated: at,
    deleted: req.method === 'DELETE', method: req.method, ...(resource ? { resource } : {}) };
  return { versioned, created, ...(current ? { previous: current } : {}) };
}
