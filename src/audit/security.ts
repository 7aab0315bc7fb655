/**
 * AuditEvents of what happens outside FHIR REST dispatch (issue #6 §1, audit-event.md §4) — sign-in and sign-out,
 * the token and revocation endpoints, the admin API, Bulk Data status polls, downloads and cancels —
 * http://hl7.org/fhir/R4/auditevent.html. Identifiers only: never a password, token, code, secret or assertion.
 *
 * Codes of http://hearth.dev/fhir/CodeSystem/audit-subtype used here:
 * - type DCM 110114 User Authentication: `token-issued` (authorization_code, refresh_token, client_credentials),
 *   `token-refused` (any refused token request), `token-revoked` (a revocation request; outcome 4 when refused).
 *   Login and logout carry DCM 110122 / 110123 instead.
 * - type DCM 110113 Security Alert, next to DICOM's own subtype (110129 Security Configuration, 110131 Software
 *   Configuration, 110132 Use of Restricted Function, 110137 User Security Attributes Changed): `tenant-create`,
 *   `tenant-delete`, `client-create`, `client-delete`, `user-create`, `launch-create`, `local-token`, `key-rotate`,
 *   `admin-refused`. DICOM files configuration changes under Security Alert; 110100 Application Activity is for the
 *   application's own start, stop and scheduled work (src/audit/system-event.ts).
 * - REST-shaped (restful-interaction `operation`): `$export-status`, `$export-download`, `$export-cancel`.
 */
import crypto from 'node:crypto';
import type { Resource } from '../fhir/types.js';
import { type Failure, type Occurrence, type Origin, type SecurityEvents, type SignedIn, type TokenEventCode, type TokenFacts,
  USERNAME } from '../auth/security-events.js';
import type { AuditLog } from './log.js';
import { type Action, type Actor, CLIENT_ID_SYSTEM, type Outcome, REST_TYPE, type RequestInfo, USER_ID_SYSTEM, auditEvent,
  dataEntity, dcm, hearthSubtype, interactionCoding, observer, outcomeCode, patientEntity, requestEntity } from './event.js';

type Json = Record<string, unknown>;
type Coding = { system: string; code: string; display?: string };

export const USERNAME_SYSTEM = 'http://hearth.dev/fhir/sid/username';
export const OPERATOR_SYSTEM = 'http://hearth.dev/fhir/sid/operator';
export const GRANT_ID_SYSTEM = 'http://hearth.dev/fhir/sid/grant-id';
export const TENANT_SYSTEM = 'http://hearth.dev/fhir/sid/tenant';
export const SIGNING_KEY_SYSTEM = 'http://hearth.dev/fhir/sid/signing-key';
export const ROLE_SYSTEM = 'http://hearth.dev/fhir/sid/role';
export const BREAK_GLASS_SYSTEM = 'http://hearth.dev/fhir/sid/break-glass-session';
/** The operator as the admin API knows it: whoever holds the admin token. */
export const ADMIN_API_OPERATOR = 'hearth-admin-api';

const ENTITY_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-entity-type';
const OBJECT_ROLE = 'http://terminology.hl7.org/CodeSystem/object-role';
const WEB_SERVER = { system: 'http://terminology.hl7.org/CodeSystem/security-source-type', code: '3', display: 'Web Server' };
const APPLICATION = { coding: [dcm('110150', 'Application')] };
const HUMAN_USER = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/extra-security-role-type', code: 'humanuser', display: 'human user' }] };
/** The identifier system of a global administrator (oauth/admins.ts): their id (the username is the display). */
export const ADMIN_USER_SYSTEM = 'http://hearth.dev/fhir/sid/admin-user';
export const RETENTION_RULE_SYSTEM = 'http://hearth.dev/fhir/sid/retention-rule';
const OAUTH_USER = { coding: [{ system: 'https://profiles.ihe.net/ITI/BALP/CodeSystem/UserAgentTypes', code: 'UserOauthAgent' }] };




/** What the event is about, and where and when it was recorded. */
interface Spec { type: Coding; subtype: Coding[]; action: Action; at: Occurrence; agents: Json[]; entities: Json[];
  failure?: Failure; note?: string }

function securityEvent(s: Spec): Resource {
  const recorded = s.at.recorded.toISOString();
  const desc = s.failure?.message ?? s.note;
  return { resourceType: 'AuditEvent', id: crypto.randomUUID(), meta: { versionId: '1', lastUpdated: recorded },
    type: s.type, subtype: s.subtype, action: s.action, recorded, outcome: s.failure ? outcomeCode(s.failure.status) : '0',
    ...(desc ? { outcomeDesc: desc.slice(0, 1000) } : {}), agent: s.agents,
    source: { observer: observer(s.at.base), type: [WEB_SERVER] },
    entity: [...s.entities, requestEntity(s.at.origin.requestId)] } as Resource;
}


