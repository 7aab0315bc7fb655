/**
 * The audit step every FHIR interaction passes through (ARCHITECTURE §9, issue #6 §1–§3): one BALP AuditEvent per
 * interaction and per batch/transaction entry, for successes and failures. A change's event is inserted by the
 * write itself (the guard below) inside its transaction; every other event is durable before the response.
 */
import type { Resource } from '../fhir/types.js';
import type { Queryable } from '../db/db.js';
import type { Definitions } from '../fhir/definitions.js';
import type { SearchRegistry } from '../search/registry.js';
import type { Tenant } from '../storage/tenants.js';
import type { AuditLog } from './log.js';
import type { FhirRequest, FhirResult } from '../fhir/request.js';
import { type InteractionCode, type Route, route } from '../fhir/route.js';
import type { Change, WriteGuard } from '../storage/write.js';
import { type Action, type Actor, type Outcome, type Pattern, REST_TYPE, type RequestInfo, auditEvent, dataEntity,
  failedOutcome, hearthSubtype, interactionCoding, patientEntity, queryEntity } from './event.js';
import { patientsOf } from '../search/compartment-patients.js';

/** What the trail needs of the server: where events go, and the resource types (to route refused requests). */
export interface TrailDeps {
  audit: AuditLog;
  defs: Definitions;
}

/** What the trail needs of a request's context (the interactions' Context has it). */
export interface TrailContext {
  tenant: Pick<Tenant, 'schema'>;
  /** The tenant's FHIR base. */
  base: string;
  search: SearchRegistry;
  /** The transaction Bundle's transaction, when the request is one of its entries. */
  tx?: Queryable;
}

/** What the HTTP edge knows of a request: set on the TrailContext of every FHIR request. */
export interface AuditScope {
  request: RequestInfo;
  actor: Actor;
}

interface Kind { pattern: Pattern; action: Action; subtype: string; profile?: string }

const KINDS: Partial<Record<InteractionCode, Kind>> = {
  read: { pattern: 'Read', action: 'R', subtype: 'read', profile: 'Read' },
  vread: { pattern: 'Read', action: 'R', subtype: 'vread', profile: 'Read' },
  'history-instance': { pattern: 'Read', action: 'R', subtype: 'history-instance' },
  'history-type': { pattern: 'Read', action: 'R', subtype: 'history-type' },
  'history-system': { pattern: 'Read', action: 'R', subtype: 'history-system' },
  create: { pattern: 'Create', action: 'C', subtype: 'create', profile: 'Create' },
  update: { pattern: 'Update', action: 'U', subtype: 'update', profile: 'Update' },
  'conditional-update': { pattern: 'Update', action: 'U', subtype: 'update', profile: 'Update' },
  patch: { pattern: 'Update', action: 'U', subtype: 'patch', profile: 'Update' },
  'conditional-patch': { pattern: 'Update', action: 'U', subtype: 'patch', profile: 'Update' },
  delete: { pattern: 'Delete', action: 'D', subtype: 'delete', profile: 'Delete' },
  'conditional-delete': { pattern: 'Delete', action: 'D', subtype: 'delete', profile: 'Delete' },
  'search-type': { pattern: 'Query', action: 'E', subtype: 'search-type', profile: 'Query' },
  'search-system': { pattern: 'Query', action: 'E', subtype: 'search-system', profile: 'Query' },
  'search-compartment': { pattern: 'Query', action: 'E', subtype: 'search-type', profile: 'Query' },
  operation: { pattern: 'Query', action: 'E', subtype: 'operation' },
  batch: { pattern: 'Query', action: 'E', subtype: 'batch' },
  transaction: { pattern: 'Query', action: 'E', subtype: 'transaction' },
};
const UNROUTED: Kind = { pattern: 'Query', action: 'E', subtype: 'operation' };
/** $validate writes nothing and discloses at most the instance it validates: a read (issue #15 §5). */
const VALIDATE: Kind = { pattern: 'Read', action: 'R', subtype: 'operation' };

/** BALP best practice, capped (project decision, audit-event.md §3.9): one event per patient up to this many. */
export const PATIENT_EVENTS_CAP = 100;

const isSearch = (k: Kind) => k.pattern === 'Query';

function relativeVersion(base: string, url: string | undefined): string | undefined {
  return url?.startsWith(`${base}/`) ? url.slice(base.length + 1) : undefined;
}

function entryResources(body: Resource | undefined): Resource[] {
  if (body?.resourceType !== 'Bundle') return [];
  return ((body as { entry?: { resource?: Resource }[] }).entry ?? []).map((e) => e.resource).filter((r): r is Resource => !!r);
}

/** One interaction's audit: created by dispatch, consulted by writes, finished with success or failure. */
export class Trail {
  /** Set once a write inserted its event in its own transaction. */
  private changed = false;
  route: Route | undefined;

  constructor(private readonly deps: TrailDeps, private readonly ctx: TrailContext, private readonly scope: AuditScope,
    private readonly req: FhirRequest, private readonly nested: boolean) {}

  private get kind(): Kind {
    if (this.route?.code === 'batch' && (this.req.body as { type?: string } | undefined)?.type === 'transaction') return KINDS.transaction!;
    if (this.route?.code === 'operation' && this.route.operation === 'validate') return VALIDATE;
    return (this.route && KINDS[this.route.code]) ?? UNROUTED;
  }

