/**
 * Where AuditEvents go (issue #6 §3, audit-event.md §2.5): into the caller's transaction when there is a change to
 * commit with, otherwise into a group commit that many concurrent requests share — each caller resumes only once
 * its events are durable, so no response is sent before its audit record.
 */
import type { Db, Queryable } from '../db/db.js';
import type { Resource } from '../fhir/types.js';
import { auditRow } from './columns.js';
import { GroupCommit } from '../db/group-commit.js';
import { auditPending, deferAuditRows, insertAuditRows } from './store.js';

/**
 * Commits in flight at once. One: requests arriving during a commit share the next one, so batches grow with load —
 * measured on PostgreSQL (bench audit suite), 0.74 of unaudited reads/s with one in flight against 0.65–0.68 with
 * four, whose smaller batches cost more statements (~0.9 ms for a one-row INSERT, ~0.16 ms a row at 48 a batch).
 */
const IN_FLIGHT = 1;
/** Events of one request beyond this many parameters are inserted at once rather than merged into a group. */
const MAX_GROUPED_WEIGHT = 30000;

export class AuditLog {
  private readonly group: GroupCommit;

  /**
   * enabled=false only for measuring what auditing costs (HEARTH_AUDIT=off; the benchmark's baseline). `writer`, when
   * given, is a small pool of its own for the group commits (closed by close()), so that audit writes never queue
   * behind the requests that wait for them.
   */
  constructor(private readonly db: Db, readonly enabled: boolean, readonly now: () => Date = () => new Date(),
    private readonly writer?: Db) {
    // One statement for the whole group, whatever the tenants (one INSERT step per schema).
    this.group = new GroupCommit(async (statement) => { await (this.writer ?? this.db).query(statement); }, IN_FLIGHT);
  }

  private closing: Promise<void> | undefined;

  /** Flushes, then closes the writer pool of its own; idempotent (several apps may share one AuditLog). */
  close(): Promise<void> {
    this.closing ??= this.flush().then(() => this.writer?.close());
    return this.closing;
  }

  /** Inserts events in the given transaction (with its other deferred writes): they commit, or roll back, with it. */
  async insert(tx: Queryable, schema: string, events: Resource[], clientReported = false): Promise<void> {
    if (!this.enabled || events.length === 0) return;
    const rows = events.map((e) => auditRow(e, clientReported));
    if (!(await deferAuditRows(tx, schema, rows))) await insertAuditRows(tx, schema, rows);
  }

  /**
   * Resolves once the events are committed, together with whatever other requests recorded meanwhile (a group commit,
   * db/group-commit.ts, shared with the write path).
   */
  async record(schema: string, events: Resource[]): Promise<void> {
    if (!this.enabled || events.length === 0) return;
    const rows = events.map((e) => auditRow(e, false));
    const { writes, weight } = await auditPending(this.db, schema, rows);
    if (weight > MAX_GROUPED_WEIGHT) await insertAuditRows(this.writer ?? this.db, schema, rows);
    else await this.group.commit(writes, weight);
  }

  /** Waits for every event recorded so far (graceful shutdown). */
  async flush(): Promise<void> {
    await this.group.idle();
  }
}
