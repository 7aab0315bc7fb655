/**
 * The SMART authorization endpoint's rules — https://hl7.org/fhir/smart-app-launch/app-launch.html#obtain-authorization-code
 * (smart-app-launch.md §3–§4, §6): request validation, the pending request kept between the login, patient picker,
 * encounter picker and consent steps (auth_request, 10 minutes, one use), and the grant plus code an approval produces.
 */
import type { Queryable } from '../db/db.js';
import { ident, sql } from '../db/sql.js';
import type { Params } from '../fhir/types.js';
import { normalizeText } from '../search/normalize.js';
import { type SearchDefinitions, findResources } from '../storage/find.js';
import { type LaunchContext, consumeLaunch, createCode, createGrant, newSecret } from '../auth/grants.js';
import { parseScopes, scopeCovers } from '../auth/scopes.js';

/** RFC 6749 §4.1.2.1 error codes this endpoint redirects with. */
export type AuthorizeError = 'invalid_request' | 'unauthorized_client' | 'access_denied' | 'unsupported_response_type'
  | 'invalid_scope';

/** What the endpoint needs of a registered client. */
export interface AuthorizeClient {
  clientId: string;
  name: string;
  type: 'public' | 'confidential' | 'backend';
  redirectUris: string[];
  scope: string;
}

/** The validated request, stored in auth_request.params while the user walks the steps. */
export interface PendingParams {
  redirectUri: string;
  state: string;
  /** Scopes the user is asked for, in request order (after dropping, client limits and the public-client downgrade). */
  scope: string[];
  codeChallenge: string;
  nonce?: string;
  /** Started by an EHR launch (the `launch` parameter). */
  ehr: boolean;
  /** A patient context must be established before consent (§4.9). */
  needPatient: boolean;
  /** Standalone launch/encounter: the user picks one of the patient's encounters (when it has any) before consent. */
  needEncounter?: boolean;
  /** CSRF token every form of this request carries. */
  csrf: string;
  /** Hash of the browser-binding cookie of the browser that first opened the request's pages ('' until then). */
  browser: string;
}

export interface AuthRequest {
  id: string;
  clientId: string;
  params: PendingParams;
  context: LaunchContext;
  sessionHash?: string;
}

/** A refusal: a 400 page (bad client_id or redirect_uri, never redirected to) or an error redirect to the app. */
export type AuthorizeFailure = { kind: 'reject'; message: string } | { kind: 'redirect'; location: string };

export type AuthorizeOutcome = AuthorizeFailure | { kind: 'pending'; request: AuthRequest };

/** Project decisions: a pending request lives 10 minutes, a code 60 seconds (smart-app-launch.md §4.7). */
export const REQUEST_TTL_MS = 10 * 60 * 1000;
export const CODE_TTL_MS = 60 * 1000;

const t = (schema: string, name: string) => sql`${ident(schema)}.${ident(name)}`;

/** redirect_uri with the response parameters appended (its own query is kept). */
export function redirectTo(redirectUri: string, values: Record<string, string | undefined>): string {
  const url = new URL(redirectUri);
  for (const [k, v] of Object.entries(values)) if (v !== undefined) url.searchParams.append(k, v);
  return url.href;
}

const fail = (redirectUri: string, state: string | undefined, error: AuthorizeError, description: string): AuthorizeFailure =>
  ({ kind: 'redirect', location: redirectTo(redirectUri, { error, error_description: description, state }) });

const REQUIRED = ['response_type', 'client_id', 'redirect_uri', 'scope', 'state', 'code_challenge', 'code_challenge_method'];
/** RFC 7636 §4.2: the S256 challenge is BASE64URL(SHA256(verifier)), 43 characters. */
const CHALLENGE = /^[A-Za-z0-9_-]{43}$/;
const CONTEXT = new Set(['launch', 'launch/patient', 'launch/encounter']);

export interface ScopeDecision {
  scope: string[];
  needPatient: boolean;
  needEncounter: boolean;
}

