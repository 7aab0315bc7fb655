/**
 * AuditEvent through the REST API (issue #6 §4, §6; audit-event.md §5): read and search over the audit table, create
 * only for clients holding the dedicated scope (marked client-reported), and no update, patch or delete (405).
 */
import { auditRow } from '../audit/columns.js';
import { auditId } from '../audit/event.js';
import { insertAuditRows, readAuditEvent } from '../audit/store.js';
import { parseAuditQuery, patientCondition, searchAuditEvents } from '../audit/search.js';
import { insufficientScope, methodNotAllowed, notFound, operationNotSupportedOn, versionNotFound } from '../errors.js';
import { etag } from '../fhir/etag.js';
import type { Resource } from '../fhir/types.js';
import { isStrict } from '../search/parse.js';
import { checkResourceBody } from '../validation/check.js';
import { type Context, type Deps, inTransaction } from './context.js';
import { type FhirRequest, type FhirResult } from '../fhir/request.js';
import type { Route } from '../fhir/route.js';
import { searchParams } from './search.js';

/** The scope a client needs to report its own AuditEvents (smart-app-launch scopes: one of CONTEXT_SCOPES). */
export const CLIENT_REPORTED_SCOPE = 'system/AuditEvent.client-reported';
export const CLIENT_REPORTED_TAG = { system: 'http://hearth.dev/fhir/CodeSystem/audit-origin', code: 'client-reported',
  display: 'Reported by a client, not observed by this server' };
const CLIENT_RECORDED = 'http://hearth.dev/fhir/StructureDefinition/client-recorded';

/**
 * Reading the audit trail needs an AuditEvent scope of its own (wildcards do not reach it): unrestricted for
 * user/ and system/ scopes, the bound patient's own events for patient-bound tokens; anything narrower is refused.
 */
function auditPatient(ctx: Context, perm: 'r' | 's'): string | undefined {
  const access = ctx.access;
  if (!access) return undefined;
  const n = access.required('AuditEvent', perm);
  if (n === null) return undefined;
  const patient = access.boundPatient;
  if (!patient) throw insufficientScope(`user/AuditEvent.${perm} or system/AuditEvent.${perm} without a query restriction`);
  return patient;
}

async function readEvent(deps: Deps, ctx: Context, r: Route): Promise<FhirResult> {
  const patient = auditPatient(ctx, 'r');
  const event = await readAuditEvent(ctx.tx ?? deps.db, ctx.tenant.schema, r.id!);
  const patients = event ? auditRow(event, false).patient : [];
  if (!event || (patient && !patients.includes(`Patient/${patient}`))) throw notFound('AuditEvent', r.id!);
  if (r.vid !== undefined && r.vid !== '1') throw versionNotFound('AuditEvent', r.id!, r.vid);
  const lastUpdated = new Date((event.meta as { lastUpdated: string }).lastUpdated);
  return { status: 200, body: event, etag: etag(1), lastModified: lastUpdated, contentLocation: `${ctx.base}/AuditEvent/${event.id}/_history/1` };
}

/** Type-level search, or the Patient compartment's AuditEvents (`Patient/[id]/AuditEvent`, by the `patient` parameter). */
async function search(deps: Deps, ctx: Context, req: FhirRequest, compartment?: string): Promise<FhirResult> {
  const patient = auditPatient(ctx, 's');
  const options = { base: ctx.base, strict: isStrict(req.headers.prefer), defaultCount: deps.config.defaultPageSize,
    maxCount: deps.config.maxPageSize, tokens: deps.pageTokens, registry: ctx.search, defs: deps.defs,
    ...(patient ? { patient } : {}) };
  const q = parseAuditQuery(searchParams(req), options);
  if (compartment) q.where.push(patientCondition(compartment));
  const path = compartment ? `Patient/${compartment}/AuditEvent` : 'AuditEvent';
  return { status: 200, body: await searchAuditEvents(ctx.tx ?? deps.db, ctx.tenant.schema, path, q, options) };
}

/** A client's own AuditEvent: validated, given our id, meta and receipt time (its own time kept in an extension). */
async function create(deps: Deps, ctx: Context, req: FhirRequest): Promise<FhirResult> {
  if (ctx.access && !ctx.access.principal.scope.split(' ').includes(CLIENT_REPORTED_SCOPE)) {
    throw insufficientScope(CLIENT_REPORTED_SCOPE);
  }
  const body = checkResourceBody(deps, req.body, 'AuditEvent') as Resource & { recorded?: string; extension?: unknown[]; meta?: Record<string, unknown> };
  const now = deps.audit.now();
  const { id: _id, meta, ...rest } = body;
  const event = { ...rest, resourceType: 'AuditEvent', id: auditId(now),
    meta: { ...(meta ?? {}), versionId: '1', lastUpdated: now.toISOString(), tag: [...((meta?.tag as unknown[]) ?? []), CLIENT_REPORTED_TAG] },
    extension: [...(body.extension ?? []), ...(body.recorded ? [{ url: CLIENT_RECORDED, valueInstant: body.recorded }] : [])],
    recorded: now.toISOString() } as Resource;
  await inTransaction(deps, ctx, async (tx) => {
    await insertAuditRows(tx, ctx.tenant.schema, [auditRow(event, true)]);
    await ctx.trail?.guard().after!(tx, { rid: 0, type: 'AuditEvent', id: event.id!, resource: event, isNew: true, version: 1 });
  });
  const location = `${ctx.base}/AuditEvent/${event.id}/_history/1`;
  return { status: 201, body: event, etag: etag(1), lastModified: now, location, contentLocation: location, write: true };
}

export function auditEventInteraction(deps: Deps, ctx: Context, req: FhirRequest, r: Route): Promise<FhirResult> {
  switch (r.code) {
    case 'read': case 'vread': return readEvent(deps, ctx, r);
    case 'search-type': return search(deps, ctx, req);
    case 'search-compartment': return search(deps, ctx, req, r.id);
    case 'create': return create(deps, ctx, req);
    case 'operation':
      // type-level operations on every type ($reindex) do not apply to the audit table
      if (r.operation !== 'verify-chain' || r.id) throw operationNotSupportedOn(r.operation ?? '', 'AuditEvent');
      return deps.operations.run(deps, ctx, req, r.operation, { type: 'AuditEvent' });
    default: throw methodNotAllowed(`AuditEvents are append-only: ${r.code} is not allowed`);
  }
}
