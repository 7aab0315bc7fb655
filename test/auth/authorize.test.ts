/**
 * The authorization endpoint and its pages through app.inject, playing the browser by hand (cookies, redirects,
 * forms): smart-app-launch.md §4 error handling, login, lockout, TOTP, patient and encounter pickers, consent, CSRF,
 * logout.
 */
import t, { type Test } from 'tap';
import { buildApp } from '../../src/app.js';
import { totpCode } from '../../src/oauth/totp.js';
import { type Page, TestBrowser, formFor, formsOf, injectTransport, pkce } from '../helpers/browser.js';
import { type TestServer, startServer } from '../helpers/server.js';

// Many logins below come from one address; the limit itself is tested with its own server at the end.
process.env.HEARTH_LOGIN_RATE_LIMIT = '1000';

const ADMIN = { authorization: 'Bearer test-admin-token-0123456789', 'content-type': 'application/json' };
const REDIRECT = 'https://app.example/cb';
const PASSWORD = 'correct horse battery';
const APP_NAME = 'Demo <b>App</b> & "Co"';

const s = await startServer(t);

async function admin(s: TestServer, what: string, body: unknown) {
  const r = await s.request('POST', `/admin/tenants/${s.slug}/${what}`, { body, headers: ADMIN });
  if (r.statusCode !== 201) throw new Error(`admin ${what}: ${r.statusCode} ${r.body}`);
  return r.json();
}

for (const [id, given, family] of [['p1', 'Alice', 'Smith'], ['p2', 'Bob', 'Jones'], ['p3', 'Alina', 'Brown']]) {
  const r = await s.request('PUT', `Patient/${id}`, { body: { resourceType: 'Patient', id, name: [{ given: [given], family }] } });
  if (r.statusCode !== 201) throw new Error(`seed ${id}: ${r.statusCode}`);
}
// Encounters: three of p2 (one without dates), one of p3; p1 has none.
const encounter = (id: string, patient: string, start: string | undefined, type: string) => ({ resourceType: 'Encounter', id,
  status: 'finished', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB', display: 'ambulatory' },
  type: [{ text: type }], subject: { reference: `Patient/${patient}` }, ...(start ? { period: { start, end: start } } : {}) });
for (const e of [encounter('e-old', 'p2', '2019-05-01', 'Old visit'), encounter('e-new', 'p2', '2024-03-01T10:00:00Z', '<i>Checkup</i> & "x"'),
  encounter('e-nodate', 'p2', undefined, 'Undated'), encounter('e-p3', 'p3', '2025-01-01', 'Not p2')]) {
  const r = await s.request('PUT', `Encounter/${e.id}`, { body: e });
  if (r.statusCode !== 201) throw new Error(`seed ${e.id}: ${r.statusCode} ${r.body}`);
}
const app = await admin(s, 'clients', { name: APP_NAME, type: 'public', redirect_uris: [REDIRECT, `${REDIRECT}?tenant=a`],
  scope: 'launch launch/patient launch/encounter openid fhirUser offline_access patient/*.rs user/*.rs' });
const conf = await admin(s, 'clients', { name: 'Confidential app', type: 'confidential', redirect_uris: [REDIRECT],
  scope: 'launch/patient openid fhirUser offline_access patient/*.rs' });
await admin(s, 'users', { username: 'doc', password: PASSWORD, fhirUser: 'Practitioner/d1' });
await admin(s, 'users', { username: 'pat', password: PASSWORD, fhirUser: 'Patient/p1' });
await admin(s, 'users', { username: 'locky', password: PASSWORD, fhirUser: 'Practitioner/d3' });
const otp = await admin(s, 'users', { username: 'otp', password: PASSWORD, fhirUser: 'Practitioner/d2', totp: true });

const browser = () => new TestBrowser(injectTransport(s.app));
const verifier = pkce();

function authorizeUrl(over: Record<string, string | undefined> = {}, clientId: string = app.client_id): string {
  const params: Record<string, string | undefined> = { response_type: 'code', client_id: clientId, redirect_uri: REDIRECT,
    scope: 'launch/patient patient/*.rs openid fhirUser', state: 'st-1', aud: s.url, code_challenge: verifier.challenge,
    code_challenge_method: 'S256', ...over };
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.append(k, v);
  return `/auth/${s.slug}/authorize?${q}`;
}

/** The parameters of a redirect to the app (the flow's last hop). */
function appRedirect(t: Test, page: Page): URLSearchParams {
  t.ok([302, 303].includes(page.status), `redirected to the app (status ${page.status})`);
  t.ok(page.location?.startsWith(`${REDIRECT}?`), `to the redirect_uri (${page.location})`);
  return new URL(page.location ?? 'x:/').searchParams;
}

