/** The AuditEvents of subscription deliveries (issue #20 §3, BALP): every request sent is recorded. */
import type { Resource } from '../fhir/types.js';
import type { KeptPrincipal } from '../auth/kept-principal.js';
import { auditEvent, dataEntity, dcm, hearthSubtype, patientEntity } from '../audit/event.js';
import { patientsOf } from '../search/compartment-patients.js';
import type { SearchRegistry } from '../search/registry.js';
import type { OutboxEvent, Sent } from './notify.js';

/** A request sent (or published), as its AuditEvent records it. */
export interface Delivery { base: string; registry: SearchRegistry; subscription: string; owner: KeptPrincipal | null;
  req: { method: string; url: string }; events: OutboxEvent[]; kind: string; sent: Sent }

/**
 * The AuditEvents of the deliveries written down together: one per creator, endpoint and outcome (DICOM Export, BALP
 * Read pattern: Hearth the source, the subscriber's client the recipient), naming every Subscription, resource version
 * and patient it disclosed — one event per request would cost each notification what a create's own event costs.
 */
export function auditEvents(deliveries: Delivery[], recorded: Date): Resource[] {
  const groups = new Map<string, Delivery[]>();
  for (const d of deliveries) {
    const key = JSON.stringify([d.owner?.clientId, d.owner?.subject, new URL(d.req.url).origin, d.req.method, d.sent.ok, d.sent.status, d.kind]);
    groups.set(key, [...groups.get(key) ?? [], d]);
  }
  return [...groups.values()].map((list) => {
    const first = list[0]!;
    const patients = new Set<string>();
    for (const d of list) for (const e of d.events) for (const p of e.resource ? patientsOf(d.registry, e.resource) : []) patients.add(p);
    const entities = [...new Set(list.map((d) => d.subscription))].map((id) => dataEntity(`Subscription/${id}`, '4'));
    for (const d of list) for (const e of d.events) entities.push(dataEntity(`${e.type}/${e.id}/_history/${e.version}`, '3'));
    for (const p of patients) entities.push(patientEntity(p));
    const owner = first.owner;
    const url = list.length === 1 ? first.req.url : new URL(first.req.url).origin;
    return auditEvent({ type: dcm('110106', 'Export'), subtype: [hearthSubtype(`subscription-${first.kind}`)], action: 'R', pattern: 'Read',
      actor: owner ? { clientId: owner.clientId, subject: owner.subject, ...(owner.fhirUser ? { fhirUser: owner.fhirUser } : {}) }
        : { clientId: 'hearth-subscriptions', subject: 'hearth-subscriptions' },
      request: { requestId: `subscriptions-${recorded.getTime()}`, address: new URL(first.req.url).host, method: first.req.method, url },
      base: first.base, outcome: first.sent.ok ? { status: first.sent.status ?? 200 } : { status: first.sent.status ?? 503, message: first.sent.error! },
      entities, recorded }) as Resource;
  });
}
