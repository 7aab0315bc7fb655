/**
 * A change the server makes to another resource in the writer's transaction (a Slot's status following its Appointment,
 * an order completed by its final report): a new version through the ordinary write path, so that history, search
 * indexes and the other rules see it as they see a client's write.
 */
import type { Queryable } from '../db/db.js';
import type { Resource } from '../fhir/types.js';
import { type Locked, lockCurrent } from '../storage/resources.js';
import { type WriteHook, writeResource } from '../storage/write.js';

/** The hooks every write runs (deps.writeHooks), handed over late: the rules are themselves among them. */
export type AllHooks = () => WriteHook[];

/**
 * Writes `edit(current)` as the next version of type/id (`locked`: its row, when the caller locked it already); `edit` returns undefined when nothing needs changing (then no
 * version is written). Returns the written content, or undefined when the resource is absent, deleted or unchanged.
 */
export async function amend(tx: Queryable, schema: string, hooks: AllHooks, type: string, id: string,
  edit: (current: Resource) => Resource | undefined, locked?: Locked): Promise<Resource | undefined> {
  const current = locked ?? await lockCurrent(tx, schema, type, id);
  if (!current || current.deleted || !current.resource) return undefined;
  const next = edit(current.resource);
  if (!next) return undefined;
  const written = await writeResource(tx, schema, { type, id, method: 'PUT', resource: next, ifMatch: current.version,
    locked: current }, hooks());
  return written.versioned?.resource;
}

/** The id of a relative reference to `type` ('Slot/1', 'Slot/1/_history/2'), else undefined. */
export function localId(reference: unknown, type: string): string | undefined {
  if (typeof reference !== 'string') return undefined;
  const m = /^([A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/.exec(reference);
  return m && m[1] === type ? m[2] : undefined;
}

/** The ids of local references to `type` among `refs` (Reference elements), in order, without repeats. */
export function localIds(refs: unknown, type: string): string[] {
  if (!Array.isArray(refs)) return [];
  const ids = refs.map((r) => localId((r as { reference?: unknown } | null)?.reference, type));
  return [...new Set(ids.filter((id): id is string => id !== undefined))];
}
