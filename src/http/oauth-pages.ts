/**
 * The SMART authorization endpoint and its server-rendered pages (login, patient and encounter pickers, consent,
 * logout) —
 * https://hl7.org/fhir/smart-app-launch/app-launch.html#obtain-authorization-code (smart-app-launch.md §4).
 * /authorize (GET, or POST for authorize-post) validates and stores the request, then sends the browser to
 * /flow/<request>, which shows whichever step is next; each step's form posts back and is redirected (303) onward.
 */
import { tenantBase } from './host-routing.js';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { loginEvent, logoutEvent } from '../audit/security.js';
import { type Occurrence } from '../auth/security-events.js';
import {
  type AuthRequest, type EncounterRow, approve, bindBrowser, consentChoices, deny, encounterOfPatient, listEncounters,
  listPatients, loadRequest, ownPatient, patientExists, setRequestContext, setRequestSession, startAuthorization,
} from '../oauth/authorize.js';
import { type Client, findClient } from '../oauth/clients.js';
import { describeScope } from '../auth/scopes.js';
import {
  BROWSER_COOKIE, type CookieOptions, SESSION_COOKIE, type Session, browserHash, createSession,
  findSession, logout, newBrowserId, parseCookies, sameSecret, serializeCookie,
} from '../oauth/sessions.js';
import { type User, authenticate, findUser } from '../oauth/users.js';
import type { Deps } from '../interactions/context.js';
import type { Params } from '../fhir/types.js';
import { type Tenant, findTenant } from '../storage/tenants.js';
import type { SearchDefinitions } from '../storage/find.js';
import { publicBase, rawQuery } from './fhir.js';
import { STYLESHEET, consentPage, encounterPickerPage, loginPage, messagePage, passwordResetPage, pickerPage } from './pages.js';
import { redeemPasswordReset } from '../oauth/user-admin.js';
import { FhirError } from '../errors.js';

/** A failure shown to the user as a page (never a redirect to the app). */
class PageError extends Error {
  constructor(readonly status: number, readonly title: string, message: string) {
    super(message);
    this.name = 'PageError';
  }
}

const PICKER_LIMIT = 50;
/**
 * A locked account gets the same words as a wrong password: only real usernames can be locked, so a distinct
 * message would tell whether a username exists.
 */
const FAILED = 'The username or password is not correct, or the account is locked for 15 minutes after 5 failed attempts.';
const LOGIN_ERRORS = {
  invalid: FAILED,
  'invalid-with-code': 'The username, password or code is not correct, or the account is locked for 15 minutes after 5 failed attempts.',
  locked: FAILED,
  'totp-required': 'Enter the code from your authenticator app together with your password.',
};
const LOGIN_WINDOW_MS = 60_000;


/**
 * Content-Security-Policy of every page: nothing but our stylesheet loads, forms post only to us, no framing.
 * The consent page's forms end in a redirect to the app, and browsers apply form-action to that redirect too, so
 * that page alone also allows the origin of the request's registered redirect_uri.
 */
function csp(formTarget?: string): string {
  const extra = formTarget ? ` ${formTarget}` : '';
  return `default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'${extra}; frame-ancestors 'none'; base-uri 'none'`;
}

/** The CSP source of a redirect_uri: its origin for http(s), its scheme for a native app's custom scheme. */
function formSource(redirectUri: string): string | undefined {
  const url = new URL(redirectUri);
  if (url.protocol === 'http:' || url.protocol === 'https:') return url.origin;
  return /^[a-z][a-z0-9+.-]*:$/.test(url.protocol) ? url.protocol : undefined;
}

function noStore(reply: FastifyReply): FastifyReply {
  return reply.header('Cache-Control', 'no-store').header('Pragma', 'no-cache').header('Referrer-Policy', 'no-referrer');
}

function sendPage(reply: FastifyReply, status: number, body: string, formTarget?: string): FastifyReply {
  return noStore(reply).code(status).type('text/html; charset=utf-8')
    .header('Content-Security-Policy', csp(formTarget)).header('X-Frame-Options', 'DENY').send(body);
}

function redirect(reply: FastifyReply, status: 302 | 303, location: string): FastifyReply {
  return noStore(reply).code(status).header('Location', location).send();
}

/** Form fields (the app parses urlencoded bodies into [key, value] pairs); any other body has none. */
const formFields = (body: unknown): Params => (Array.isArray(body) ? body as Params : []);
const field = (form: Params, name: string): string | undefined => form.find(([k]) => k === name)?.[1];