const network = (o: Origin) => ({ address: o.address, type: '2' });
const policy = (jti: string | undefined) => (jti ? { policy: [`urn:ietf:params:oauth:jti:${jti}`] } : {});
const entity = (type: '1' | '2', role: string): Json =>
  ({ type: { system: ENTITY_TYPE, code: type }, role: { system: OBJECT_ROLE, code: role } });
/** An entity named by identifier only (a client, user, tenant, key or grant), role from object-role. */
export const identified = (system: string, value: string, role: '11' | '13' | '17'): Json =>
  ({ what: { identifier: { system, value } }, ...entity('2', role) });

// ---- login and logout (audit-event.md §4.3) ----


/** A known user: their FHIR resource and id; the username as altId, so that one search finds every attempt. */
const userAgent = (u: SignedIn, o: Origin): Json => ({ type: OAUTH_USER,
  who: { reference: u.fhirUser, identifier: { system: USER_ID_SYSTEM, value: u.id } }, altId: u.username, requestor: true,
  network: network(o) });

/**
 * A login (DCM 110122). A failure names the username as typed and nothing else — no user id, and the words the
 * login page shows — so the log tells no more than the page whether the username exists.
 */
export function loginEvent(at: Occurrence, a: { user: SignedIn } | { username: string; failure: Failure }): Resource {
  const typed = 'user' in a ? '' : USERNAME.test(a.username) ? a.username : '(not a valid username)';
  const agent = 'user' in a ? userAgent(a.user, at.origin) : { type: OAUTH_USER,
    who: { identifier: { system: USERNAME_SYSTEM, value: typed } }, altId: typed, requestor: true, network: network(at.origin) };
  return securityEvent({ type: dcm('110114', 'User Authentication'), subtype: [dcm('110122', 'Login')], action: 'E', at,
    agents: [agent], entities: [], ...('failure' in a ? { failure: a.failure } : {}) });
}

/** A logout (DCM 110123) that ended a live session. */
export const logoutEvent = (at: Occurrence, user: SignedIn): Resource =>
  securityEvent({ type: dcm('110114', 'User Authentication'), subtype: [dcm('110123', 'Logout')], action: 'E', at,
    agents: [userAgent(user, at.origin)], entities: [] });

// ---- the token and revocation endpoints (audit-event.md §4.1, §4.4) ----


const GRANT_TYPES = new Set(['authorization_code', 'refresh_token', 'client_credentials']);

/** The grant (what the token stands for) with its scope and grant type as details; patient entity when bound. */
export function grantEntities(f: TokenFacts): Json[] {
  const detail = [...(f.scope ? [{ type: 'scope', valueString: f.scope }] : []),
    ...(f.grantType ? [{ type: 'grant_type', valueString: GRANT_TYPES.has(f.grantType) ? f.grantType : 'unsupported' }] : [])];
  const grant = f.grantId ? identified(GRANT_ID_SYSTEM, f.grantId, '13') : entity('2', '13');
  const out = f.grantId || detail.length > 0 ? [{ ...grant, ...(detail.length > 0 ? { detail } : {}) }] : [];
  return f.patient ? [...out, patientEntity(`Patient/${f.patient}`)] : out;
}

/** token-issued, token-refused or token-revoked: the client as requestor (with the jti), the user whose grant it is. */
export function tokenEvent(code: TokenEventCode, at: Occurrence, f: TokenFacts,
  outcome: { failure?: Failure; note?: string } = {}): Resource {
  const client = { type: APPLICATION, ...(f.clientId ? { who: { identifier: { system: CLIENT_ID_SYSTEM, value: f.clientId } } } : {}),
    requestor: true, network: network(at.origin), ...policy(f.jti) };
  const user = f.user && { type: OAUTH_USER, who: { ...(f.user.fhirUser ? { reference: f.user.fhirUser } : {}),
    identifier: { system: USER_ID_SYSTEM, value: f.user.id } }, altId: f.user.id, requestor: false };
  return securityEvent({ type: dcm('110114', 'User Authentication'), subtype: [hearthSubtype(code)], action: 'E', at,
    agents: user ? [client, user] : [client], entities: grantEntities(f), ...outcome });
}

// ---- the admin API ----