/**
 * The scopes a user may be asked to grant: unknown ones and system/ scopes dropped (§8.1 project decision; system/
 * belongs to backend services), nothing beyond the client's registration, offline_access → online_access for public
 * clients (§5.9), launch/patient inferred for patient/ scopes without a launch (§4.9). Empty → invalid_scope.
 * A standalone launch/encounter needs a patient first (the encounter is picked among that patient's); an EHR launch
 * brings its encounter with it.
 */
export function decideScopes(requested: string, client: AuthorizeClient, ehr: boolean,
  isType: (t: string) => boolean): ScopeDecision {
  const registered = parseScopes(client.scope, isType);
  const asked = parseScopes(requested, isType);
  const out: string[] = [];
  for (const text of requested.split(/\s+/).filter((s) => s !== '')) {
    const rule = asked.rules.find((r) => r.text === text);
    if (rule) {
      if (rule.level !== 'system' && scopeCovers(registered, { rules: [rule], other: [], dropped: [] })) out.push(text);
      continue;
    }
    if (!asked.other.includes(text) || text.startsWith('system/')) continue;
    const wanted = text === 'offline_access' && client.type === 'public' ? 'online_access' : text;
    const allowed = registered.other.includes(wanted)
      || (wanted === 'online_access' && registered.other.includes('offline_access'));
    if (allowed) out.push(wanted);
  }
  const scope = [...new Set(out)];
  const patientRules = scope.some((s) => s.startsWith('patient/'));
  if (patientRules && !ehr && !scope.includes('launch/patient')) scope.push('launch/patient');
  const needEncounter = !ehr && scope.includes('launch/encounter');
  return { scope, needPatient: patientRules || scope.includes('launch/patient') || needEncounter, needEncounter };
}

export interface AuthorizeInput {
  params: Params;
  client: AuthorizeClient | undefined;
  /** The tenant's FHIR base, e.g. http://host/fhir/default. */
  fhirBase: string;
  isType: (t: string) => boolean;
}

const trimSlash = (s: string) => s.replace(/\/+$/, '');

interface Checked {
  client: AuthorizeClient;
  p: Map<string, string>;
  redirectUri: string;
  state: string;
  scope: ScopeDecision;
}

/** §4.3–§4.5: no redirect until client_id and redirect_uri are known good; then errors go back to the app. */
function checkParams(input: AuthorizeInput): Checked | AuthorizeFailure {
  const p = new Map<string, string>();
  const repeated = new Set<string>();
  for (const [k, v] of input.params) {
    if (p.has(k)) repeated.add(k);
    else p.set(k, v);
  }
  const { client } = input;
  if (!p.get('client_id') || repeated.has('client_id') || !client) return { kind: 'reject', message: 'The app is not registered here (unknown client_id).' };
  const redirectUri = p.get('redirect_uri');
  if (!redirectUri || repeated.has('redirect_uri') || !client.redirectUris.includes(redirectUri)) {
    return { kind: 'reject', message: 'The redirect_uri is missing or is not one registered for this app.' };
  }
  const state = repeated.has('state') ? undefined : p.get('state');
  if (repeated.size > 0) return fail(redirectUri, state, 'invalid_request', `Repeated parameter: ${[...repeated].join(', ')}`);
  const responseType = p.get('response_type');
  if (responseType !== undefined && responseType !== 'code') {
    return fail(redirectUri, state, 'unsupported_response_type', 'Only response_type=code is supported');
  }
  const missing = REQUIRED.filter((k) => !p.get(k));
  if (!p.get('aud') && !p.get('resource')) missing.push('aud');
  if (missing.length > 0) return fail(redirectUri, state, 'invalid_request', `Missing parameter: ${missing.join(', ')}`);
  if (client.type === 'backend') return fail(redirectUri, state, 'unauthorized_client', 'Backend services use client_credentials');
  if (p.get('code_challenge_method') !== 'S256') {
    return fail(redirectUri, state, 'invalid_request', 'code_challenge_method must be S256 (plain is refused)');
  }
  if (!CHALLENGE.test(p.get('code_challenge')!)) return fail(redirectUri, state, 'invalid_request', 'Malformed code_challenge');
  if (trimSlash(p.get('aud') ?? p.get('resource')!) !== trimSlash(input.fhirBase)) {
    return fail(redirectUri, state, 'invalid_request', `aud must be this server's FHIR base ${input.fhirBase}`);
  }
  const scope = decideScopes(p.get('scope')!, client, p.has('launch'), input.isType);
  if (scope.scope.length === 0) return fail(redirectUri, state, 'invalid_scope', 'None of the requested scopes can be granted');
  return { client, p, redirectUri, state: state!, scope };
}

