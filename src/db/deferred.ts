/**
 * Writes held back until the transaction's next read or its commit, then sent together as one statement of
 * data-modifying CTEs (issue #14 §1–§2). A transaction Bundle of 100 creates makes a handful of statements instead of
 * three per entry, and a single create's resource, index rows and AuditEvent travel in one.
 *
 * Any read through the transaction sends what is pending first, so reads see the transaction's own writes exactly as
 * if they had been sent at once. What must not be deferred is a write whose answer the caller uses (a row count, a
 * conflict): those are ordinary queries.
 */
import type { Keyring, Queryable, Row } from './db.js';
import { type Sql, join, sql } from './sql.js';

/** A kind of write that can wait: the owner of a table says how a list of them becomes CTE steps. */
export interface Deferral<T> {
  /** Distinct per kind; the order of kinds within a statement does not matter (all steps see one snapshot). */
  readonly name: string;
  /** `name AS (INSERT …)` steps for these items, in deferral order; `prefix` keeps step names unique in a statement. */
  steps(items: T[], prefix: string): Sql[];
}

/** Bind parameters a statement may hold are 65,535; a pending set this heavy is sent before it grows further. */
const MAX_WEIGHT = 30000;

/** Pending writes by kind, in the order deferred. */
export type PendingWrites = Map<Deferral<unknown>, unknown[]>;

function pendingSteps(pending: PendingWrites): Sql[] {
  const steps: Sql[] = [];
  let n = 0;
  for (const [kind, items] of pending) if (items.length > 0) steps.push(...kind.steps(items, `w${n++}_`));
  return steps;
}

/** The one statement that writes a pending set, or undefined when nothing is pending. */
export function pendingStatement(pending: PendingWrites): Sql | undefined {
  const steps = pendingSteps(pending);
  return steps.length === 0 ? undefined : sql`WITH ${join(steps, ',\n')}\nSELECT 1`;
}

/** Adds b's writes after a's (a group commit merges several transactions' writes into one statement). */
export function mergePending(into: PendingWrites, from: PendingWrites): void {
  for (const [kind, items] of from) {
    const list = into.get(kind);
    if (list) list.push(...items);
    else into.set(kind, [...items]);
  }
}

/** A transaction handle that defers what it can: every other query flushes first. */
export class DeferringTx implements Queryable {
  private pending: PendingWrites = new Map();
  private weight = 0;
  private begun = false;

  /**
   * `target` runs the statements; for a lazily begun transaction, asking for it begins the transaction. `outside`
   * runs a statement on its own (autocommit, another connection), for readOutside; `attempt` counts from 0 when the
   * transaction is run again after a retryable failure.
   */
  constructor(private readonly begin: () => Promise<Queryable>,
    private readonly options: { outside?: Queryable; attempt?: number; vault?: { bind(via: Queryable): Keyring } } = {}) {}

  /** Encryption at rest through this transaction (keys it has not cached are read in it). */
  get keyring(): Keyring | undefined {
    return this.options.vault?.bind(this);
  }

  private target(): Promise<Queryable> {
    this.begun = true;
    return this.begin();
  }

  /** True once the transaction has sent a statement (it holds a connection from then on). */
  get started(): boolean {
    return this.begun;
  }

  /** 0 on the first run of the transaction's function, 1 on its first retry … */
  get attempt(): number {
    return this.options.attempt ?? 0;
  }

  /** Holds `item` back; `weight` is the bind parameters it adds (items passed as one JSON document weigh ~0). */
  async defer<T>(kind: Deferral<T>, item: T, weight = 0): Promise<void> {
    const list = this.pending.get(kind as Deferral<unknown>);
    if (list) list.push(item);
    else this.pending.set(kind as Deferral<unknown>, [item]);
    this.weight += weight;
    if (this.weight >= MAX_WEIGHT) await this.flush();
  }

  get hasPending(): boolean {
    return this.pending.size > 0;
  }

  /** Takes what is pending with its weight (the caller sends it some other way, e.g. in a group commit). */
  take(): { writes: PendingWrites; weight: number } {
    const taken = { writes: this.pending, weight: this.weight };
    this.pending = new Map();
    this.weight = 0;
    return taken;
  }

  async flush(): Promise<void> {
    if (this.pending.size === 0) return;
    const statement = pendingStatement(this.take().writes);
    if (statement) await (await this.target()).query(statement);
  }

  async query<T = Row>(q: Sql): Promise<T[]> {
    await this.flush();
    return (await this.target()).query<T>(q);
  }

  /**
   * What is pending and `select` in one statement (one round trip instead of two). Only for a SELECT that needs none of
   * the pending rows (all steps of a statement see one snapshot), such as taking advisory locks.
   */
  async queryAlong<T = Row>(select: Sql): Promise<T[]> {
    const steps = pendingSteps(this.take().writes);
    const target = await this.target();
    return target.query<T>(steps.length === 0 ? select : sql`WITH ${join(steps, ',\n')}\n${select}`);
  }

  /** The items of one kind waiting to be sent (a reader decides whether what it reads is among them). */
  pendingOf<T>(kind: Deferral<T>): readonly T[] {
    return (this.pending.get(kind as Deferral<unknown>) ?? []) as T[];
  }

  /**
   * `select` at once, the pending writes staying pending: only for a SELECT that reads nothing they write (its caller
   * checks with pendingOf), so that they can travel with a later statement.
   */
  async queryAhead<T = Row>(select: Sql): Promise<T[]> {
    return (await this.target()).query<T>(select);
  }

  /**
   * `select` outside the transaction (autocommit, any connection) while the transaction has sent nothing yet and
   * the database allows it (PostgreSQL); undefined otherwise, when the caller reads through the transaction instead.
   * A transaction that reads only this way stays write-only and is group-committed. Only for a SELECT that needs
   * none of the pending writes and no lock, whose caller guards against what changes after it (a unique key the
   * write inserts, so that a concurrent writer's commit makes this one fail and run again).
   */
  async readOutside<T = Row>(select: Sql): Promise<T[] | undefined> {
    if (this.begun || !this.options.outside) return undefined;
    return this.options.outside.query<T>(select);
  }

  async exec(script: string): Promise<void> {
    await this.flush();
    await (await this.target()).exec(script);
  }
}

/** The deferring handle behind q, when q is one (writers fall back to sending their statement at once). */
export const deferring = (q: Queryable): DeferringTx | undefined => (q instanceof DeferringTx ? q : undefined);

/** `select` sent with q's pending writes when q defers (DeferringTx.queryAlong), else on its own. */
export function queryAlong<T = Row>(q: Queryable, select: Sql): Promise<T[]> {
  const d = deferring(q);
  return d ? d.queryAlong<T>(select) : q.query<T>(select);
}