export type AdminCode = 'tenant-create' | 'tenant-delete' | 'tenant-update' | 'tenant-suspend' | 'tenant-activate' | 'client-create' | 'client-delete' | 'user-create'
  | 'user-update' | 'user-disable' | 'user-enable' | 'user-unlock' | 'user-password-reset' | 'user-totp-reset' | 'user-delete'
  | 'launch-create' | 'local-token' | 'key-rotate' | 'admin-refused' | 'audit-retention' | 'auth-lifetimes' | 'consent-default'
  | 'role-update' | 'role-delete' | 'break-glass-review' | 'admin-login' | 'admin-logout' | 'admin-create' | 'admin-update'
  | 'admin-delete' | 'retention-rule' | 'retention-rule-delete' | 'retention-run' | 'tenant-offboard' | 'referential-integrity'
  | 'package-install' | 'required-profiles' | 'tenant-key-rotate';

const DICOM_SUBTYPE: Record<AdminCode, Coding> = {
  'tenant-create': dcm('110131', 'Software Configuration'),
  'tenant-delete': dcm('110131', 'Software Configuration'),
  'tenant-update': dcm('110131', 'Software Configuration'),
  'tenant-suspend': dcm('110131', 'Software Configuration'),
  'tenant-activate': dcm('110131', 'Software Configuration'),
  'client-create': dcm('110129', 'Security Configuration'),
  'client-delete': dcm('110129', 'Security Configuration'),
  'key-rotate': dcm('110129', 'Security Configuration'),
  'user-create': dcm('110137', 'User Security Attributes Changed'),
  'user-update': dcm('110137', 'User Security Attributes Changed'),
  'user-disable': dcm('110137', 'User Security Attributes Changed'),
  'user-enable': dcm('110137', 'User Security Attributes Changed'),
  'user-unlock': dcm('110137', 'User Security Attributes Changed'),
  'user-password-reset': dcm('110137', 'User Security Attributes Changed'),
  'user-totp-reset': dcm('110137', 'User Security Attributes Changed'),
  'user-delete': dcm('110137', 'User Security Attributes Changed'),
  'launch-create': dcm('110132', 'Use of Restricted Function'),
  'local-token': dcm('110132', 'Use of Restricted Function'),
  'admin-refused': dcm('110132', 'Use of Restricted Function'),
  'audit-retention': dcm('110131', 'Software Configuration'),
  'auth-lifetimes': dcm('110129', 'Security Configuration'),
  'consent-default': dcm('110129', 'Security Configuration'),
  'role-update': dcm('110129', 'Security Configuration'),
  'role-delete': dcm('110129', 'Security Configuration'),
  'break-glass-review': dcm('110136', 'Security Roles Changed'),
  'admin-login': dcm('110122', 'Login'),
  'admin-logout': dcm('110123', 'Logout'),
  'admin-create': dcm('110137', 'User Security Attributes Changed'),
  'admin-update': dcm('110137', 'User Security Attributes Changed'),
  'admin-delete': dcm('110137', 'User Security Attributes Changed'),
  'retention-rule': dcm('110131', 'Software Configuration'),
  'retention-rule-delete': dcm('110131', 'Software Configuration'),
  'retention-run': dcm('110132', 'Use of Restricted Function'),
  'tenant-offboard': dcm('110131', 'Software Configuration'),
  'referential-integrity': dcm('110131', 'Software Configuration'),
  'package-install': dcm('110131', 'Software Configuration'),
  'required-profiles': dcm('110131', 'Software Configuration'),
  'tenant-key-rotate': dcm('110129', 'Security Configuration'),
};
const ADMIN_ACTION: Record<AdminCode, Action> = { 'tenant-create': 'C', 'tenant-delete': 'D', 'tenant-update': 'U',
  'tenant-suspend': 'U', 'tenant-activate': 'U', 'client-create': 'C',
  'client-delete': 'D', 'user-create': 'C', 'user-update': 'U', 'user-disable': 'U', 'user-enable': 'U', 'user-unlock': 'U',
  'user-password-reset': 'U', 'user-totp-reset': 'U', 'user-delete': 'D', 'launch-create': 'C', 'local-token': 'E', 'key-rotate': 'E', 'admin-refused': 'E',
  'audit-retention': 'U', 'auth-lifetimes': 'U', 'consent-default': 'U', 'role-update': 'U', 'role-delete': 'D', 'break-glass-review': 'U',
  'admin-login': 'E', 'admin-logout': 'E', 'admin-create': 'C', 'admin-update': 'U', 'admin-delete': 'D',
  'retention-rule': 'U', 'retention-rule-delete': 'D', 'retention-run': 'D', 'tenant-offboard': 'U',
  'referential-integrity': 'U', 'package-install': 'U', 'required-profiles': 'U', 'tenant-key-rotate': 'U' };