/** Validates an authorization request (GET query or POST form) and stores it pending; §4.2–§4.6, §4.9. */
export async function startAuthorization(db: Queryable, schema: string, input: AuthorizeInput, at: Date): Promise<AuthorizeOutcome> {
  const checked = checkParams(input);
  if ('kind' in checked) return checked;
  const { client, p, redirectUri, state, scope } = checked;
  const launchId = p.get('launch');
  let context: LaunchContext = {};
  if (launchId !== undefined) {
    const launch = launchId === '' ? undefined : await consumeLaunch(db, schema, launchId, at);
    if (!launch) return fail(redirectUri, state, 'invalid_request', 'The launch is unknown, expired or already used');
    context = launchContext(launch);
  }
  const nonce = p.get('nonce');
  const params: PendingParams = { redirectUri, state, scope: scope.scope, codeChallenge: p.get('code_challenge')!,
    ...(nonce ? { nonce } : {}), ehr: launchId !== undefined, needPatient: scope.needPatient,
    needEncounter: scope.needEncounter, csrf: newSecret(), browser: '' };
  const request: AuthRequest = { id: newSecret(), clientId: client.clientId, params, context };
  await db.query(sql`DELETE FROM ${t(schema, 'auth_request')} WHERE expires_at < ${at}`);
  await db.query(sql`INSERT INTO ${t(schema, 'auth_request')} (id, client_id, params, context, expires_at)
    VALUES (${request.id}, ${request.clientId}, ${JSON.stringify(params)}::jsonb, ${JSON.stringify(context)}::jsonb,
    ${new Date(at.getTime() + REQUEST_TTL_MS)})`);
  return { kind: 'pending', request };
}

/**
 * The context an EHR launch carries into the grant (§6): patient and encounter ids, fhirContext entries that have a
 * reference, canonical or identifier (Patient/Encounter only with a role other than `launch`), banner, style, intent.
 */
