/**
 * Server-rendered HTML of the authorization server (login, patient and encounter pickers, consent, errors). Every interpolated value
 * goes through `html`, which escapes it unless it is already markup built by `html` — there is no raw-string escape
 * hatch, so a value from a request, a client registration or a resource can never become markup.
 */

/** Markup produced by `html` (and only by it). */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

export const escapeHtml = (value: string): string => value.replace(/[&<>"'`]/g, (c) => ESCAPES[c]!);

type Value = Html | string | number | boolean | undefined | null | readonly Value[];

function render(value: Value): string {
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(render).join('');
  if (value === undefined || value === null || value === false) return '';
  return escapeHtml(String(value));
}

/** Tagged template: the literal parts are trusted markup, every `${value}` is escaped (attributes are always quoted). */
export function html(strings: TemplateStringsArray, ...values: Value[]): Html {
  let out = strings[0] ?? '';
  values.forEach((v, i) => {
    out += render(v) + (strings[i + 1] ?? '');
  });
  return new Html(out);
}

/** The one stylesheet, served from the tenant's /auth path so that CSP style-src 'self' allows it. */
export const STYLESHEET = `
:root { color-scheme: light; font-family: system-ui, sans-serif; line-height: 1.5; color: #1d2733; background: #f3f5f8; }
body { margin: 0; }
main { max-width: 34rem; margin: 3rem auto; background: #fff; border: 1px solid #d5dbe3; border-radius: 8px; padding: 1.5rem 2rem; }
h1 { font-size: 1.4rem; margin-top: 0; }
.app { font-weight: 600; }
label { display: block; margin: 0.8rem 0 0.2rem; font-weight: 600; }
input[type=text], input[type=password], input[type=search] { width: 100%; box-sizing: border-box; padding: 0.5rem; font-size: 1rem; border: 1px solid #8a96a6; border-radius: 4px; }
fieldset { border: 1px solid #d5dbe3; border-radius: 4px; margin: 1rem 0; }
fieldset label { font-weight: normal; display: flex; gap: 0.5rem; align-items: baseline; margin: 0.4rem 0; }
code { font-size: 0.85em; color: #4a5868; }
.actions { display: flex; gap: 0.75rem; margin-top: 1.25rem; }
button { font-size: 1rem; padding: 0.5rem 1.2rem; border-radius: 4px; border: 1px solid #1d4f91; background: #1d4f91; color: #fff; cursor: pointer; }
button.secondary { background: #fff; color: #1d4f91; }
button:focus-visible, input:focus-visible { outline: 3px solid #f2a900; outline-offset: 2px; }
.error { border-left: 4px solid #b3261e; background: #fcebea; padding: 0.5rem 0.75rem; }
.note { color: #4a5868; font-size: 0.9rem; }
ul.patients { list-style: none; padding: 0; }
ul.patients li { border-top: 1px solid #e4e8ee; padding: 0.5rem 0; display: flex; justify-content: space-between; align-items: center; }
`;

export interface Layout {
  title: string;
  /** Tenant slug: the stylesheet lives under /auth/<slug>/. */
  slug: string;
  body: Html;
}

export function page(l: Layout): string {
  return html`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${l.title} · Hearth</title>
<link rel="stylesheet" href="/auth/${encodeURIComponent(l.slug)}/hearth.css">
</head>
<body>
<main>
${l.body}
</main>
</body>
</html>
`.text;
}

const alert = (message: string | undefined) =>
  message ? html`<p class="error" role="alert" id="error">${message}</p>` : html``;

export interface FormBase {
  slug: string;
  /** The pending authorization request. */
  requestId: string;
  csrf: string;
  clientName: string;
}

const action = (f: FormBase, step: string) =>
  `/auth/${encodeURIComponent(f.slug)}/flow/${encodeURIComponent(f.requestId)}/${step}`;

const hidden = (f: FormBase) => html`<input type="hidden" name="csrf" value="${f.csrf}">`;

export interface LoginForm extends FormBase {
  username?: string;
  /** Ask for the authenticator code (the user has a second factor). */
  totp: boolean;
  error?: string;
}

export function loginPage(f: LoginForm): string {
  const totp = f.totp
    ? html`<label for="totp">Authentication code</label>
<input type="text" id="totp" name="totp" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" maxlength="6" required aria-describedby="totp-help">
<p class="note" id="totp-help">The 6-digit code from your authenticator app.</p>`
    : html``;
  return page({ title: 'Sign in', slug: f.slug, body: html`<h1>Sign in</h1>
<p><span class="app">${f.clientName}</span> asks to connect to your health records.</p>
${alert(f.error)}
<form method="post" action="${action(f, 'login')}">
${hidden(f)}
<label for="username">Username</label>
<input type="text" id="username" name="username" autocomplete="username" required value="${f.username ?? ''}">
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required>
${totp}
<div class="actions"><button type="submit" id="sign-in">Sign in</button></div>
</form>` });
}

export interface PatientChoice {
  id: string;
  name: string;
  birthDate?: string;
}

export interface PickerForm extends FormBase {
  query: string;
  patients: PatientChoice[];
  error?: string;
}

export function pickerPage(f: PickerForm): string {
  const items = f.patients.map((p) => html`<li><span>${p.name}${p.birthDate ? html` <span class="note">born ${p.birthDate}</span>` : ''}
<code>Patient/${p.id}</code></span>
<button type="submit" name="patient" value="${p.id}" aria-label="Select ${p.name}">Select</button></li>`);
  const search = `/auth/${encodeURIComponent(f.slug)}/flow/${encodeURIComponent(f.requestId)}`;
  return page({ title: 'Choose a patient', slug: f.slug, body: html`<h1>Choose a patient</h1>
<p><span class="app">${f.clientName}</span> needs to know which patient's record to open.</p>
${alert(f.error)}
<form method="get" action="${search}" role="search">
<label for="q">Search by name</label>
<input type="search" id="q" name="q" value="${f.query}">
<div class="actions"><button type="submit" class="secondary">Search</button></div>
</form>
<form method="post" action="${action(f, 'patient')}">
${hidden(f)}
${items.length > 0 ? html`<ul class="patients">${items}</ul>` : html`<p class="note">No patients found.</p>`}
</form>` });
}

export interface EncounterChoice {
  id: string;
  status?: string;
  type?: string;
  periodStart?: string;
  periodEnd?: string;
}

export interface EncounterPickerForm extends FormBase {
  /** The patient whose encounters are listed (already in the request's context). */
  patient: string;
  encounters: EncounterChoice[];
  error?: string;
}

const period = (e: EncounterChoice): string => {
  if (!e.periodStart && !e.periodEnd) return 'No dates';
  if (!e.periodEnd || e.periodEnd === e.periodStart) return e.periodStart ?? `until ${e.periodEnd}`;
  return `${e.periodStart ?? '…'} – ${e.periodEnd}`;
};

/** The standalone encounter picker (context-standalone-encounter): the chosen patient's encounters, newest first. */
export function encounterPickerPage(f: EncounterPickerForm): string {
  const items = f.encounters.map((e) => html`<li><span>${period(e)}${e.type ? html` · ${e.type}` : ''}${e.status
    ? html` <span class="note">${e.status}</span>` : ''}
<code>Encounter/${e.id}</code></span>
<button type="submit" name="encounter" value="${e.id}" aria-label="Select encounter ${period(e)}${e.type ? ` ${e.type}` : ''}">Select</button></li>`);
  return page({ title: 'Choose an encounter', slug: f.slug, body: html`<h1>Choose an encounter</h1>
<p><span class="app">${f.clientName}</span> needs to know which encounter of patient <code>Patient/${f.patient}</code> to open.</p>
${alert(f.error)}
<form method="post" action="${action(f, 'encounter')}">
${hidden(f)}
<ul class="patients">${items}</ul>
</form>` });
}

export interface ScopeChoice {
  scope: string;
  words: string;
}

export interface ConsentForm extends FormBase {
  /** Scopes the user may grant or withhold, each with its plain-words description. */
  scopes: ScopeChoice[];
  /** Context the app receives with any grant (launch, launch/patient …). */
  always: ScopeChoice[];
  patient?: string;
  encounter?: string;
  user: string;
}

export function consentPage(f: ConsentForm): string {
  const boxes = f.scopes.map((s, i) => html`<label for="scope-${i}"><input type="checkbox" id="scope-${i}" name="scope" value="${s.scope}" checked>
<span>${s.words} <code>${s.scope}</code></span></label>`);
  const always = f.always.length > 0
    ? html`<p class="note">The app also receives: ${f.always.map((s, i) => html`${i > 0 ? '; ' : ''}${s.words}`)}.</p>` : html``;
  return page({ title: 'Allow access?', slug: f.slug, body: html`<h1>Allow <span class="app">${f.clientName}</span> access?</h1>
<p>Signed in as <strong>${f.user}</strong>${f.patient ? html`, for patient <code>Patient/${f.patient}</code>` : ''}${f.encounter
    ? html`, encounter <code>Encounter/${f.encounter}</code>` : ''}.</p>
<form method="post" action="${action(f, 'consent')}">
${hidden(f)}
<fieldset>
<legend>The app asks to:</legend>
${boxes}
</fieldset>
${always}
<p class="note">Untick anything you do not want to share.</p>
<div class="actions">
<button type="submit" name="decision" value="approve" id="approve">Approve</button>
<button type="submit" name="decision" value="deny" id="deny" class="secondary">Deny</button>
</div>
</form>` });
}

export interface PasswordResetForm { slug: string; code: string; error?: string }

/** The page a password reset link opens (issue #16 §2): the one-time code travels as a hidden field. */
export function passwordResetPage(f: PasswordResetForm): string {
  return page({ title: 'Choose a new password', slug: f.slug, body: html`<h1>Choose a new password</h1>
${alert(f.error)}
<form method="post" action="/auth/${encodeURIComponent(f.slug)}/password-reset">
<input type="hidden" name="code" value="${f.code}">
<label for="password">New password</label>
<input type="password" id="password" name="password" autocomplete="new-password" minlength="10" required>
<label for="confirm">New password again</label>
<input type="password" id="confirm" name="confirm" autocomplete="new-password" minlength="10" required>
<div class="actions"><button type="submit" id="set-password">Set password</button></div>
</form>` });
}

export function messagePage(slug: string, title: string, message: string, error = false): string {
  return page({ title, slug, body: html`<h1>${title}</h1>${error ? alert(message) : html`<p>${message}</p>`}` });
}