async function signIn(b: TestBrowser, page: Page, username: string, password = PASSWORD): Promise<Page> {
  return b.submit(page, 'login', [['username', username], ['password', password]]);
}

async function exchange(code: string, clientId: string = app.client_id, headers: Record<string, string> = {}) {
  const form = new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier.verifier,
    ...(clientId ? { client_id: clientId } : {}) });
  const r = await s.app.inject({ method: 'POST', url: `/auth/${s.slug}/token`, payload: form.toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers } });
  return { status: r.statusCode, body: r.json() };
}

/** Login as `user`, pick `patient` when asked, approve everything offered (or `scopes`); the redirect to the app. */
async function authorizeAs(b: TestBrowser, user: string, over: Record<string, string | undefined> = {},
  opts: { patient?: string; scopes?: string[]; clientId?: string } = {}): Promise<Page> {
  let page = await b.open(authorizeUrl(over, opts.clientId));
  if (formsOf(page.body).some((f) => f.action.endsWith('/login'))) page = await signIn(b, page, user);
  if (formsOf(page.body).some((f) => f.action.endsWith('/patient'))) page = await b.submit(page, 'patient', [['patient', opts.patient ?? 'p2']]);
  const chosen: [string, string][] = opts.scopes ? opts.scopes.map((x) => ['scope', x]) : [];
  const form = formFor(page, 'consent');
  const fields: [string, string][] = opts.scopes ? [...form.fields.filter(([k]) => k !== 'scope'), ...chosen] : form.fields;
  return b.follow(await b.request('POST', form.action, [...fields, ['decision', 'approve']]));
}