export function launchContext(launch: LaunchContext): LaunchContext {
  const fhirContext = (launch.fhirContext ?? []).filter((c) => (c.reference || c.canonical || c.identifier)
    && !(/^(Patient|Encounter)\//.test(c.reference ?? '') && (c.role === undefined || c.role === 'launch'))
    && c.role !== '');
  return {
    ...(launch.patient ? { patient: launch.patient } : {}),
    ...(launch.encounter ? { encounter: launch.encounter } : {}),
    ...(fhirContext.length > 0 ? { fhirContext } : {}),
    need_patient_banner: launch.need_patient_banner ?? false,
    ...(launch.smart_style_url ? { smart_style_url: launch.smart_style_url } : {}),
    ...(launch.intent ? { intent: launch.intent } : {}),
  };
}

/** A pending request that is neither finished nor expired. */
export async function loadRequest(db: Queryable, schema: string, id: string, at: Date): Promise<AuthRequest | undefined> {
  if (!/^[A-Za-z0-9_-]{43}$/.test(id)) return undefined;
  const rows = await db.query<{ id: string; client_id: string; params: PendingParams; context: LaunchContext;
    session_hash: string | null }>(sql`SELECT id, client_id, params, context, session_hash FROM ${t(schema, 'auth_request')}
    WHERE id = ${id} AND done_at IS NULL AND expires_at > ${at}`);
  const r = rows[0];
  return r && { id: r.id, clientId: r.client_id, params: r.params, context: r.context,
    ...(r.session_hash ? { sessionHash: r.session_hash } : {}) };
}

/**
 * Binds a request to the browser that first opens its pages (the /authorize response may reach the browser through a
 * cross-site POST, which carries no SameSite=Lax cookie). False when another browser got there first.
 */
export async function bindBrowser(db: Queryable, schema: string, id: string, browser: string): Promise<boolean> {
  const rows = await db.query(sql`UPDATE ${t(schema, 'auth_request')} SET params = jsonb_set(params, '{browser}', to_jsonb(${browser}::text))
    WHERE id = ${id} AND params->>'browser' = '' RETURNING id`);
  return rows.length === 1;
}

export async function setRequestSession(db: Queryable, schema: string, id: string, sessionHash: string | null): Promise<void> {
  await db.query(sql`UPDATE ${t(schema, 'auth_request')} SET session_hash = ${sessionHash} WHERE id = ${id}`);
}

export async function setRequestContext(db: Queryable, schema: string, id: string, context: LaunchContext): Promise<void> {
  await db.query(sql`UPDATE ${t(schema, 'auth_request')} SET context = ${JSON.stringify(context)}::jsonb WHERE id = ${id}`);
}

/** Marks the request finished; false when it already was (a second Approve/Deny does nothing). */
async function finish(db: Queryable, schema: string, id: string, at: Date): Promise<boolean> {
  const rows = await db.query(sql`UPDATE ${t(schema, 'auth_request')} SET done_at = ${at}
    WHERE id = ${id} AND done_at IS NULL AND expires_at > ${at} RETURNING id`);
  return rows.length === 1;
}

export interface Approval {
  userId: string;
  sessionHash: string;
  fhirUser: string;
  /** What the user ticked on the consent screen; anything not offered is ignored. */
  chosen: string[];
}

/**
 * Approve (§4.7–§4.8): a grant for the chosen subset plus the context scopes, and a 60-second code bound to client,
 * redirect_uri, PKCE challenge and nonce. Nothing chosen counts as a denial. Undefined when already finished.
 */
export async function approve(db: Queryable, schema: string, request: AuthRequest, a: Approval, at: Date): Promise<string | undefined> {
  const { params } = request;
  const granted = params.scope.filter((s) => CONTEXT.has(s) || a.chosen.includes(s));
  const offered = params.scope.some((s) => !CONTEXT.has(s));
  if (offered && !granted.some((s) => !CONTEXT.has(s))) return deny(db, schema, request, at);
  if (!(await finish(db, schema, request.id, at))) return undefined;
  const context: LaunchContext = { ...request.context, fhirUser: a.fhirUser,
    need_patient_banner: params.ehr ? request.context.need_patient_banner ?? false : true };
  const grant = await createGrant(db, schema, { clientId: request.clientId, userId: a.userId, sessionHash: a.sessionHash,
    scope: granted.join(' '), context }, at);
  const code = await createCode(db, schema, { grantId: grant.id, clientId: request.clientId, redirectUri: params.redirectUri,
    codeChallenge: params.codeChallenge, ...(params.nonce ? { nonce: params.nonce } : {}) }, new Date(at.getTime() + CODE_TTL_MS));
  return redirectTo(params.redirectUri, { code, state: params.state });
}

/** Deny: redirect with access_denied (§4.4); undefined when the request was already finished. */
export async function deny(db: Queryable, schema: string, request: AuthRequest, at: Date): Promise<string | undefined> {
  if (!(await finish(db, schema, request.id, at))) return undefined;
  return redirectTo(request.params.redirectUri, { error: 'access_denied', error_description: 'The user denied access',
    state: request.params.state });
}

/** Scopes the consent screen lists with a checkbox, and those always granted with any approval. */
export const consentChoices = (scope: string[]): { choose: string[]; always: string[] } =>
  ({ choose: scope.filter((s) => !CONTEXT.has(s)), always: scope.filter((s) => CONTEXT.has(s)) });

export interface PatientRow {
  id: string;
  name: string;
  birthDate?: string;
}

type HumanName = { use?: string; text?: string; given?: string[]; family?: string; prefix?: string[] };

function displayName(names: HumanName[] | undefined): string {
  const n = names?.find((x) => x.use === 'official') ?? names?.[0];
  if (!n) return '(no name)';
  return n.text ?? ([...(n.given ?? []), n.family].filter(Boolean).join(' ') || '(no name)');
}

/**
 * Patients of the tenant for the picker: `Patient?name=<query>&_sort=family,_id&_count=<limit>` — a normalised
 * starts-with name search, sorted by family name. The query is normalised first, so that its punctuation (FHIR search
 * escapes `,` `$` `|` `\\` and LIKE's `%` `_` included) is plain text as in the index; nothing left → every patient.
 */
export async function listPatients(db: Queryable, schema: string, query: string, limit: number,
  search: SearchDefinitions): Promise<PatientRow[]> {
  // A lone surrogate (a cut pair) cannot reach SQL text; it counts as a word break like punctuation.
  const name = normalizeText(query.replace(/\p{Cs}/gu, ' '));
  const found = await findResources(db, schema, 'Patient', [...(name === '' ? [] : [['name', name] as [string, string]]),
    ['_sort', 'family,_id'], ['_count', String(limit)]], search);
  return found.map(({ id, resource }) => {
    const content = resource as { name?: HumanName[]; birthDate?: unknown };
    return { id, name: displayName(content.name),
      ...(typeof content.birthDate === 'string' ? { birthDate: content.birthDate } : {}) };
  });
}

/** `Patient?_id=<id>` finds a live patient. */
export async function patientExists(db: Queryable, schema: string, id: string, search: SearchDefinitions): Promise<boolean> {
  return (await findResources(db, schema, 'Patient', [['_id', id], ['_count', '1']], search)).length === 1;
}

/** The Patient id of a patient user ('Patient/123' → '123'). */
export const ownPatient = (fhirUser: string): string | undefined => /^Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(fhirUser)?.[1];

export interface EncounterRow {
  id: string;
  status?: string;
  type?: string;
  periodStart?: string;
  periodEnd?: string;
}

type CodeableConcept = { text?: string; coding?: { display?: string; code?: string }[] };
type EncounterContent = { status?: unknown; type?: CodeableConcept[]; class?: { display?: string; code?: string };
  period?: { start?: unknown; end?: unknown } };

const conceptText = (c: CodeableConcept | undefined): string | undefined =>
  c?.text ?? c?.coding?.find((x) => x.display)?.display ?? c?.coding?.find((x) => x.code)?.code;
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

function encounterRow(id: string, e: EncounterContent): EncounterRow {
  const type = str(conceptText(Array.isArray(e.type) ? e.type[0] : undefined) ?? e.class?.display ?? e.class?.code);
  const status = str(e.status);
  const start = str(e.period?.start);
  const end = str(e.period?.end);
  return { id, ...(status ? { status } : {}), ...(type ? { type } : {}), ...(start ? { periodStart: start } : {}),
    ...(end ? { periodEnd: end } : {}) };
}

/** Encounters whose subject is Patient/<patient> (the `patient` parameter is the subset of those), as search criteria. */
const encountersOf = (patient: string): Params => [['subject', `Patient/${patient}`]];

/**
 * The patient's encounters for the standalone encounter picker (context-standalone-encounter), newest first:
 * `Encounter?subject=Patient/<patient>&_sort=-date,-_lastUpdated,_id&_count=<limit>`.
 */
export async function listEncounters(db: Queryable, schema: string, patient: string, limit: number,
  search: SearchDefinitions): Promise<EncounterRow[]> {
  const found = await findResources(db, schema, 'Encounter', [...encountersOf(patient),
    ['_sort', '-date,-_lastUpdated,_id'], ['_count', String(limit)]], search);
  return found.map(({ id, resource }) => encounterRow(id, resource as EncounterContent));
}

/** `Encounter?_id=<id>&subject=Patient/<patient>` finds a live encounter. */
export async function encounterOfPatient(db: Queryable, schema: string, patient: string, id: string,
  search: SearchDefinitions): Promise<boolean> {
  return (await findResources(db, schema, 'Encounter', [['_id', id], ...encountersOf(patient), ['_count', '1']], search))
    .length === 1;
}