/** An admin action by the operator (unnamed when the admin token was refused) on `entities`. */
export function adminEvent(code: AdminCode, at: Occurrence, entities: Json[], failure?: Failure, jti?: string): Resource {
  const who = at.operator ? { identifier: { system: at.operator.system, value: at.operator.value }, display: at.operator.display }
    : { identifier: { system: OPERATOR_SYSTEM, value: ADMIN_API_OPERATOR } };
  const operator = { type: at.operator ? HUMAN_USER : APPLICATION, requestor: true, network: network(at.origin), ...policy(jti),
    ...(code === 'admin-refused' ? {} : { who }) };
  return securityEvent({ type: dcm('110113', 'Security Alert'), subtype: [hearthSubtype(code), DICOM_SUBTYPE[code]],
    action: ADMIN_ACTION[code], at, agents: [operator], entities, ...(failure ? { failure } : {}) });
}

// ---- Bulk Data status, download and cancel (audit-event.md §4.5) ----

export type BulkStep = 'status' | 'download' | 'cancel';

/**
 * REST-shaped, like the kick-off: a download reads (R) a Report (the file URL), within its Job (the status URL);
 * a status poll or cancel executes (E) on the Job.
 */
export function bulkEvent(step: BulkStep, base: string, request: RequestInfo, actor: Actor, recorded: Date,
  urls: { status: string; file?: string }, outcome: Outcome): Resource {
  const job = dataEntity(urls.status, '20');
  return auditEvent({ type: REST_TYPE, subtype: [interactionCoding('operation'), hearthSubtype(`$export-${step}`)],
    action: step === 'download' ? 'R' : 'E', pattern: step === 'download' ? 'Read' : 'Query', actor, request, base, outcome,
    entities: urls.file ? [dataEntity(urls.file, '3'), job] : [job], recorded });
}

/**
 * One AuditEvent per `$import` input file with its counts (issue #14 §3): BALP records a bulk action as one event for
 * its data set rather than one per resource; the input's URL is the entity, beside the job's status URL if any.
 */
export function importEvent(base: string, principal: { clientId: string; subject: string; fhirUser?: string }, recorded: Date,
  input: { type?: string; url: string }, counts: { read: number; imported: number; failed: number }, request: string, job?: string): Resource {
  const entity = { ...dataEntity(input.url, '3'),
    description: `${counts.imported} ${input.type ?? 'resource'}(s) imported, ${counts.failed} line(s) refused, of ${counts.read} read` };
  return auditEvent({ type: REST_TYPE, subtype: [interactionCoding('operation'), hearthSubtype('$import')], action: 'C',
    pattern: 'Create', actor: { clientId: principal.clientId, subject: principal.subject,
      ...(principal.fhirUser ? { fhirUser: principal.fhirUser } : {}) },
    request: { requestId: `import-${job}`, address: 'localhost', method: 'POST', url: request }, base,
    outcome: { status: counts.failed > 0 ? 400 : 200 }, entities: job ? [entity, dataEntity(`${base}/_bulk/${job}`, '20')] : [entity],
    recorded });
}

/**
 * The one AuditEvent of a patient's erasure (issue #17 §3), written when its job ends: who (the requester), what (the
 * patient's id, the only personal datum it keeps), when, why (the reason given) and how much, as the entity's details.
 */
export function erasureEvent(base: string, principal: { clientId: string; subject: string; fhirUser?: string }, recorded: Date,
  patient: string, reason: string, counts: Record<string, number>, job: string): Resource {
  const entity = { ...patientEntity(`Patient/${patient}`),
    description: `Erased: ${Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(', ')}`,
    detail: [{ type: 'reason', valueString: reason }, ...Object.entries(counts).map(([k, v]) => ({ type: k, valueString: String(v) }))] };
  return auditEvent({ type: REST_TYPE, subtype: [interactionCoding('operation'), hearthSubtype('erasure')], action: 'D',
    pattern: 'Delete', profile: 'Delete', actor: { clientId: principal.clientId, subject: principal.subject,
      ...(principal.fhirUser ? { fhirUser: principal.fhirUser } : {}) },
    request: { requestId: `erase-${job}`, address: 'localhost', method: 'POST', url: `${base}/Patient/${patient}/$erase` }, base,
    outcome: { status: 200 }, entities: [entity, dataEntity(`${base}/$job-status?id=${job}`, '20')], recorded });
}

/** The security events the authorization server reports (src/auth/security-events.ts), written to the audit log. */
export function securityEvents(log: AuditLog): SecurityEvents {
  return {
    now: () => log.now(),
    token: (schema, code, at, facts, outcome) => log.record(schema, [tokenEvent(code, at, facts, outcome)]),
  };
}