t.test('unknown client_id or unregistered redirect_uri → 400 page, never a redirect', async (t) => {
  for (const [what, url] of [
    ['unknown client', authorizeUrl({}, 'no-such-client')],
    ['missing client_id', authorizeUrl({ client_id: undefined })],
    ['redirect_uri not registered', authorizeUrl({ redirect_uri: 'https://evil.example/cb' })],
    ['redirect_uri with a trailing slash', authorizeUrl({ redirect_uri: `${REDIRECT}/` })],
    ['redirect_uri with another query', authorizeUrl({ redirect_uri: `${REDIRECT}?tenant=b` })],
    ['missing redirect_uri', authorizeUrl({ redirect_uri: undefined })],
  ] as const) {
    const r = await browser().request('GET', url);
    t.equal(r.status, 400, what);
    t.equal(r.location, undefined, `${what}: no Location`);
    t.match(r.headers['content-type'], /^text\/html/, `${what}: an HTML page`);
  }
  const registered = await browser().request('GET', authorizeUrl({ redirect_uri: `${REDIRECT}?tenant=a` }));
  t.match(registered.location, /^\/auth\/[^/]+\/flow\//, 'a registered redirect_uri with a query is accepted');
});

t.test('request errors redirect to the app with error and the exact state', async (t) => {
  const state = 'a b+c/&=ü"<\'>#%';
  const cases: [string, Record<string, string | undefined>, string][] = [
    ['missing code_challenge', { code_challenge: undefined }, 'invalid_request'],
    ['missing code_challenge_method', { code_challenge_method: undefined }, 'invalid_request'],
    ['PKCE method plain', { code_challenge_method: 'plain', code_challenge: verifier.verifier }, 'invalid_request'],
    ['wrong aud', { aud: 'https://other.example/fhir' }, 'invalid_request'],
    ['aud of another tenant', { aud: `${s.url}x` }, 'invalid_request'],
    ['missing aud', { aud: undefined }, 'invalid_request'],
    ['missing scope', { scope: undefined }, 'invalid_request'],
    ['response_type token', { response_type: 'token' }, 'unsupported_response_type'],
    ['only unknown scopes', { scope: 'patient/Nope.rs foo bar' }, 'invalid_scope'],
    ['only scopes the client may not have', { scope: 'user/*.cruds system/*.read' }, 'invalid_scope'],
    ['unknown launch', { launch: 'no-such-launch' }, 'invalid_request'],
  ];
  for (const [what, over, error] of cases) {
    const r = await browser().request('GET', authorizeUrl({ state, ...over }));
    const q = appRedirect(t, r);
    t.equal(q.get('error'), error, what);
    t.equal(q.get('state'), state, `${what}: state echoed exactly`);
    t.notOk(q.has('code'), `${what}: no code`);
  }
  const noState = appRedirect(t, await browser().request('GET', authorizeUrl({ state: undefined })));
  t.equal(noState.get('error'), 'invalid_request', 'missing state → invalid_request');
  t.notOk(noState.has('state'));
});

t.test('aud: a trailing slash and the resource synonym are accepted', async (t) => {
  for (const over of [{ aud: `${s.url}/` }, { aud: undefined, resource: s.url }]) {
    const r = await browser().request('GET', authorizeUrl(over));
    t.equal(r.status, 302);
    t.match(r.location, new RegExp(`^/auth/${s.slug}/flow/[A-Za-z0-9_-]{43}$`), JSON.stringify(over));
  }
});

t.test('an EHR launch is single use', async (t) => {
  const { launch } = await admin(s, 'launches', { patient: 'p2' });
  const first = await browser().request('GET', authorizeUrl({ launch, scope: 'launch patient/*.rs' }));
  t.match(first.location, /\/flow\//, 'first use starts the flow');
  const again = appRedirect(t, await browser().request('GET', authorizeUrl({ launch, scope: 'launch patient/*.rs' })));
  t.equal(again.get('error'), 'invalid_request', 'second use → invalid_request');
  t.equal(again.get('state'), 'st-1');
});

t.test('authorize-post: the same request as a form POST', async (t) => {
  const b = browser();
  const q = new URL(authorizeUrl(), 'http://x').searchParams;
  const r = await b.request('POST', `/auth/${s.slug}/authorize`, [...q.entries()]);
  t.equal(r.status, 303);
  t.match(r.location, /\/flow\//);
  const bad = await b.request('POST', `/auth/${s.slug}/authorize`, [...q.entries()].filter(([k]) => k !== 'code_challenge'));
  t.equal(new URL(bad.location!).searchParams.get('error'), 'invalid_request');
});

t.test('pages carry security headers; values are escaped', async (t) => {
  const b = browser();
  const login = await b.open(authorizeUrl());
  t.equal(login.status, 200);
  const csp = String(login.headers['content-security-policy']);
  for (const d of ["default-src 'none'", "style-src 'self'", "form-action 'self';", "frame-ancestors 'none'"]) t.ok(csp.includes(d), d);
  t.equal(login.headers['x-frame-options'], 'DENY');
  t.equal(login.headers['referrer-policy'], 'no-referrer');
  t.equal(login.headers['cache-control'], 'no-store');
  t.equal(login.headers['x-content-type-options'], 'nosniff');
  t.ok(login.body.includes('Demo &lt;b&gt;App&lt;/b&gt; &amp; &quot;Co&quot;'), 'client name escaped');
  t.notOk(login.body.includes('<b>App'), 'no markup from the client name');
  t.match(login.body, /<label for="username">/, 'inputs are labelled');
  const css = await b.request('GET', `/auth/${s.slug}/hearth.css`);
  t.equal(css.status, 200);
  t.match(css.headers['content-type'], /^text\/css/);
  const failed = await b.submit(login, 'login', [['username', '<img src=x onerror=alert(1)>'], ['password', 'nope']]);
  t.ok(failed.body.includes('value="&lt;img src=x onerror=alert(1)&gt;"'), 'echoed username escaped');
  const consent = await signIn(b, failed, 'pat');
  t.ok(formFor(consent, 'consent'));
  t.match(String(consent.headers['content-security-policy']), /form-action 'self' https:\/\/app\.example;/,
    'the consent page may also submit to the app origin (its redirect)');
});

t.test('session cookie: HttpOnly, SameSite=Lax, tenant path, 8 hours', async (t) => {
  const b = browser();
  const login = await b.open(authorizeUrl());
  const r = await b.request('POST', formFor(login, 'login').action, [...formFor(login, 'login').fields.filter(([k]) => k !== 'username'),
    ['username', 'doc'], ['password', PASSWORD]]);
  t.equal(r.status, 303);
  const cookies = [r.headers['set-cookie'] ?? []].flat();
  const session = cookies.find((c) => c.startsWith('hearth_session='));
  t.ok(session, 'session cookie set');
  t.match(session, /^hearth_session=[A-Za-z0-9_-]{43}; /);
  t.match(session, new RegExp(`; Path=/auth/${s.slug};`));
  t.match(session, /; HttpOnly/);
  t.match(session, /; SameSite=Lax/);
  t.match(session, /; Max-Age=28800/);
  t.notMatch(session, /Secure/, 'not Secure on an http base');
});

t.test('login failures, and the lockout message does not name the user', async (t) => {
  const b = browser();
  let page = await b.open(authorizeUrl());
  page = await signIn(b, page, 'doc', 'wrong password');
  t.equal(page.status, 401);
  t.match(page.body, /The username or password is not correct/);
  t.notOk(b.cookie('hearth_session'), 'no session after a failure');
  const unknown = await signIn(b, page, 'nobody', 'wrong password');
  t.equal(unknown.status, 401);
  t.match(unknown.body, /The username or password is not correct/, 'an unknown user gets the same words');
  for (let i = 0; i < 5; i++) page = await signIn(b, page, 'locky', 'wrong password');
  t.match(page.body, /The username or password is not correct/, 'five failures');
  const right = await signIn(b, page, 'locky');
  t.equal(right.status, 401, 'then even the right password is refused');
  const alert = /<p class="error" role="alert" id="error">([^<]*)<\/p>/.exec(right.body)?.[1];
  const unknownAlert = /<p class="error" role="alert" id="error">([^<]*)<\/p>/.exec(unknown.body)?.[1];
  t.match(alert, /locked for 15 minutes/, 'the words mention the lockout policy');
  t.equal(alert, unknownAlert, 'a locked account reads exactly like an unknown username');
  t.notOk(b.cookie('hearth_session'));
});

t.test('TOTP: the code is asked for after the password, and checked', async (t) => {
  const b = browser();
  let page = await signIn(b, await b.open(authorizeUrl()), 'otp');
  t.equal(page.status, 200);
  t.match(page.body, /name="totp"/, 'a code field appears');
  t.match(page.body, /<label for="totp">Authentication code<\/label>/);
  t.notOk(b.cookie('hearth_session'), 'no session yet');
  page = await b.submit(page, 'login', [['username', 'otp'], ['password', PASSWORD], ['totp', '000000']]);
  t.equal(page.status, 401, 'a wrong code is refused');
  t.match(page.body, /username, password or code is not correct/);
  page = await b.submit(page, 'login', [['username', 'otp'], ['password', PASSWORD], ['totp', totpCode(otp.totp_secret, new Date())]]);
  t.ok(b.cookie('hearth_session'), 'signed in');
  t.ok(formFor(page, 'patient'), 'on to the patient picker');
});

t.test('patient picker: lists and searches the tenant patients; the choice becomes the context', async (t) => {
  const b = browser();
  const picker = await signIn(b, await b.open(authorizeUrl()), 'doc');
  for (const name of ['Alice Smith', 'Bob Jones', 'Alina Brown']) t.ok(picker.body.includes(name), `lists ${name}`);
  const search = formsOf(picker.body).find((f) => f.method === 'get')!;
  const found = await b.open(`${search.action}?q=ali`);
  t.ok(found.body.includes('Alice Smith') && found.body.includes('Alina Brown'), 'name search by prefix');
  t.notOk(found.body.includes('Bob Jones'), 'others filtered out');
  const none = await b.open(`${search.action}?q=${encodeURIComponent("%' OR 1=1 --")}`);
  t.match(none.body, /No patients found/, 'LIKE and SQL characters are plain text');
  const bad = await b.submit(found, 'patient', [['patient', 'p404']]);
  t.equal(bad.status, 400, 'an unknown patient is refused');
  const consent = await b.submit(found, 'patient', [['patient', 'p3']]);
  t.match(consent.body, /Patient\/p3/, 'consent names the chosen patient');
  const q = appRedirect(t, await b.follow(await b.request('POST', formFor(consent, 'consent').action,
    [...formFor(consent, 'consent').fields, ['decision', 'approve']])));
  const token = await exchange(q.get('code')!);
  t.equal(token.status, 200, JSON.stringify(token.body));
  t.equal(token.body.patient, 'p3', 'token carries the picked patient');
  t.equal(token.body.need_patient_banner, true, 'standalone launch → banner');
});

t.test('a patient user gets their own record as context, without a picker', async (t) => {
  const b = browser();
  const consent = await signIn(b, await b.open(authorizeUrl()), 'pat');
  t.notOk(formsOf(consent.body).some((f) => f.action.endsWith('/patient')), 'no picker');
  t.match(consent.body, /Patient\/p1/);
  const q = appRedirect(t, await authorizeAs(b, 'pat'));
  const token = await exchange(q.get('code')!);
  t.equal(token.body.patient, 'p1');
});

t.test('consent lists scopes in plain words; the user can grant a subset', async (t) => {
  const b = browser();
  const scope = 'launch/patient patient/Observation.rs patient/Patient.rs openid fhirUser unknown/scope';
  const page = await signIn(b, await b.open(authorizeUrl({ scope })), 'pat');
  t.match(page.body, /Read and search Observation records of the selected patient/);
  t.match(page.body, /Confirm who you are/);
  t.notOk(page.body.includes('unknown/scope'), 'unknown scopes are dropped, not shown');
  const offered = formFor(page, 'consent').fields.filter(([k]) => k === 'scope').map(([, v]) => v);
  t.same(offered, ['patient/Observation.rs', 'patient/Patient.rs', 'openid', 'fhirUser'], 'checkboxes, all ticked');
  const q = appRedirect(t, await authorizeAs(b, 'pat', { scope }, { scopes: ['patient/Observation.rs', 'patient/Encounter.rs'] }));
  const token = await exchange(q.get('code')!);
  t.equal(token.status, 200);
  t.same(token.body.scope.split(' ').sort(), ['launch/patient', 'patient/Observation.rs'],
    'granted: the ticked scopes (nothing unoffered) plus the context scope');
  t.notOk(token.body.id_token, 'no id_token when openid was unticked');
});

t.test('scopes beyond the client registration are not granted; system/ never at /authorize', async (t) => {
  const b = browser();
  const q = appRedirect(t, await authorizeAs(b, 'doc', { scope: 'launch/patient patient/*.cruds patient/Observation.rs system/*.rs' }));
  const token = await exchange(q.get('code')!);
  t.same(token.body.scope.split(' ').sort(), ['launch/patient', 'patient/Observation.rs']);
});

t.test('patient/ scopes without launch or launch/patient infer launch/patient', async (t) => {
  const b = browser();
  const page = await signIn(b, await b.open(authorizeUrl({ scope: 'patient/Observation.rs' })), 'doc');
  t.ok(formFor(page, 'patient'), 'the picker is shown');
  const q = appRedirect(t, await authorizeAs(b, 'doc', { scope: 'patient/Observation.rs' }, { patient: 'p1' }));
  const token = await exchange(q.get('code')!);
  t.same(token.body.scope.split(' ').sort(), ['launch/patient', 'patient/Observation.rs']);
  t.equal(token.body.patient, 'p1');
});

t.test('public clients get online_access for offline_access', async (t) => {
  const b = browser();
  const q = appRedirect(t, await authorizeAs(b, 'pat', { scope: 'patient/*.rs offline_access' }));
  const token = await exchange(q.get('code')!);
  t.same(token.body.scope.split(' ').sort(), ['launch/patient', 'online_access', 'patient/*.rs']);
  t.ok(token.body.refresh_token, 'a refresh token for the session');
});

t.test('EHR launch: context from the launch, no picker, banner false', async (t) => {
  const { launch } = await admin(s, 'launches', { patient: 'p2', encounter: 'e9',
    fhirContext: [{ reference: 'ImagingStudy/i1' }, { reference: 'Patient/p2' }, { reference: 'Patient/p1', role: 'https://example.org/role/sibling' }] });
  const b = browser();
  const page = await signIn(b, await b.open(authorizeUrl({ launch, scope: 'launch patient/*.rs' })), 'doc');
  t.notOk(formsOf(page.body).some((f) => f.action.endsWith('/patient')), 'no picker');
  t.match(page.body, /Patient\/p2/);
  const q = appRedirect(t, await b.follow(await b.request('POST', formFor(page, 'consent').action,
    [...formFor(page, 'consent').fields, ['decision', 'approve']])));
  const token = await exchange(q.get('code')!);
  t.equal(token.body.patient, 'p2');
  t.equal(token.body.encounter, 'e9');
  t.equal(token.body.need_patient_banner, false);
  t.same(token.body.fhirContext, [{ reference: 'ImagingStudy/i1' }, { reference: 'Patient/p1', role: 'https://example.org/role/sibling' }],
    'fhirContext: Patient only with a role other than launch');
});

t.test('standalone launch/encounter: the picked patient\'s encounters, newest first; the choice is the context', async (t) => {
  const b = browser();
  const scope = 'launch/patient launch/encounter patient/*.rs';
  const patients = await signIn(b, await b.open(authorizeUrl({ scope })), 'doc');
  const picker = await b.submit(patients, 'patient', [['patient', 'p2']]);
  t.equal(picker.status, 200);
  const form = formFor(picker, 'encounter');
  t.ok(form.fields.some(([k]) => k === 'csrf'), 'the form carries the CSRF token');
  const listed = [...form.html.matchAll(/name="encounter" value="([^"]*)"/g)].map((m) => m[1]);
  t.same(listed, ['e-new', 'e-old', 'e-nodate'], 'only p2\'s encounters, newest first, undated last');
  t.ok(picker.body.includes('&lt;i&gt;Checkup&lt;/i&gt; &amp; &quot;x&quot;'), 'type text escaped');
  t.notOk(picker.body.includes('<i>Checkup'), 'no markup from a resource');
  t.match(picker.body, /2019-05-01/, 'period shown');
  t.match(picker.body, /finished/, 'status shown');
  const noToken = await b.request('POST', form.action, [['encounter', 'e-old']]);
  t.equal(noToken.status, 403, 'no csrf → 403');
  const foreign = await b.submit(picker, 'encounter', [['encounter', 'e-p3']]);
  t.equal(foreign.status, 400, 'another patient\'s encounter is refused');
  t.ok(formFor(foreign, 'encounter'), 'and the picker is shown again');
  const early = await b.request('POST', form.action.replace(/encounter$/, 'consent'), [...form.fields, ['decision', 'approve']]);
  t.equal(early.location, picker.url, 'Approve before choosing goes back to the picker');
  const consent = await b.submit(picker, 'encounter', [['encounter', 'e-old']]);
  t.match(consent.body, /Encounter\/e-old/, 'consent names the encounter');
  const q = appRedirect(t, await b.follow(await b.request('POST', formFor(consent, 'consent').action,
    [...formFor(consent, 'consent').fields, ['decision', 'approve']])));
  const token = await exchange(q.get('code')!);
  t.equal(token.status, 200, JSON.stringify(token.body));
  t.equal(token.body.patient, 'p2');
  t.equal(token.body.encounter, 'e-old', 'token carries the picked encounter');
  t.same(token.body.scope.split(' ').sort(), ['launch/encounter', 'launch/patient', 'patient/*.rs']);
});

t.test('standalone launch/encounter alone asks for a patient first', async (t) => {
  const b = browser();
  const page = await signIn(b, await b.open(authorizeUrl({ scope: 'launch/encounter user/*.rs' })), 'doc');
  t.ok(formFor(page, 'patient'), 'the patient picker comes first');
  const picker = await b.submit(page, 'patient', [['patient', 'p3']]);
  const listed = [...formFor(picker, 'encounter').html.matchAll(/name="encounter" value="([^"]*)"/g)].map((m) => m[1]);
  t.same(listed, ['e-p3']);
});

t.test('standalone launch/encounter for a patient without encounters proceeds without one', async (t) => {
  const b = browser();
  const scope = 'launch/patient launch/encounter patient/*.rs';
  const consent = await signIn(b, await b.open(authorizeUrl({ scope })), 'pat');
  t.notOk(formsOf(consent.body).some((f) => f.action.endsWith('/encounter')), 'no encounter picker');
  const q = appRedirect(t, await b.follow(await b.request('POST', formFor(consent, 'consent').action,
    [...formFor(consent, 'consent').fields, ['decision', 'approve']])));
  const token = await exchange(q.get('code')!);
  t.equal(token.body.patient, 'p1');
  t.notOk('encounter' in token.body, 'no encounter in the token response');
});

t.test('EHR launch with launch/encounter: the launch\'s encounter, no picker', async (t) => {
  const { launch } = await admin(s, 'launches', { patient: 'p2', encounter: 'e-new' });
  const b = browser();
  const page = await signIn(b, await b.open(authorizeUrl({ launch, scope: 'launch launch/encounter patient/*.rs' })), 'doc');
  t.notOk(formsOf(page.body).some((f) => /\/(patient|encounter)$/.test(f.action)), 'no picker');
  const q = appRedirect(t, await b.follow(await b.request('POST', formFor(page, 'consent').action,
    [...formFor(page, 'consent').fields, ['decision', 'approve']])));
  const token = await exchange(q.get('code')!);
  t.equal(token.body.encounter, 'e-new');
});

t.test('Deny → access_denied with the exact state; the request cannot be reused', async (t) => {
  const b = browser();
  const state = 'deny me & tell';
  const consent = await signIn(b, await b.open(authorizeUrl({ state })), 'pat');
  const form = formFor(consent, 'consent');
  const r = await b.request('POST', form.action, [...form.fields, ['decision', 'deny']]);
  t.equal(r.status, 303);
  const q = appRedirect(t, r);
  t.equal(q.get('error'), 'access_denied');
  t.equal(q.get('state'), state);
  t.notOk(q.has('code'));
  const again = await b.request('POST', form.action, [...form.fields, ['decision', 'approve']]);
  t.equal(again.status, 400, 'a finished request is gone');
  t.equal(again.location, undefined);
});

t.test('unticking every scope is a denial', async (t) => {
  const b = browser();
  const consent = await signIn(b, await b.open(authorizeUrl()), 'pat');
  const form = formFor(consent, 'consent');
  const r = await b.request('POST', form.action, [...form.fields.filter(([k]) => k !== 'scope'), ['decision', 'approve']]);
  t.equal(appRedirect(t, r).get('error'), 'access_denied');
});

t.test('success redirects with a code and the exact state, keeping the redirect_uri query', async (t) => {
  const state = 'x=1&y=2 ü/?#';
  const q = appRedirect(t, await authorizeAs(browser(), 'pat', { state }));
  t.equal(q.get('state'), state);
  t.match(q.get('code'), /^[A-Za-z0-9_-]{43}$/);
  const withQuery = await authorizeAs(browser(), 'pat', { redirect_uri: `${REDIRECT}?tenant=a` });
  const url = new URL(withQuery.location!);
  t.equal(url.searchParams.get('tenant'), 'a', 'the registered query is kept');
  t.ok(url.searchParams.get('code'));
});

t.test('CSRF: posts without the form token, or from another browser, are refused', async (t) => {
  const b = browser();
  const login = await b.open(authorizeUrl());
  const action = formFor(login, 'login').action;
  const noToken = await b.request('POST', action, [['username', 'doc'], ['password', PASSWORD]]);
  t.equal(noToken.status, 403, 'no csrf → 403');
  t.notOk(b.cookie('hearth_session'), 'not signed in');
  const wrong = await b.request('POST', action, [['csrf', 'x'.repeat(43)], ['username', 'doc'], ['password', PASSWORD]]);
  t.equal(wrong.status, 403, 'wrong csrf → 403');
  const other = browser();
  const elsewhere = await other.request('POST', action, [...formFor(login, 'login').fields.filter(([k]) => k !== 'username'),
    ['username', 'doc'], ['password', PASSWORD]]);
  t.equal(elsewhere.status, 403, 'the right token from another browser (no binding cookie) → 403');
  t.equal((await other.request('GET', login.url)).status, 403, 'another browser cannot view the request either');
  const consent = await signIn(b, login, 'pat');
  const form = formFor(consent, 'consent');
  const forged = await b.request('POST', form.action, [...form.fields.filter(([k]) => k !== 'csrf'), ['decision', 'approve']]);
  t.equal(forged.status, 403, 'consent without csrf → 403');
  t.equal(forged.location, undefined, 'and no redirect to the app');
  t.equal(appRedirect(t, await b.request('POST', form.action, [...form.fields, ['decision', 'approve']])).get('state'), 'st-1',
    'the real form still works');
});

t.test('a request must be opened before its forms are accepted', async (t) => {
  const b = browser();
  const start = await b.request('GET', authorizeUrl());
  const r = await b.request('POST', `${start.location}/login`, [['csrf', 'x'.repeat(43)], ['username', 'doc'], ['password', PASSWORD]]);
  t.equal(r.status, 403, 'a POST cannot claim an unopened request');
  t.ok(formFor(await b.open(start.location!), 'login'), 'the browser that opens it still can');
});

t.test('signing out between the consent page and Approve → back to sign-in, no code', async (t) => {
  const b = browser();
  const consent = await signIn(b, await b.open(authorizeUrl()), 'pat');
  const form = formFor(consent, 'consent');
  await b.request('GET', `/auth/${s.slug}/logout`);
  const r = await b.request('POST', form.action, [...form.fields, ['decision', 'approve']]);
  t.equal(r.status, 303);
  t.equal(r.location, consent.url, 'back to the request\'s own page');
  t.ok(formFor(await b.follow(r), 'login'), 'which asks for a sign-in');
});

t.test('single sign-on: a live session skips the login', async (t) => {
  const b = browser();
  appRedirect(t, await authorizeAs(b, 'pat'));
  const next = await b.open(authorizeUrl({ state: 'second' }));
  t.notOk(formsOf(next.body).some((f) => f.action.endsWith('/login')), 'no login form');
  t.ok(formFor(next, 'consent'), 'straight to consent');
});

t.test('logout ends the session and revokes online_access grants; offline_access survives', async (t) => {
  const b = browser();
  const online = await exchange(appRedirect(t, await authorizeAs(b, 'pat', { scope: 'patient/*.rs online_access' })).get('code')!);
  const basic = `Basic ${Buffer.from(`${conf.client_id}:${conf.client_secret}`).toString('base64')}`;
  const offline = await exchange(appRedirect(t, await authorizeAs(b, 'pat', { scope: 'patient/*.rs offline_access' },
    { clientId: conf.client_id })).get('code')!, '', { authorization: basic });
  t.equal(offline.status, 200, JSON.stringify(offline.body));
  t.match(offline.body.scope, /\boffline_access\b/, 'a confidential client keeps offline_access');
  const read = (token: string) => s.request('GET', 'Patient/p1', { headers: { authorization: `Bearer ${token}` } });
  t.equal((await read(online.body.access_token)).statusCode, 200, 'online token works before logout');
  const out = await b.request('GET', `/auth/${s.slug}/logout`);
  t.equal(out.status, 200);
  t.match(out.body, /You are signed out/);
  t.notOk(b.cookie('hearth_session'), 'cookie cleared');
  t.equal((await read(online.body.access_token)).statusCode, 401, 'online_access token revoked by logout');
  const refresh = await s.app.inject({ method: 'POST', url: `/auth/${s.slug}/token`, headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: online.body.refresh_token, client_id: app.client_id }).toString() });
  t.equal(refresh.statusCode, 400);
  t.equal(refresh.json().error, 'invalid_grant', 'its refresh token is dead too');
  t.equal((await read(offline.body.access_token)).statusCode, 200, 'offline_access survives logout');
  const again = await b.open(authorizeUrl());
  t.ok(formFor(again, 'login'), 'the next authorization asks for a login again');
});

t.test('an expired request shows a page, not a redirect', async (t) => {
  const b = browser();
  const login = await b.open(authorizeUrl());
  const real = s.deps.auth.now;
  s.deps.auth.now = () => new Date(Date.now() + 11 * 60 * 1000);
  t.teardown(() => { s.deps.auth.now = real; });
  const late = await b.submit(login, 'login', [['username', 'doc'], ['password', PASSWORD]]);
  t.equal(late.status, 400);
  t.match(late.body, /expired/);
  t.equal(late.location, undefined);
});

t.test('unknown tenant → 404 page', async (t) => {
  const r = await browser().request('GET', '/auth/no-such-tenant/authorize?client_id=x');
  t.equal(r.status, 404);
  t.match(r.headers['content-type'], /^text\/html/);
});

t.test('https base: Secure cookies; login POSTs are rate limited per address', async (t) => {
  // A second app over the same dependencies and tenant, with an https public base and a low login limit.
  // The limit is configuration (HEARTH_LOGIN_RATE_LIMIT, read by src/config.ts only).
  const h = buildApp({ ...s.deps, config: { ...s.deps.config, baseUrl: 'https://hearth.test', loginRateLimit: 3 } });
  t.teardown(() => h.close());
  const b = new TestBrowser(injectTransport(h));
  const q = new URLSearchParams({ response_type: 'code', client_id: app.client_id, redirect_uri: REDIRECT, scope: 'user/*.rs',
    state: 's', aud: `https://hearth.test/fhir/${s.slug}`, code_challenge: verifier.challenge, code_challenge_method: 'S256' });
  const login = await b.follow(await b.request('GET', `/auth/${s.slug}/authorize?${q}`));
  const browserCookie = [login.headers['set-cookie'] ?? []].flat().find((c) => c.startsWith('hearth_browser='));
  t.match(browserCookie, /; Secure/, 'the binding cookie is Secure');
  const session = await b.request('POST', formFor(login, 'login').action, [...formFor(login, 'login').fields
    .filter(([k]) => k !== 'username'), ['username', 'doc'], ['password', PASSWORD]]);
  t.match([session.headers['set-cookie'] ?? []].flat().find((c) => c.startsWith('hearth_session=')), /; HttpOnly; SameSite=Lax; Secure/,
    'the session cookie is Secure');
  let page = login;
  for (let i = 0; i < 2; i++) page = await b.submit(login, 'login', [['username', 'doc'], ['password', 'wrong one!']]);
  t.equal(page.status, 401, 'three attempts a minute are allowed');
  const limited = await b.submit(page, 'login', [['username', 'doc'], ['password', PASSWORD]]);
  t.equal(limited.status, 429, 'the fourth within a minute → 429');
  t.match(limited.headers['content-type'], /^text\/html/);
  t.ok(limited.headers['retry-after']);
  t.equal(limited.headers['x-frame-options'], 'DENY');
  t.equal((await h.inject({ method: 'GET', url: `/auth/${s.slug}/authorize?${q}` })).statusCode, 302, 'other pages are not limited');
  const elsewhere = await h.inject({ method: 'POST', url: formFor(login, 'login').action, remoteAddress: '10.9.8.7',
    headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'csrf=x' });
  t.equal(elsewhere.statusCode, 403, 'another address is not limited (refused for its missing token, not 429)');
});
