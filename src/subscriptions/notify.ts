/**
 * What a subscriber receives (issue #20 §1–§2) and how it is sent. R4 rest-hook: no payload → `POST [endpoint]` with
 * no body; a payload → `PUT [endpoint]/[type]/[id]` with the resource (subscription.html#2.46.7.1). Topic-based
 * (R5 Backport IG for R4): a `history` Bundle whose first entry is the SubscriptionStatus as Parameters, then one
 * entry per event as the payload content asks (empty, id-only, full-resource).
 * https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/notifications.html
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { Resource } from '../fhir/types.js';
import { BACKPORT, type SubscriptionSpec } from './model.js';

export type NotificationType = 'handshake' | 'heartbeat' | 'event-notification' | 'query-status' | 'query-event';

/** One event as stored in the outbox, with what may be sent of it. */
export interface OutboxEvent {
  number: number;
  at: Date;
  type: string;
  id: string;
  version: number;
  action: 'create' | 'update' | 'delete';
  /** The version's content, when the payload carries it and the subscriber may read it. */
  resource?: Resource;
}

const STATUS_PROFILE = `${BACKPORT}/backport-subscription-status-r4`;

/** The SubscriptionStatus of the R4 backport: a Parameters resource. */
export function statusParameters(base: string, spec: SubscriptionSpec, status: string, type: NotificationType, since: number,
  events: OutboxEvent[], error?: string): Resource {
  const parameter: Record<string, unknown>[] = [
    { name: 'subscription', valueReference: { reference: `${base}/Subscription/${spec.id}` } },
    ...(spec.topic ? [{ name: 'topic', valueCanonical: spec.topic.url }] : []),
    { name: 'status', valueCode: status },
    { name: 'type', valueCode: type },
    { name: 'events-since-subscription-start', valueString: String(since) },
    ...events.map((e) => ({ name: 'notification-event', part: [
      { name: 'event-number', valueString: String(e.number) },
      { name: 'timestamp', valueInstant: e.at.toISOString() },
      ...(spec.channel.content !== 'empty' ? [{ name: 'focus', valueReference: { reference: `${base}/${e.type}/${e.id}/_history/${e.version}` } }] : []),
    ] })),
    ...(error ? [{ name: 'error', valueCodeableConcept: { text: error } }] : []),
  ];
  return { resourceType: 'Parameters', id: randomUUID(), meta: { profile: [STATUS_PROFILE] }, parameter };
}

const METHOD = { create: 'POST', update: 'PUT', delete: 'DELETE' } as const;
const STATUS = { create: '201', update: '200', delete: '204' } as const;

/** The notification Bundle of a topic-based subscription. */
export function notificationBundle(base: string, spec: SubscriptionSpec, status: string, type: NotificationType, since: number,
  events: OutboxEvent[], error?: string): Resource {
  const statusEntry = { fullUrl: `urn:uuid:${randomUUID()}`, resource: statusParameters(base, spec, status, type, since, events, error),
    request: { method: 'GET', url: `${base}/Subscription/${spec.id}/$status` }, response: { status: '200' } };
  const entries = spec.channel.content === 'empty' ? [] : events.map((e) => ({
    fullUrl: `${base}/${e.type}/${e.id}`,
    ...(spec.channel.content === 'full-resource' && e.resource ? { resource: e.resource } : {}),
    request: { method: METHOD[e.action], url: e.action === 'create' ? e.type : `${e.type}/${e.id}` },
    response: { status: STATUS[e.action], ...(e.action !== 'delete' ? { etag: `W/"${e.version}"` } : {}) },
  }));
  return { resourceType: 'Bundle', id: randomUUID(), type: 'history', timestamp: new Date().toISOString(), entry: [statusEntry, ...entries] };
}

export interface Request { method: 'POST' | 'PUT'; url: string; body?: string }

/** What one R4 (criteria-based) event sends. */
export function r4Request(spec: SubscriptionSpec, e: OutboxEvent | undefined): Request {
  const endpoint = spec.channel.endpoint!;
  if (!e || !spec.channel.mime || !e.resource) return { method: 'POST', url: endpoint };
  return { method: 'PUT', url: `${endpoint.replace(/\/+$/, '')}/${e.type}/${e.id}`, body: JSON.stringify(e.resource) };
}

export interface Sent { ok: boolean; status?: number; error?: string }

/** Connections kept open per endpoint between notifications (the receivers of one tenant are few). */
const AGENTS = { 'http:': new http.Agent({ keepAlive: true, maxSockets: 64 }), 'https:': new https.Agent({ keepAlive: true, maxSockets: 64 }) };
/** Bytes of an answer read (and thrown away) so that its connection can be reused; a longer answer closes it. */
const ANSWER_MAX = 64 * 1024;

/**
 * Sends one request with the subscription's headers through node:http (measured cheaper than fetch a request); never
 * follows a redirect, gives up after timeoutMs for the whole exchange and reads at most 64 KiB of the answer (a
 * hostile endpoint costs one worker for at most the timeout).
 */
export function send(spec: SubscriptionSpec, req: Request, timeoutMs: number): Promise<Sent> {
  const headers: Record<string, string | number> = { 'user-agent': 'Hearth-Subscriptions' };
  for (const [k, v] of spec.channel.headers) headers[k] = v;
  const body = req.body === undefined ? undefined : Buffer.from(req.body);
  headers['content-length'] = body?.length ?? 0;
  if (body) headers['content-type'] = 'application/fhir+json';
  const timeout = Math.min(timeoutMs, (spec.channel.timeoutS ?? Infinity) * 1000);
  let url: URL;
  try {
    url = new URL(req.url);
  } catch {
    return Promise.resolve({ ok: false, error: 'The endpoint is not a URL' });
  }
  const lib = url.protocol === 'https:' ? https : http;
  const agent = url.protocol === 'https:' ? AGENTS['https:'] : AGENTS['http:'];
  return new Promise((resolve) => {
    let settled = false;
    const request = lib.request(url, { method: req.method, headers, agent }, (res) => {
      const status = res.statusCode ?? 0;
      let read = 0;
      res.on('data', (chunk: Buffer) => { read += chunk.length; if (read > ANSWER_MAX) res.destroy(); });
      res.on('error', () => undefined);
      done(status >= 200 && status < 300 ? { ok: true, status } : { ok: false, status, error: `The endpoint answered HTTP ${status}` });
    });
    const timer = setTimeout(() => {
      done({ ok: false, error: `No answer within ${timeout} ms` });
      request.destroy();
    }, timeout);
    function done(sent: Sent) {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(sent);
    }
    request.on('error', (e: NodeJS.ErrnoException) => done({ ok: false, error: `The endpoint could not be reached (${e.code ?? e.name})` }));
    request.end(body);
  });
}
