/** What every interaction receives: the server's dependencies, the request's tenant context and the parsed request. */
import type { Config } from '../config.js';
import type { Db, Queryable } from '../db/db.js';
import type { Migration } from '../db/migrate.js';
import type { Definitions } from '../fhir/definitions.js';
import type { FhirRequest, FhirResult } from '../fhir/request.js';
import type { WriteGuard, WriteHook } from '../storage/write.js';
import type { Tenant } from '../storage/tenants.js';
import type { Validator } from '../validation/check.js';
import type { PageTokens } from '../fhir/page-token.js';
import type { SearchRegistry } from '../search/registry.js';
import type { TenantSearchParameters } from '../storage/search-parameters.js';
import type { AuthServices } from '../auth/tokens.js';
import type { Access } from '../auth/access.js';
import type { AuditLog } from '../audit/log.js';
import type { AuditScope, Trail } from '../audit/trail.js';
import type { Metrics } from '../metrics.js';
import { keepPrincipal } from '../auth/kept-principal.js';
import { type SubscriptionCache, recordOwner } from '../subscriptions/outbox.js';
import type { OperationTable } from './operations.js';
import type { JobContext, JobHandler } from '../jobs/worker.js';

export interface Deps {
  config: Config;
  db: Db;
  defs: Definitions;
  /** Search parameters by type and code. */
  search: SearchRegistry;
  /** Per-tenant registries: the core parameters plus the tenant's own SearchParameter resources. */
  tenantSearch: TenantSearchParameters;
  validator: Validator;
  migrations: { control: Migration[]; tenant: Migration[] };
  /** Runs inside every write transaction (search indexing). */
  writeHooks: WriteHook[];
  pageTokens: PageTokens;
  /** Signing keys and the clock of the SMART authorization server. */
  auth: AuthServices;
  /** Where AuditEvents are written (in a change's transaction, or group-committed before the response). */
  audit: AuditLog;
  /** This process's counters, served at GET /metrics. */
  metrics: Metrics;
  /** The tenants' active Subscriptions and the write hook that enqueues their events (src/subscriptions/). */
  subscriptions: SubscriptionCache;
  /** The $operations the server implements (src/operations/table.ts). */
  operations: OperationTable<Deps, Context>;
}

/** A queued job as this server runs it (src/jobs/worker.ts): with the whole of Deps. */
export type ServerJobContext = JobContext<Deps>;
export type ServerJobHandler = JobHandler<Deps>;

/** Runs one FHIR request: what batch and transaction entries are handed, so they need not import the dispatcher. */
export type Dispatch = (deps: Deps, ctx: Context, req: FhirRequest) => Promise<FhirResult>;

export interface Context {
  tenant: Tenant;
  /** Absolute FHIR base of the tenant, e.g. http://localhost:8080/fhir/default (no trailing slash). */
  base: string;
  /** The tenant's search parameters: R4 core plus its own SearchParameter resources. */
  search: SearchRegistry;
  /** Set while a transaction Bundle runs: every entry shares it. */
  tx?: Queryable;
  /** What the request's access token allows; undefined only for internal callers (jobs), never for HTTP. */
  access?: Access;
  /** Who asked and how, for the AuditEvents of this request; undefined only for internal callers (jobs). */
  audit?: AuditScope;
  /** The audit of the interaction being dispatched (set by dispatch). */
  trail?: Trail;
}

/** Runs fn in the surrounding transaction Bundle's transaction, or in a new one. */
export function inTransaction<T>(deps: Deps, ctx: Context, fn: (tx: Queryable) => Promise<T>): Promise<T> {
  return ctx.tx ? fn(ctx.tx) : deps.db.transaction(fn, { statementTimeoutMs: deps.config.statementTimeoutMs });
}

/**
 * What a write of perm on type runs inside its transaction: the token's scope checks (none for unrestricted tokens),
 * then the change's AuditEvent, so that the event commits with the change.
 */
export function writeGuard(ctx: Context, type: string, perm: 'c' | 'u' | 'd'): WriteGuard | undefined {
  const access = ctx.access?.writeGuard(type, perm);
  const audit = ctx.trail?.guard();
  // A Subscription's deliveries never carry more than whoever last wrote it may read (subscriptions/worker.ts).
  const owner = type === 'Subscription' ? ctx.access?.principal : undefined;
  if (!audit && !owner) return access;
  return {
    ...(access?.before ? { before: access.before } : {}),
    after: async (tx, change) => {
      await access?.after?.(tx, change);
      if (owner && change.resource) await recordOwner(tx, ctx.tenant.schema, change.id, keepPrincipal(owner));
      await audit?.after?.(tx, change);
    },
  };
}
