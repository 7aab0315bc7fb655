/**
 * Group commit of write-only transactions (issue #14 §2): a transaction that made no read holds only deferred writes,
 * which make one statement; statements that arrive while another is being committed wait and are merged into the
 * next one, so N concurrent creates share one statement and one WAL flush. Each caller resumes once its writes are
 * durable (an autocommit statement returns after its commit), never before.
 */
import { type PendingWrites, mergePending, pendingStatement } from './deferred.js';
import type { Sql } from './sql.js';

interface Waiter { writes: PendingWrites; weight: number; resolve: () => void; reject: (e: unknown) => void }

/** Transactions a group holds at most, and bind parameters: later arrivals wait for the next statement. */
const MAX_GROUP = 64;
const MAX_WEIGHT = 30000;

export class GroupCommit {
  private queue: Waiter[] = [];
  private inFlight = 0;
  private scheduled = false;

  /**
   * `run` sends one autocommit statement. `maxInFlight` statements may run at once: one lets groups grow with load
   * (each statement's fixed cost is shared by more writes); more trade group size for latency under light load.
   */
  constructor(private readonly run: (statement: Sql) => Promise<void>, private readonly maxInFlight = 1) {}

  private readonly unsettled = new Set<Promise<void>>();

  /** Resolves once `writes` are committed; `weight` is their bind parameters (DeferringTx.take tells it). */
  commit(writes: PendingWrites, weight: number): Promise<void> {
    const done = new Promise<void>((resolve, reject) => {
      this.queue.push({ writes, weight, resolve, reject });
      this.kick();
    });
    this.unsettled.add(done);
    void done.catch(() => undefined).finally(() => this.unsettled.delete(done));
    return done;
  }

  /** Waits until everything committed so far has been sent, successfully or not (graceful shutdown). */
  async idle(): Promise<void> {
    while (this.unsettled.size > 0) await Promise.allSettled([...this.unsettled]);
  }

  private kick(): void {
    if (this.scheduled || this.inFlight >= this.maxInFlight || this.queue.length === 0) return;
    this.scheduled = true;
    // The next tick, so that the writes of this tick's requests share the statement.
    setImmediate(() => {
      this.scheduled = false;
      if (this.inFlight >= this.maxInFlight || this.queue.length === 0) return;
      let n = 1;
      for (let weight = this.queue[0]!.weight; n < Math.min(MAX_GROUP, this.queue.length); n++) {
        weight += this.queue[n]!.weight;
        if (weight > MAX_WEIGHT) break;
      }
      const group = this.queue.splice(0, n);
      this.inFlight++;
      void this.send(group).finally(() => {
        this.inFlight--;
        this.kick();
      });
    });
  }

  /** One statement for the group; if it fails, each member alone, so one bad write does not fail the others. */
  private async send(group: Waiter[]): Promise<void> {
    const merged: PendingWrites = new Map();
    for (const w of group) mergePending(merged, w.writes);
    try {
      await this.runPending(merged);
      for (const w of group) w.resolve();
      return;
    } catch (e) {
      if (group.length === 1) {
        group[0]!.reject(e);
        return;
      }
    }
    for (const w of group) {
      try {
        await this.runPending(w.writes);
        w.resolve();
      } catch (e) {
        w.reject(e);
      }
    }
  }

  private async runPending(writes: PendingWrites): Promise<void> {
    const statement = pendingStatement(writes);
    if (statement) await this.run(statement);
  }
}
