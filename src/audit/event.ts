/**
 * BALP-shaped AuditEvents (IHE Basic Audit Log Patterns, https://profiles.ihe.net/ITI/BALP/content.html) for the REST
 * interactions, security events and administration — http://hl7.org/fhir/R4/auditevent.html. Minimal pattern
 * (audit-event.md §3.11): references and the query only, never clinical content or names.
 */
import crypto from 'node:crypto';
import { CLIENT_ID_SYSTEM } from '../auth/consent.js';
import { toFhirError } from '../db/errors.js';
import { internalError } from '../errors.js';
import { toOutcome } from '../fhir/outcome.js';
import type { Resource } from '../fhir/types.js';

const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
const EVENT_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-event-type';
const INTERACTION = 'http://hl7.org/fhir/restful-interaction';
const PARTICIPATION = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType';
const ENTITY_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-entity-type';
const OBJECT_ROLE = 'http://terminology.hl7.org/CodeSystem/object-role';
const SOURCE_TYPE = 'http://terminology.hl7.org/CodeSystem/security-source-type';
const BALP = 'https://profiles.ihe.net/ITI/BALP';
const RFC3986 = 'urn:ietf:rfc:3986';
/** Our codes for what BALP and DICOM leave open: operations, token and administration events. */
export const HEARTH_SUBTYPE = 'http://hearth.dev/fhir/CodeSystem/audit-subtype';
export { CLIENT_ID_SYSTEM };
export const USER_ID_SYSTEM = 'http://hearth.dev/fhir/sid/user-id';

export type Action = 'C' | 'R' | 'U' | 'D' | 'E';
type Json = Record<string, unknown>;
type Coding = { system: string; code: string; display?: string };

/** Who asked: from the access token (absent for a request refused before its token was verified). */
export interface Actor {
  clientId?: string;
  /** The token's sub. */
  subject?: string;
  fhirUser?: string;
  jti?: string;
  /** Set while the user has a break-the-glass session open: the event's purposeOfEvent is BTG (issue #16 §4). */
  breakGlass?: boolean;
  /**
   * The privacy Consents that decided part of what the request reached, with their effects (auth/consent.ts): read
   * when the event is made, after the request has run.
   */
  consents?: ReadonlyMap<string, ReadonlySet<string>>;
}

/** The HTTP request as received. */
export interface RequestInfo {
  requestId: string;
  address: string;
  method: string;
  /** Absolute URL with the query string, exactly as received. */
  url: string;
  /** The form body of POST _search. */
  form?: string;
}

export interface Outcome {
  status: number;
  /** The OperationOutcome of a failure: attached as a contained entity (audit-event.md §1.11). */
  outcome?: Resource;
  message?: string;
}

/** A failed request's Outcome: its OperationOutcome attached, or a bare 500 whose message is not kept (a bug's). */
export function failedOutcome(e: unknown): Outcome {
  const fhir = toFhirError(e);
  if (fhir) return { status: fhir.status, outcome: toOutcome(fhir.issues), message: fhir.message };
  const bug = internalError();
  return { status: bug.status, message: bug.message };
}

/** The BALP pattern an event follows: decides the agent type codes (audit-event.md §3.5). */
export type Pattern = 'Create' | 'Read' | 'Update' | 'Delete' | 'Query';

const SRC: Coding = { system: DCM, code: '110153', display: 'Source Role ID' };
const DST: Coding = { system: DCM, code: '110152', display: 'Destination Role ID' };
const APP: Coding = { system: DCM, code: '110150', display: 'Application' };
const CUSTODIAN: Coding = { system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'custodian', display: 'Custodian' };
const IRCP: Coding = { system: PARTICIPATION, code: 'IRCP', display: 'information recipient' };
const AUT: Coding = { system: PARTICIPATION, code: 'AUT', display: 'author (originator)' };