interface Flow {
  tenant: Tenant;
  request: AuthRequest;
  client: Client;
  cookies: Record<string, string | undefined>;
  /** Set-Cookie values to send with the response (the browser-binding cookie on a first GET). */
  setCookies: string[];
  secure: boolean;
}

interface FlowParams { tenant: string; id: string }

export function registerOAuthPages(app: FastifyInstance, deps: Deps): void {
  const max = deps.config.loginRateLimit;
  const now = () => deps.auth.now();
  const isType = (t: string) => deps.defs.isResourceType(t);
  /** The tenant's search parameters, for the pickers' searches (storage/find.ts). */
  const searchOf = async (flow: Flow): Promise<SearchDefinitions> =>
    ({ registry: await deps.tenantSearch.registryFor(deps.db, flow.tenant.schema), defs: deps.defs });

  async function tenantOf(slug: string): Promise<Tenant> {
    const tenant = await findTenant(deps.db, slug);
    if (!tenant) throw new PageError(404, 'Not found', 'There is no such tenant on this server.');
    if (tenant.suspendedAt) throw new PageError(403, 'Suspended', 'This organisation\'s access is suspended; ask its administrator.');
    return tenant;
  }

  const cookieOptions = (slug: string, secure: boolean): CookieOptions => ({ path: `/auth/${slug}`, secure });

  /** Where a sign-in or sign-out happened, for its AuditEvent (recorded before the page is answered). */
  const occurrence = (req: FastifyRequest, tenant: Tenant): Occurrence => ({ base: tenantBase(deps, req, tenant.slug),
    origin: { requestId: req.id, address: req.ip }, recorded: deps.audit.now() });

  /**
   * The pending request behind /flow/<id>, checked to belong to this browser: the first GET binds it to the
   * browser cookie (made then if missing); any other browser, and a POST to a request never viewed, is refused.
   */
  async function loadFlow(req: FastifyRequest<{ Params: FlowParams }>): Promise<Flow> {
    const tenant = await tenantOf(req.params.tenant);
    const request = await loadRequest(deps.db, tenant.schema, req.params.id, now());
    if (!request) {
      throw new PageError(400, 'Sign-in expired', 'This sign-in request has expired or was already used. Go back to the app and start again.');
    }
    const client = await findClient(deps.db, tenant.schema, request.clientId);
    if (!client) throw new PageError(400, 'Unknown app', 'The app that started this sign-in is no longer registered.');
    const flow: Flow = { tenant, request, client, cookies: parseCookies(req.headers.cookie), setCookies: [],
      secure: publicBase(deps, req).startsWith('https:') };
    const browser = browserHash(flow.cookies[BROWSER_COOKIE]);
    let bound = false;
    if (request.params.browser === '' && req.method === 'GET') {
      let mine = browser;
      if (!mine) {
        const value = newBrowserId();
        flow.setCookies.push(serializeCookie(BROWSER_COOKIE, value, cookieOptions(tenant.slug, flow.secure)));
        mine = browserHash(value)!;
      }
      bound = await bindBrowser(deps.db, tenant.schema, request.id, mine);
      if (bound) request.params.browser = mine;
    }
    if (!bound && !sameSecret(browser, request.params.browser)) {
      throw new PageError(403, 'Different browser', 'This sign-in was started in another browser. Go back to the app and start again.');
    }
    return flow;
  }

  /** A POST step: the request's CSRF token must come with the form. */
  async function loadPostedFlow(req: FastifyRequest<{ Params: FlowParams }>): Promise<{ flow: Flow; form: Params }> {
    const flow = await loadFlow(req);
    const form = formFields(req.body);
    if (!sameSecret(field(form, 'csrf'), flow.request.params.csrf)) {
      throw new PageError(403, 'Form not accepted', 'The form was missing its security token. Reload the page and try again.');
    }
    return { flow, form };
  }

  /**
   * The signed-in user of this request. Showing a step (adopt) takes the browser's live session, which is single
   * sign-on when the user signed in earlier; a posted step needs the very session its page was shown for.
   */
  async function signedIn(flow: Flow, adopt: boolean): Promise<{ session: Session; user: User } | undefined> {
    const session = await findSession(deps.db, flow.tenant.schema, flow.cookies[SESSION_COOKIE], now());
    if (!session) return undefined;
    if (flow.request.sessionHash !== session.hash) {
      if (!adopt) return undefined;
      await setRequestSession(deps.db, flow.tenant.schema, flow.request.id, session.hash);
      flow.request.sessionHash = session.hash;
    }
    const user = await findUser(deps.db, flow.tenant.schema, session.userId);
    return user && { session, user };
  }

  const formBase = (flow: Flow) => ({ slug: flow.tenant.slug, requestId: flow.request.id, csrf: flow.request.params.csrf,
    clientName: flow.client.name });
  const flowUrl = (flow: Flow) => `/auth/${flow.tenant.slug}/flow/${flow.request.id}`;

  /** The patient context, established from the user when they are a patient (§4.9); undefined → the picker. */
  async function patientFor(flow: Flow, user: User): Promise<string | undefined> {
    if (!flow.request.params.needPatient || flow.request.context.patient) return flow.request.context.patient;
    const own = ownPatient(user.fhirUser);
    if (own) {
      flow.request.context = { ...flow.request.context, patient: own };
      await setRequestContext(deps.db, flow.tenant.schema, flow.request.id, flow.request.context);
    }
    return own;
  }

  /**
   * The encounters to pick from (standalone launch/encounter, context-standalone-encounter): the patient's, while
   * none is chosen. Empty — no picker — when none is asked for, one is chosen, or the patient has none (the grant
   * then carries no encounter).
   */
  async function encountersToPick(flow: Flow, patient: string | undefined, limit = PICKER_LIMIT): Promise<EncounterRow[]> {
    if (!flow.request.params.needEncounter || flow.request.context.encounter || !patient) return [];
    return listEncounters(deps.db, flow.tenant.schema, patient, limit, await searchOf(flow));
  }

  /** GET /flow/<id>: the next step — login, patient picker, encounter picker, or consent. */
  async function showStep(req: FastifyRequest<{ Params: FlowParams; Querystring: { q?: string } }>, reply: FastifyReply) {
    const flow = await loadFlow(req);
    if (flow.setCookies.length > 0) reply.header('Set-Cookie', flow.setCookies);
    const who = await signedIn(flow, true);
    if (!who) return sendPage(reply, 200, loginPage({ ...formBase(flow), totp: false }));
    const patient = await patientFor(flow, who.user);
    if (flow.request.params.needPatient && !patient) {
      const query = typeof req.query.q === 'string' ? req.query.q.slice(0, 100) : '';
      const patients = await listPatients(deps.db, flow.tenant.schema, query, PICKER_LIMIT, await searchOf(flow));
      return sendPage(reply, 200, pickerPage({ ...formBase(flow), query, patients }));
    }
    const encounters = await encountersToPick(flow, patient);
    if (patient && encounters.length > 0) {
      return sendPage(reply, 200, encounterPickerPage({ ...formBase(flow), patient, encounters }));
    }
    const { encounter } = flow.request.context;
    const { choose, always } = consentChoices(flow.request.params.scope);
    const words = (s: string) => ({ scope: s, words: describeScope(s, isType) });
    return sendPage(reply, 200, consentPage({ ...formBase(flow), scopes: choose.map(words), always: always.map(words),
      user: who.user.username, ...(patient ? { patient } : {}), ...(encounter ? { encounter } : {}) }),
    formSource(flow.request.params.redirectUri));
  }

  /** POST /flow/<id>/login: username, password and, for TOTP users, the code. */
  async function login(req: FastifyRequest<{ Params: FlowParams }>, reply: FastifyReply) {
    const { flow, form } = await loadPostedFlow(req);
    const username = (field(form, 'username') ?? '').trim().slice(0, 200);
    const password = field(form, 'password') ?? '';
    const code = field(form, 'totp');
    const result = await authenticate(deps.db, flow.tenant.schema, username, password, code, now());
    if (!result.ok) {
      const totp = code !== undefined || result.reason === 'totp-required';
      const error = LOGIN_ERRORS[result.reason === 'invalid' && totp ? 'invalid-with-code' : result.reason];
      await deps.audit.record(flow.tenant.schema, [loginEvent(occurrence(req, flow.tenant), { username, failure: { status: 401, message: error } })]);
      return sendPage(reply, result.reason === 'totp-required' ? 200 : 401,
        loginPage({ ...formBase(flow), username, totp, error }));
    }
    const { token, session } = await createSession(deps.db, flow.tenant.schema, result.user.id, now());
    await setRequestSession(deps.db, flow.tenant.schema, flow.request.id, session.hash);
    await deps.audit.record(flow.tenant.schema, [loginEvent(occurrence(req, flow.tenant), { user: result.user })]);
    reply.header('Set-Cookie', serializeCookie(SESSION_COOKIE, token,
      { ...cookieOptions(flow.tenant.slug, flow.secure), maxAge: Math.max(1, Math.round((session.expiresAt.getTime() - now().getTime()) / 1000)) }));
    return redirect(reply, 303, flowUrl(flow));
  }

  /** POST /flow/<id>/patient: the practitioner's choice from the picker. */
  async function pickPatient(req: FastifyRequest<{ Params: FlowParams }>, reply: FastifyReply) {
    const { flow, form } = await loadPostedFlow(req);
    const who = await signedIn(flow, false);
    if (!who) return redirect(reply, 303, flowUrl(flow));
    if ((await patientFor(flow, who.user)) || !flow.request.params.needPatient) return redirect(reply, 303, flowUrl(flow));
    const id = field(form, 'patient') ?? '';
    const search = await searchOf(flow);
    if (!/^[A-Za-z0-9\-.]{1,64}$/.test(id) || !(await patientExists(deps.db, flow.tenant.schema, id, search))) {
      const patients = await listPatients(deps.db, flow.tenant.schema, '', PICKER_LIMIT, search);
      return sendPage(reply, 400, pickerPage({ ...formBase(flow), query: '', patients, error: 'Choose a patient from the list.' }));
    }
    await setRequestContext(deps.db, flow.tenant.schema, flow.request.id, { ...flow.request.context, patient: id });
    return redirect(reply, 303, flowUrl(flow));
  }

  /** POST /flow/<id>/encounter: the choice from the encounter picker, which must be one of the patient's. */
  async function pickEncounter(req: FastifyRequest<{ Params: FlowParams }>, reply: FastifyReply) {
    const { flow, form } = await loadPostedFlow(req);
    const who = await signedIn(flow, false);
    if (!who) return redirect(reply, 303, flowUrl(flow));
    const patient = await patientFor(flow, who.user);
    if (!patient || !flow.request.params.needEncounter || flow.request.context.encounter) return redirect(reply, 303, flowUrl(flow));
    const id = field(form, 'encounter') ?? '';
    if (!/^[A-Za-z0-9\-.]{1,64}$/.test(id) || !(await encounterOfPatient(deps.db, flow.tenant.schema, patient, id, await searchOf(flow)))) {
      const encounters = await encountersToPick(flow, patient);
      return sendPage(reply, 400, encounterPickerPage({ ...formBase(flow), patient, encounters,
        error: 'Choose an encounter from the list.' }));
    }
    await setRequestContext(deps.db, flow.tenant.schema, flow.request.id, { ...flow.request.context, encounter: id });
    return redirect(reply, 303, flowUrl(flow));
  }

  /** POST /flow/<id>/consent: Approve (with the ticked scopes) or Deny; either ends in a redirect to the app. */
  async function consent(req: FastifyRequest<{ Params: FlowParams }>, reply: FastifyReply) {
    const { flow, form } = await loadPostedFlow(req);
    const who = await signedIn(flow, false);
    if (!who) return redirect(reply, 303, flowUrl(flow));
    const at = now();
    let location: string | undefined;
    if (field(form, 'decision') === 'approve') {
      const patient = await patientFor(flow, who.user);
      if (flow.request.params.needPatient && !patient) return redirect(reply, 303, flowUrl(flow));
      if ((await encountersToPick(flow, patient, 1)).length > 0) return redirect(reply, 303, flowUrl(flow));
      location = await approve(deps.db, flow.tenant.schema, flow.request, { userId: who.user.id, sessionHash: who.session.hash,
        fhirUser: who.user.fhirUser, chosen: form.filter(([k]) => k === 'scope').map(([, v]) => v) }, at);
    } else {
      location = await deny(deps.db, flow.tenant.schema, flow.request, at);
    }
    if (!location) throw new PageError(400, 'Sign-in expired', 'This sign-in request was already completed.');
    return redirect(reply, 303, location);
  }

  /** GET|POST /authorize: validate, store, and continue at /flow/<id>; errors go back to the app or show a page. */
  async function authorize(req: FastifyRequest<{ Params: { tenant: string } }>, reply: FastifyReply) {
    const tenant = await tenantOf(req.params.tenant);
    const params = req.method === 'POST' ? formFields(req.body) : rawQuery(req.url);
    const clientId = params.find(([k]) => k === 'client_id')?.[1];
    const client = clientId ? await findClient(deps.db, tenant.schema, clientId) : undefined;
    const outcome = await startAuthorization(deps.db, tenant.schema, { params, client, isType,
      fhirBase: tenantBase(deps, req, tenant.slug) }, now());
    const status = req.method === 'POST' ? 303 : 302;
    if (outcome.kind === 'reject') throw new PageError(400, 'Cannot sign in to this app', outcome.message);
    if (outcome.kind === 'redirect') return redirect(reply, status, outcome.location);
    return redirect(reply, status, `/auth/${tenant.slug}/flow/${outcome.request.id}`);
  }

  /** GET|POST /logout: ends the session (its online_access grants are revoked) and clears the cookie. */
  async function signOut(req: FastifyRequest<{ Params: { tenant: string } }>, reply: FastifyReply) {
    const tenant = await tenantOf(req.params.tenant);
    const token = parseCookies(req.headers.cookie)[SESSION_COOKIE];
    const ended = await logout(deps.db, tenant.schema, token, now());
    const user = ended && await findUser(deps.db, tenant.schema, ended.userId);
    if (user) await deps.audit.record(tenant.schema, [logoutEvent(occurrence(req, tenant), user)]);
    const secure = publicBase(deps, req).startsWith('https:');
    reply.header('Set-Cookie', serializeCookie(SESSION_COOKIE, '', { ...cookieOptions(tenant.slug, secure), maxAge: 0 }));
    return sendPage(reply, 200, messagePage(tenant.slug, 'Signed out', 'You are signed out. Apps that had access only while you were signed in have lost it.'));
  }

  /** GET /password-reset?code=…: the form; POST: the new password for the one-time code (user-admin.ts). */
  async function passwordReset(req: FastifyRequest<{ Params: { tenant: string } }>, reply: FastifyReply) {
    const tenant = await tenantOf(req.params.tenant);
    const form = req.method === 'POST' ? formFields(req.body) : rawQuery(req.url);
    const code = field(form, 'code') ?? '';
    if (!/^[A-Za-z0-9_-]{20,100}$/.test(code)) throw new PageError(400, 'Link not valid', 'This password reset link is not valid. Ask your administrator for a new one.');
    if (req.method === 'GET') return sendPage(reply, 200, passwordResetPage({ slug: tenant.slug, code }));
    const password = field(form, 'password') ?? '';
    if (password !== (field(form, 'confirm') ?? '')) {
      return sendPage(reply, 400, passwordResetPage({ slug: tenant.slug, code, error: 'The two passwords are not the same.' }));
    }
    let user: string | undefined;
    try {
      user = await redeemPasswordReset(deps.db, tenant.schema, code, password, now());
    } catch (e) {
      if (e instanceof FhirError && e.status === 400) return sendPage(reply, 400, passwordResetPage({ slug: tenant.slug, code, error: e.message }));
      throw e;
    }
    if (!user) throw new PageError(400, 'Link not valid', 'This password reset link has been used or has expired. Ask your administrator for a new one.');
    return sendPage(reply, 200, messagePage(tenant.slug, 'Password changed', 'Your password is changed. Sign in again in your apps with the new one.'));
  }

  app.register(async (scope) => {
    await scope.register(rateLimit, { global: false });
    scope.setErrorHandler((error, req, reply) => {
      const slug = /^\/auth\/([a-z][a-z0-9-]{0,39})\//.exec(req.url)?.[1] ?? 'default';
      if (error instanceof PageError) return sendPage(reply, error.status, messagePage(slug, error.title, error.message, true));
      const status = (error as { statusCode?: number }).statusCode;
      if (status === 429) {
        reply.header('Retry-After', String(LOGIN_WINDOW_MS / 1000));
        return sendPage(reply, 429, messagePage(slug, 'Slow down', 'Too many sign-in attempts from your network. Wait a minute and try again.', true));
      }
      if (status !== undefined && status >= 400 && status < 500) {
        return sendPage(reply, status, messagePage(slug, 'Request not accepted', 'The request was not understood.', true));
      }
      req.log.error({ err: error }, 'authorization page failed');
      return sendPage(reply, 500, messagePage(slug, 'Something went wrong', 'The server could not complete this step. Try again later.', true));
    });
    scope.get('/auth/:tenant/hearth.css', async (_req, reply) =>
      reply.type('text/css; charset=utf-8').header('Cache-Control', 'public, max-age=3600').send(STYLESHEET));
    scope.route({ method: ['GET', 'POST'], url: '/auth/:tenant/authorize', handler: authorize });
    scope.get('/auth/:tenant/flow/:id', showStep);
    scope.post('/auth/:tenant/flow/:id/login', { config: { rateLimit: { max, timeWindow: LOGIN_WINDOW_MS } } }, login);
    scope.post('/auth/:tenant/flow/:id/patient', pickPatient);
    scope.post('/auth/:tenant/flow/:id/encounter', pickEncounter);
    scope.post('/auth/:tenant/flow/:id/consent', consent);
    scope.route({ method: ['GET', 'POST'], url: '/auth/:tenant/logout', handler: signOut });
    scope.route({ method: ['GET', 'POST'], url: '/auth/:tenant/password-reset', config: { rateLimit: { max, timeWindow: LOGIN_WINDOW_MS } },
      handler: passwordReset });
  });
}
