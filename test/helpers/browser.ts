/**
 * A scripted browser for the authorization pages: keeps cookies (path-scoped, Max-Age=0 deletes), follows redirects
 * on the server itself, stops at a redirect that leaves it (the app's redirect_uri), and fills in the pages' forms.
 * Two transports: app.inject (no socket) and fetch against a listening server.
 */
import crypto from 'node:crypto';
import type { FastifyInstance } from 'fastify';

export interface Page {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** The URL this page was fetched from (a path for inject, absolute for fetch). */
  url: string;
  /** Location header, if any. */
  location?: string;
}

type Transport = (method: string, url: string, headers: Record<string, string>, body?: string) =>
  Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>;

export const injectTransport = (app: FastifyInstance): Transport => async (method, url, headers, body) => {
  const r = await app.inject({ method: method as 'GET', url, headers, ...(body !== undefined ? { payload: body } : {}) });
  return { status: r.statusCode, headers: r.headers as Record<string, string | string[] | undefined>, body: r.body };
};

export const fetchTransport = (): Transport => async (method, url, headers, body) => {
  const r = await fetch(url, { method, headers, redirect: 'manual', ...(body !== undefined ? { body } : {}) });
  const out: Record<string, string | string[] | undefined> = {};
  r.headers.forEach((v, k) => { out[k] = v; });
  const cookies = r.headers.getSetCookie();
  if (cookies.length > 0) out['set-cookie'] = cookies;
  return { status: r.status, headers: out, body: await r.text() };
};

interface Cookie { value: string; path: string }

const ENTITIES: Record<string, string> = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'", '&#96;': '`' };
export const unescapeHtml = (s: string): string => s.replace(/&(amp|lt|gt|quot|#39|#96);/g, (e) => ENTITIES[e]!);

export interface Form {
  method: string;
  action: string;
  /** Hidden inputs and pre-filled values. */
  fields: [string, string][];
  html: string;
}

/** The forms of a page with their hidden fields, ticked checkboxes and text values. */
export function formsOf(html: string): Form[] {
  const out: Form[] = [];
  for (const m of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/g)) {
    const attr = (name: string) => new RegExp(`\\b${name}="([^"]*)"`).exec(m[1]!)?.[1];
    const fields: [string, string][] = [];
    for (const input of m[2]!.matchAll(/<input\b([^>]*)>/g)) {
      const a = input[1]!;
      const name = /\bname="([^"]*)"/.exec(a)?.[1];
      const value = /\bvalue="([^"]*)"/.exec(a)?.[1];
      const type = /\btype="([^"]*)"/.exec(a)?.[1] ?? 'text';
      if (!name || value === undefined) continue;
      if (type === 'checkbox' && !/\bchecked\b/.test(a)) continue;
      if (type !== 'submit') fields.push([name, unescapeHtml(value)]);
    }
    out.push({ method: (attr('method') ?? 'get').toLowerCase(), action: unescapeHtml(attr('action') ?? ''), fields, html: m[2]! });
  }
  return out;
}

/** The post form of a page whose action ends with `/step` (login, patient, consent). */
export function formFor(page: Page, step: string): Form {
  const form = formsOf(page.body).find((f) => f.method === 'post' && f.action.endsWith(`/${step}`));
  if (!form) throw new Error(`No ${step} form on the page (status ${page.status}): ${page.body.slice(0, 400)}`);
  return form;
}

export function pkce(): { verifier: string; challenge: string } {
  const verifier = crypto.randomBytes(32).toString('base64url');
  return { verifier, challenge: crypto.createHash('sha256').update(verifier).digest('base64url') };
}

export class TestBrowser {
  private readonly cookies = new Map<string, Cookie>();

  /** origin: the server's origin for absolute URLs ('' with inject, where URLs are paths). */
  constructor(private readonly transport: Transport, readonly origin = '') {}

  /** Cookie names this browser holds (for assertions). */
  cookieNames(): string[] {
    return [...this.cookies.keys()];
  }

  cookie(name: string): string | undefined {
    return this.cookies.get(name)?.value;
  }

  private pathOf(url: string): string {
    return url.startsWith('/') ? url.split('?')[0]! : new URL(url).pathname;
  }

  private cookieHeader(url: string): string | undefined {
    const path = this.pathOf(url);
    const list = [...this.cookies].filter(([, c]) => path === c.path || path.startsWith(`${c.path}/`));
    return list.length > 0 ? list.map(([k, c]) => `${k}=${c.value}`).join('; ') : undefined;
  }

  private store(setCookie: string | string[] | undefined, url: string): void {
    for (const line of [setCookie ?? []].flat()) {
      const [pair, ...attrs] = line.split(';').map((s) => s.trim());
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq);
      const path = attrs.find((a) => /^path=/i.test(a))?.slice(5) ?? this.pathOf(url);
      if (attrs.some((a) => /^max-age=0$/i.test(a))) this.cookies.delete(name);
      else this.cookies.set(name, { value: pair!.slice(eq + 1), path });
    }
  }

  /** One request; cookies sent and stored. */
  async request(method: string, url: string, form?: [string, string][], headers: Record<string, string> = {}): Promise<Page> {
    const h: Record<string, string> = { ...headers };
    const cookie = this.cookieHeader(url);
    if (cookie) h.cookie = cookie;
    let body: string | undefined;
    if (form) {
      body = new URLSearchParams(form).toString();
      h['content-type'] = 'application/x-www-form-urlencoded';
    }
    const r = await this.transport(method, url, h, body);
    this.store(r.headers['set-cookie'], url);
    const location = r.headers.location;
    return { ...r, url, ...(typeof location === 'string' ? { location } : {}) };
  }

  /** True for a URL served by the server under test (a path, or an absolute URL on its origin). */
  private local(url: string): boolean {
    return url.startsWith('/') || (this.origin !== '' && url.startsWith(`${this.origin}/`));
  }

  private resolve(location: string, from: string): string {
    if (location.startsWith('/') && this.origin !== '' && !from.startsWith('/')) return `${this.origin}${location}`;
    return location;
  }

  /** GETs (or sends) and follows redirects while they stay on the server; the last page is returned. */
  async follow(page: Page): Promise<Page> {
    let current = page;
    for (let hops = 0; hops < 10; hops++) {
      if (current.status < 300 || current.status >= 400 || !current.location) return current;
      const next = this.resolve(current.location, current.url);
      if (!this.local(next)) return current;
      current = await this.request('GET', next);
    }
    throw new Error('Too many redirects');
  }

  async open(url: string): Promise<Page> {
    return this.follow(await this.request('GET', url));
  }

  /** Posts a page's step form, the given fields replacing same-named ones of the form, and follows redirects. */
  async submit(page: Page, step: string, fields: [string, string][]): Promise<Page> {
    const form = formFor(page, step);
    const names = new Set(fields.map(([k]) => k));
    const kept = form.fields.filter(([k]) => !names.has(k));
    return this.follow(await this.request('POST', this.resolve(form.action, page.url), [...kept, ...fields]));
  }
}
