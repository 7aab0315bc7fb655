/**
 * Where AuditEvents go (issue #6 §3, audit-event.md §2.5): into the caller's transaction when there is a change to
 * commit with, otherwise into a group commit that many concurrent requests share — each caller resumes only once
 * its events are durable, so no response is sent before its audit record.
 */
import type { Db, Queryable } from '../db/db.js';
import type { Resource } from '../fhir/types.js';
import { auditRow } from './columns.js';
import { insertAuditRows } from './store.js';

interface Pending { schema: string; events: Resource[] }

interface Batch {
  items: Pending[];
  done: Promise<void>;
  resolve: () => void;
  reject: (e: unknown) => void;
}

function newBatch(): Batch {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const done = new Promise<void>((res, rej) => { resolve = res; reject = rej; });
  done.catch(() => undefined); // each caller awaits it; an unawaited rejection is not a crash
  return { items: [], done, resolve, reject };
}

export class AuditLog {
  private next: Batch | undefined;
  private flushing: Promise<void> | undefined;

  /** enabled=false only for measuring what auditing costs (HEARTH_AUDIT=off; the benchmark's baseline). */
  constructor(private readonly db: Db, readonly enabled: boolean, readonly now: () => Date = () => new Date()) {}

  /** Inserts events in the given transaction: they commit, or roll back, with it. */
  async insert(tx: Queryable, schema: string, events: Resource[], clientReported = false): Promise<void> {
    if (!this.enabled || events.length === 0) return;
    await insertAuditRows(tx, schema, events.map((e) => auditRow(e, clientReported)));
  }

  /** Resolves once the events are committed, together with whatever other requests recorded meanwhile. */
  record(schema: string, events: Resource[]): Promise<void> {
    if (!this.enabled || events.length === 0) return Promise.resolve();
    const batch = this.next ??= newBatch();
    batch.items.push({ schema, events });
    if (!this.flushing) this.flushing = this.drain();
    return batch.done;
  }

  /** Commits batches one after another; requests arriving during a commit join the next one. */
  private async drain(): Promise<void> {
    await Promise.resolve(); // let the requests of this tick join the first batch
    while (this.next) {
      const batch = this.next;
      this.next = undefined;
      try {
        await this.db.transaction(async (tx) => {
          const bySchema = new Map<string, Resource[]>();
          for (const { schema, events } of batch.items) bySchema.set(schema, [...(bySchema.get(schema) ?? []), ...events]);
          for (const [schema, events] of bySchema) await insertAuditRows(tx, schema, events.map((e) => auditRow(e, false)));
        });
        batch.resolve();
      } catch (e) {
        batch.reject(e);
      }
    }
    this.flushing = undefined;
  }

  /** Waits for every event recorded so far (graceful shutdown). */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
  }
}
