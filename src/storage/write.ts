/** The versioned write path shared by create, update, patch and delete (http.html#versioning, #concurrency). */
import type { Queryable } from '../db/db.js';
import { conflict, preconditionFailed } from '../errors.js';
import type { Resource } from '../fhir/types.js';
import { type Locked, type Versioned, type WriteMethod, insertCreated, insertNew, lockCurrent, writeVersion } from './resources.js';

/** One change, as seen by write hooks. */
export interface Change {
  /** The row's id; undefined while a created row is itself a deferred write (db/deferred.ts). */
  rid?: number;
  type: string;
  id: string;
  /** The stored content; undefined for a delete. */
  resource: Resource | undefined;
  /** True when this row had no version before (nothing derived from it can exist yet). */
  isNew: boolean;
  /** The version written (for a delete: the delete marker's). */
  version: number;
  /** The content replaced or deleted, when there was one. */
  previous?: Resource;
  /** Set by $reindex: rebuild what is derived from the resource, check nothing and change no other resource. */
  replay?: boolean;
}

/**
 * Content a rule fills in before a version is stamped (a ChargeItem's price from the fee schedule): the resource to
 * store instead, or undefined to store it as given.
 */
export type WritePrepare = (tx: Queryable, schema: string, type: string, resource: Resource) => Promise<Resource | undefined>;

/**
 * Called inside the write transaction so that derived rows (search indexes) commit with the resource; `prepare`, when
 * a hook has one, sees the content first.
 */
export type WriteHook = ((tx: Queryable, schema: string, change: Change) => Promise<void>) & { prepare?: WritePrepare };

/** The content to store: req.resource as every hook's `prepare` leaves it. */
export async function prepareContent(tx: Queryable, schema: string, hooks: WriteHook[], type: string,
  resource: Resource): Promise<Resource> {
  let content = resource;
  for (const hook of hooks) if (hook.prepare) content = (await hook.prepare(tx, schema, type, content)) ?? content;
  return content;
}

/**
 * Access checks inside the write transaction (SMART scope narrowing): `before` sees the live version being
 * replaced or deleted, `after` the written one with its index rows. Throwing rolls the write back.
 */
export interface WriteGuard {
  before?(tx: Queryable, id: string): Promise<void>;
  after?(tx: Queryable, change: Change): Promise<void>;
}

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
  /** The current row, when the caller has already locked it in this transaction (no second lookup). */
  locked?: Locked;
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

function checkPreconditions(req: WriteRequest, current: Locked | undefined) {
  const live = current && !current.deleted;
  if (req.createOnly && live) throw preconditionFailed(`${req.type}/${req.id} already exists (If-None-Match: *)`);
  if (req.ifMatch !== undefined && (!live || current.version !== req.ifMatch)) {
    throw preconditionFailed(
      `Version mismatch for ${req.type}/${req.id}: If-Match ${req.ifMatch}, current ${live ? current.version : 'none'}`);
  }
}

function versionOf(req: WriteRequest, version: number, at: Date, resource: Resource | undefined): Versioned {
  return { type: req.type, id: req.id, versionId: version, lastUpdated: at, deleted: req.method === 'DELETE',
    method: req.method, ...(resource ? { resource } : {}) };
}

async function runHooks(tx: Queryable, schema: string, hooks: WriteHook[], change: Change) {
  for (const hook of hooks) await hook(tx, schema, change);
}

/** Version 1 of a (type, id) nobody holds: one INSERT; undefined when a concurrent writer got there first. */
async function tryInsertNew(tx: Queryable, schema: string, req: WriteRequest, at: Date, hooks: WriteHook[],
  guard: WriteGuard | undefined): Promise<WriteResult | undefined> {
  checkPreconditions(req, undefined);
  const resource = stamp(req.resource!, req.id, 1, at);
  const row = { type: req.type, id: req.id, version: 1, lastUpdated: at, method: req.method, resource };
  let rid: number | undefined;
  if (req.method === 'POST') {
    // A fresh server-assigned id: nobody else can hold it, so the insert can wait for the transaction's next statement.
    ({ rid } = await insertCreated(tx, schema, row));
  } else {
    rid = await insertNew(tx, schema, row);
    if (rid === undefined) return undefined;
  }
  const change: Change = { ...(rid !== undefined ? { rid } : {}), type: req.type, id: req.id, resource, isNew: true, version: 1 };
  await runHooks(tx, schema, hooks, change);
  await guard?.after?.(tx, change);
  return { versioned: versionOf(req, 1, at, resource), created: true };
}

export async function writeResource(tx: Queryable, schema: string, request: WriteRequest, hooks: WriteHook[] = [],
  guard?: WriteGuard): Promise<WriteResult> {
  const req = request.resource ? { ...request, resource: await prepareContent(tx, schema, hooks, request.type, request.resource) } : request;
  const at = new Date();
  // A create has a fresh server id: skip the lookup and insert straight away.
  let current = req.method === 'POST' ? undefined : req.locked ?? await lockCurrent(tx, schema, req.type, req.id);
  if (!current && req.method !== 'DELETE') {
    const inserted = await tryInsertNew(tx, schema, req, at, hooks, guard);
    if (inserted) return inserted;
    current = await lockCurrent(tx, schema, req.type, req.id);
  }
  if (!current && req.method !== 'DELETE') throw conflict(`${req.type}/${req.id} changed concurrently; retry`);
  if (current && !current.deleted) await guard?.before?.(tx, req.id);
  checkPreconditions(req, current);
  if (!current || (req.method === 'DELETE' && current.deleted)) return { created: false, ...(current ? { previous: current } : {}) };
  const version = current.version + 1;
  const resource = req.resource && stamp(req.resource, req.id, version, at);
  await writeVersion(tx, schema, { rid: current.rid, type: req.type, id: req.id, version, lastUpdated: at, method: req.method,
    ...(resource ? { resource } : {}) });
  const change: Change = { rid: current.rid, type: req.type, id: req.id, resource, isNew: false, version,
    ...(current.resource ? { previous: current.resource } : {}) };
  await runHooks(tx, schema, hooks, change);
  await guard?.after?.(tx, change);
  return { versioned: versionOf(req, version, at, resource), created: current.deleted, previous: current };
}