const AGENT_TYPES: Record<Pattern, { client: Coding; server: Coding; user: Coding }> = {
  Create: { client: SRC, server: DST, user: AUT },
  Read: { client: DST, server: SRC, user: IRCP },
  Update: { client: SRC, server: DST, user: AUT },
  Delete: { client: APP, server: CUSTODIAN, user: AUT },
  Query: { client: SRC, server: DST, user: IRCP },
};

export const outcomeCode = (status: number): string => (status < 400 ? '0' : status < 500 ? '4' : '8');

const concept = (c: Coding) => ({ coding: [c] });

/** This server as the observer and the server agent: identified by the tenant's FHIR base. */
export function observer(base: string): Json {
  return { identifier: { system: RFC3986, value: base }, display: 'Hearth FHIR server' };
}

function userAgent(actor: Actor, type: Coding): Json | undefined {
  if (!actor.subject || actor.subject === actor.clientId) return undefined; // backend services act as the client
  const who = actor.fhirUser ? { reference: actor.fhirUser } : { identifier: { system: USER_ID_SYSTEM, value: actor.subject } };
  return {
    type: { coding: [type, { system: `${BALP}/CodeSystem/UserAgentTypes`, code: 'UserOauthAgent' }] },
    who, altId: actor.subject, requestor: true,
    ...(actor.jti ? { policy: [`urn:ietf:params:oauth:jti:${actor.jti}`] } : {}),
  };
}

/** Client, server and (when a user acts) user agents, BALP §3.2. */
export function agents(pattern: Pattern, actor: Actor, req: RequestInfo, base: string): Json[] {
  const types = AGENT_TYPES[pattern];
  const client: Json = {
    type: concept(types.client),
    ...(actor.clientId ? { who: { identifier: { system: CLIENT_ID_SYSTEM, value: actor.clientId } } } : {}),
    requestor: !actor.subject || actor.subject === actor.clientId,
    network: { address: req.address, type: '2' },
    ...(actor.jti && (!actor.subject || actor.subject === actor.clientId) ? { policy: [`urn:ietf:params:oauth:jti:${actor.jti}`] } : {}),
  };
  const server: Json = { type: concept(types.server), who: observer(base), requestor: false, network: { address: base, type: '5' } };
  const user = userAgent(actor, types.user);
  return user ? [user, client, server] : [client, server];
}

export const dataEntity = (reference: string, role: '3' | '4' | '20' = '4', labels?: unknown): Json => ({
  what: { reference }, type: { system: ENTITY_TYPE, code: '2', display: 'System Object' },
  role: { system: OBJECT_ROLE, code: role }, ...(Array.isArray(labels) && labels.length ? { securityLabel: labels } : {}),
});

export const patientEntity = (patient: string): Json => ({
  what: { reference: patient }, type: { system: ENTITY_TYPE, code: '1', display: 'Person' },
  role: { system: OBJECT_ROLE, code: '1', display: 'Patient' },
});

/** The query entity: the request exactly as received, base64 (BALP Query); POST _search adds its form body. */
export function queryEntity(req: RequestInfo, description?: string): Json {
  const raw = req.form !== undefined ? `${req.url}\n${req.form}` : req.url;
  return { type: { system: ENTITY_TYPE, code: '2', display: 'System Object' }, role: { system: OBJECT_ROLE, code: '24', display: 'Query' },
    query: Buffer.from(raw).toString('base64'), ...(description ? { description } : {}) };
}

/** BALP's transaction entity: the X-Request-Id value (audit-event.md §3.3). */
export const requestEntity = (requestId: string): Json => ({
  what: { identifier: { value: requestId } }, type: { system: `${BALP}/CodeSystem/BasicAuditEntityType`, code: 'XrequestId' },
});

export interface EventSpec {
  type: Coding;
  subtype: Coding[];
  action: Action;
  pattern: Pattern;
  /** Patient variant (BALP Patient*) when a patient entity is present. */
  profile?: string;
  actor: Actor;
  request: RequestInfo;
  base: string;
  outcome: Outcome;
  entities: Json[];
  recorded: Date;
}

