/** The search columns of an AuditEvent row (migrations/tenant/006_audit.sql), derived from the resource itself. */
import type { Resource } from '../fhir/types.js';

interface Coding { system?: string; code?: string }
interface Reference { reference?: string; identifier?: { system?: string; value?: string } }
type Json = Record<string, unknown>;

export interface AuditRow {
  id: string;
  recorded: string;
  type: string[];
  subtype: string[];
  action: string | null;
  outcome: string | null;
  agent: string[];
  agent_identifier: string[];
  altid: string[];
  policy: string[];
  address: string[];
  entity: string[];
  entity_type: string[];
  entity_role: string[];
  patient: string[];
  source: string | null;
  site: string | null;
  client_reported: boolean;
  content: Resource;
}

/**
 * One key a Coding: 'system|code', or '|code' without a system (search.ts matches 'code' and 'system|' against it).
 * Rows written before this kept 'code' and 'system|' as keys too; the search matches both forms.
 */
export function tokenKeys(codings: (Coding | undefined)[]): string[] {
  const keys = new Set<string>();
  for (const c of codings) if (c?.code) keys.add(`${c.system ?? ''}|${c.code}`);
  return [...keys];
}

/** 'Type/id' of a relative (or absolute, or versioned) literal reference; undefined for anything else. */
export function referenceKey(ref: string | undefined): string | undefined {
  const m = /(?:^|\/)([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(ref ?? '');
  return m ? `${m[1]}/${m[2]}` : undefined;
}

const defined = <T>(v: T | undefined): v is T => v !== undefined;
const arr = <T>(v: unknown): T[] => (Array.isArray(v) ? (v as T[]) : []);

function identifierKeys(refs: (Reference | undefined)[]): string[] {
  return tokenKeys(refs.map((r) => r?.identifier && { system: r.identifier.system, code: r.identifier.value }));
}

export function auditRow(event: Resource, clientReported: boolean): AuditRow {
  const e = event as unknown as Json;
  const agents = arr<Json>(e.agent);
  const entities = arr<Json>(e.entity);
  const who = agents.map((a) => a.who as Reference | undefined);
  const what = entities.map((x) => x.what as Reference | undefined);
  const agentRefs = who.map((r) => referenceKey(r?.reference)).filter(defined);
  const entityRefs = what.map((r) => referenceKey(r?.reference)).filter(defined);
  const source = e.source as { observer?: Reference; site?: string } | undefined;
  return {
    // as the database gives them back, so that the row's digest (chain.ts) re-computes from the stored row
    id: event.id!.toLowerCase(),
    recorded: new Date(e.recorded as string).toISOString(),
    type: tokenKeys([e.type as Coding]),
    subtype: tokenKeys(arr<Coding>(e.subtype)),
    action: (e.action as string | undefined) ?? null,
    outcome: (e.outcome as string | undefined) ?? null,
    agent: [...new Set(agentRefs)],
    agent_identifier: identifierKeys(who),
    altid: agents.map((a) => a.altId as string | undefined).filter(defined),
    policy: agents.flatMap((a) => arr<string>(a.policy)),
    address: agents.map((a) => (a.network as { address?: string } | undefined)?.address).filter(defined),
    entity: [...new Set(entityRefs)],
    entity_type: tokenKeys(entities.map((x) => x.type as Coding | undefined)),
    entity_role: tokenKeys(entities.map((x) => x.role as Coding | undefined)),
    patient: [...new Set([...agentRefs, ...entityRefs].filter((r) => r.startsWith('Patient/')))],
    source: referenceKey(source?.observer?.reference) ?? source?.observer?.identifier?.value ?? null,
    site: source?.site ?? null,
    client_reported: clientReported,
    content: event,
  };
}