  /** The request as BALP's query entity records it: the HTTP request, or for a Bundle entry its own URL. */
  private requestInfo(): RequestInfo {
    if (!this.nested) return this.scope.request;
    const qs = new URLSearchParams(this.req.query).toString();
    return { ...this.scope.request, method: this.req.method, url: `${this.ctx.base}/${this.req.path}${qs ? `?${qs}` : ''}` };
  }

  private event(kind: Kind, outcome: Outcome, entities: Record<string, unknown>[]): Resource {
    const subtype = [interactionCoding(kind.subtype)];
    if (this.route?.operation) subtype.push(hearthSubtype(`$${this.route.operation}`));
    return auditEvent({ type: REST_TYPE, subtype, action: kind.action, pattern: kind.pattern,
      ...(kind.profile ? { profile: kind.profile } : {}), actor: this.scope.actor, request: this.requestInfo(),
      base: this.ctx.base, outcome, entities, recorded: this.deps.audit.now() });
  }

  /** One event per patient (capped, then one summary), or one event when no patient is involved. */
  private perPatient(kind: Kind, outcome: Outcome, entities: Record<string, unknown>[], patients: string[]): Resource[] {
    if (patients.length === 0) return [this.event(kind, outcome, entities)];
    const events = patients.slice(0, PATIENT_EVENTS_CAP).map((p) => this.event(kind, outcome, [...entities, patientEntity(p)]));
    if (patients.length > PATIENT_EVENTS_CAP) {
      const rest = patients.length - PATIENT_EVENTS_CAP;
      events.push(this.event(kind, outcome, entities.map((e) => (e.role as { code?: string } | undefined)?.code === '24'
        ? { ...e, description: `Results also reference ${rest} further patient(s), not recorded one by one` } : e)));
    }
    return events;
  }

  /** Audit part of the write guard: the change's event goes into the change's own transaction. */
  guard(): WriteGuard {
    return {
      after: async (tx, change: Change) => {
        const kind = this.kind;
        const ref = `${change.type}/${change.id}/_history/${change.version}`;
        const content = change.resource ?? change.previous;
        const labels = (content?.meta as { security?: unknown } | undefined)?.security;
        const patients = patientsOf(this.ctx.search, content);
        const events = this.perPatient(kind, { status: 200 }, [dataEntity(ref, '4', labels)], patients);
        await this.deps.audit.insert(tx, this.ctx.tenant.schema, events);
        this.changed = true;
      },
    };
  }

  private entitiesFor(kind: Kind, result?: FhirResult): Record<string, unknown>[] {
    const r = this.route;
    const entities: Record<string, unknown>[] = [];
    if (isSearch(kind) && kind.subtype !== 'batch' && kind.subtype !== 'transaction') entities.push(queryEntity(this.requestInfo()));
    const versioned = relativeVersion(this.ctx.base, result?.contentLocation);
    if (r?.type && r.id) {
      const labels = (result?.body?.meta as { security?: unknown } | undefined)?.security;
      entities.push(dataEntity(versioned?.startsWith(`${r.type}/${r.id}/`) ? versioned : `${r.type}/${r.id}`, '4', labels));
    }
    if (r?.operation === 'export' && result?.contentLocation) entities.push(dataEntity(result.contentLocation, '20'));
    return entities;
  }

  private patientsFor(result?: FhirResult): string[] {
    const r = this.route;
    const out = new Set<string>();
    if (r?.type === 'Patient' && r.id) out.add(`Patient/${r.id}`);
    if (r?.code === 'search-compartment' && r.type === 'Patient') out.add(`Patient/${r.id}`);
    const body = result?.body;
    if (body && body.resourceType !== 'Bundle' && body.resourceType !== 'OperationOutcome') {
      for (const p of patientsOf(this.ctx.search, body)) out.add(p);
    }
    for (const res of entryResources(body)) for (const p of patientsOf(this.ctx.search, res)) out.add(p);
    return [...out];
  }

  private async write(events: Resource[]): Promise<void> {
    if (this.ctx.tx) await this.deps.audit.insert(this.ctx.tx, this.ctx.tenant.schema, events);
    else await this.deps.audit.record(this.ctx.tenant.schema, events);
  }

  async succeeded(result: FhirResult): Promise<void> {
    if (this.changed || this.route?.code === 'capabilities') return;
    const kind = this.kind;
    const patients = kind.subtype === 'batch' || kind.subtype === 'transaction' ? [] : this.patientsFor(result);
    await this.write(this.perPatient(kind, { status: result.status }, this.entitiesFor(kind, result), patients));
  }

  /**
   * A failed interaction's event. Inside a transaction Bundle nothing is written here: the transaction rolls back
   * and its own failure event names the entry.
   */
  async failed(error: unknown): Promise<void> {
    if (this.ctx.tx || this.route?.code === 'capabilities') return;
    const kind = this.kind;
    await this.write(this.perPatient(kind, failedOutcome(error), this.entitiesFor(kind), this.patientsFor()));
  }
}

/** The event of a request refused before it was dispatched (no token, bad token, unsupported media type). */
export async function refusedRequest(deps: TrailDeps, ctx: TrailContext, scope: AuditScope, req: FhirRequest, error: unknown): Promise<void> {
  const trail = new Trail(deps, ctx, scope, req, false);
  try {
    trail.route = route(deps.defs, req);
  } catch {
    // an unroutable request is recorded without its interaction
  }
  await trail.failed(error);
}