/**
 * A UUIDv7 (RFC 9562) whose 48-bit timestamp is `at`: an AuditEvent's id carries its `recorded` instant, so a read by
 * id finds the partition and the primary key without an index on id.
 */
export function auditId(at: Date): string {
  // randomUUID draws from a buffered pool: a version-4 UUID supplies the random bits and the variant, and the
  // timestamp replaces its first 48 bits (measured: randomBytes(16) a call was 2% of a busy server's CPU).
  const random = crypto.randomUUID();
  const ms = at.getTime().toString(16).padStart(12, '0');
  return `${ms.slice(0, 8)}-${ms.slice(8, 12)}-7${random.slice(15, 18)}-${random.slice(19)}`;
}

/** The instant inside an id made by auditId; undefined for any other id. */
export function auditIdInstant(id: string): Date | undefined {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i.test(id)) return undefined;
  return new Date(parseInt(id.replace(/-/g, '').slice(0, 12), 16));
}

/** One AuditEvent resource; the id is assigned here so the stored row and the resource agree. */
export function auditEvent(s: EventSpec): Resource {
  const failed = s.outcome.status >= 400;
  const contained = failed && s.outcome.outcome ? [{ ...s.outcome.outcome, id: 'outcome' }] : undefined;
  const entities = [...s.entities, ...consentEntities(s.actor), requestEntity(s.request.requestId)];
  if (contained) entities.push({ what: { reference: '#outcome' }, type: { system: ENTITY_TYPE, code: '2' }, description: 'OperationOutcome' });
  const patient = s.entities.some((e) => (e.role as Coding | undefined)?.code === '1');
  const recorded = s.recorded.toISOString();
  return {
    resourceType: 'AuditEvent', id: auditId(s.recorded),
    meta: { versionId: '1', lastUpdated: recorded,
      ...(s.profile ? { profile: [`${BALP}/StructureDefinition/IHE.BasicAudit.${patient ? 'Patient' : ''}${s.profile}`] } : {}) },
    ...(contained ? { contained } : {}),
    type: s.type, subtype: s.subtype, action: s.action, recorded, outcome: outcomeCode(s.outcome.status),
    ...(failed ? { outcomeDesc: `HTTP ${s.outcome.status}${s.outcome.message ? `: ${s.outcome.message}` : ''}`.slice(0, 1000) } : {}),
    ...(s.actor.breakGlass ? { purposeOfEvent: [{ coding: [BREAK_THE_GLASS] }] } : {}),
    agent: agents(s.pattern, s.actor, s.request, s.base),
    source: { observer: observer(s.base), type: [{ system: SOURCE_TYPE, code: '3', display: 'Web Server' }] },
    entity: entities,
  } as Resource;
}

/** Each Consent that took part in the request's access decision, with its effects (issue #16 §3). */
function consentEntities(actor: Actor): Json[] {
  return [...actor.consents ?? []].map(([id, effects]) => ({
    what: { reference: `Consent/${id}` }, type: { system: ENTITY_TYPE, code: '2', display: 'System Object' },
    role: { system: OBJECT_ROLE, code: '13', display: 'Security Resource' },
    description: `Consent decision: ${[...effects].sort().join(', ')}`,
    detail: [{ type: 'consent-decision', valueString: [...effects].sort().join(',') }],
  }));
}

/** Purpose of use "break the glass" — http://terminology.hl7.org/CodeSystem/v3-ActReason */
export const BREAK_THE_GLASS: Coding = { system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'BTG', display: 'break the glass' };

export const REST_TYPE: Coding = { system: EVENT_TYPE, code: 'rest', display: 'Restful Operation' };
export const interactionCoding = (code: string): Coding => ({ system: INTERACTION, code });
export const dcm = (code: string, display: string): Coding => ({ system: DCM, code, display });
export const hearthSubtype = (code: string): Coding => ({ system: HEARTH_SUBTYPE, code });
