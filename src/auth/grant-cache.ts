/**
 * The tenant and grant row behind every FHIR request, cached briefly (issue #14 §2): a hit saves the one round trip a
 * request otherwise makes before its own work. Revocation still takes effect at once, on every node: triggers on the
 * grant and tenant tables NOTIFY `hearth_auth` with the tenant's schema when they commit
 * (migrations/tenant/011_auth_notify.sql, migrations/control/004_tenant_notify.sql), each node LISTENs and forgets
 * that tenant's entries. While the LISTEN connection is down nothing is served from the cache, and a lookup that
 * overlapped a notification is not stored (the generation check), so a stale "active" cannot outlive a revocation.
 */
import type { Db, Listener } from '../db/db.js';
import { type TenantAndGrant, findTenantAndGrant } from '../storage/tenants.js';

export const AUTH_CHANNEL = 'hearth_auth';

/** Entries kept at most; the oldest goes first. */
const MAX_ENTRIES = 10_000;

type Found = TenantAndGrant;

/** Every cache of this process, told at once of revocations made here (before the NOTIFY comes back). */
const local = new Set<TenantCache<unknown>>();

/** Called by the code that revokes grants or changes a tenant, after its statement. */
export function authChanged(schema: string): void {
  for (const cache of local) cache.forget(schema);
}

/**
 * Entries that belong to one tenant each, kept for ttlMs and forgotten when the tenant's authorization data changes
 * (the `hearth_auth` NOTIFY, or authChanged in this process). load reads an entry; its result is kept only when no
 * notification overlapped the read (the generation check) and the LISTEN connection is up.
 */
export class TenantCache<V> {
  private readonly entries = new Map<string, { value: V; schema: string; expires: number }>();
  private generation = 0;
  private up = false;
  private listening: Promise<Listener | undefined> | undefined;
  private closed = false;

  /** ttlMs 0 turns caching off: every lookup reads the rows. */
  constructor(private readonly db: Db, private readonly ttlMs: number, private readonly now: () => number = () => performance.now()) {}

  /** The entry under key, or load's value; keep(value) gives the schema to file it under, or undefined to not keep it. */
  protected async cached(key: string, load: () => Promise<V>, keep: (value: V) => string | undefined): Promise<V> {
    if (this.ttlMs <= 0 || this.closed) return load();
    this.listening ??= this.listen();
    const hit = this.up ? this.entries.get(key) : undefined;
    if (hit && hit.expires > this.now()) return hit.value;
    const generation = this.generation;
    const value = await load();
    const schema = keep(value);
    if (schema !== undefined && this.up && generation === this.generation) {
      this.entries.delete(key);
      if (this.entries.size >= MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
      this.entries.set(key, { value, schema, expires: this.now() + this.ttlMs });
    }
    return value;
  }

  /** Drops one tenant's entries (a grant of it revoked, or the tenant changed); undefined → all. */
  forget(schema?: string): void {
    this.generation++;
    if (schema === undefined) return this.entries.clear();
    for (const [key, entry] of this.entries) if (entry.schema === schema) this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }

  private async listen(): Promise<Listener | undefined> {
    local.add(this);
    try {
      return await this.db.listen(AUTH_CHANNEL, {
        message: (schema) => this.forget(schema),
        state: (up) => { this.up = up && !this.closed; if (!up) this.forget(); },
      });
    } catch {
      return undefined; // never up: every lookup reads the rows
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.up = false;
    local.delete(this);
    this.forget();
    await (await this.listening)?.close();
  }
}

export class GrantCache extends TenantCache<Found | undefined> {
  constructor(private readonly database: Db, ttlMs: number, now?: () => number) {
    super(database, ttlMs, now);
  }

  /** As findTenantAndGrant; only live grants of existing tenants are kept. */
  lookup(slug: string, grantId: string): Promise<Found | undefined> {
    return this.cached(`${slug} ${grantId}`, () => findTenantAndGrant(this.database, slug, grantId),
      (found) => (found?.grantActive ? found.tenant.schema : undefined));
  }
}
