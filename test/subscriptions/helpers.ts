/** A local HTTP endpoint that records what subscriptions deliver, and can fail on purpose. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { deliveryDeps } from '../../src/app.js';
import { startSubscriptionDelivery } from '../../src/subscriptions/worker.js';
import type { TestServer } from '../helpers/server.js';
import { schemaFor } from '../../src/storage/tenants.js';

export interface Received { method: string; url: string; headers: http.IncomingHttpHeaders; body: string; at: number }

export interface Receiver {
  url: string;
  received: Received[];
  /** The status the next requests get (default 200). */
  status: number;
  /** While true, requests are recorded but never answered (an endpoint that hangs). */
  hang: boolean;
  /** While set, requests are recorded at once and answered once it settles (a slow endpoint, at the test's pace). */
  hold: Promise<unknown> | undefined;
  /** Requests it answers with HTTP 500 whatever `status` says. */
  failIf: ((r: Received) => boolean) | undefined;
  /** Waits until `count` requests matching `where` arrived (at most ms). */
  waitFor(count: number, where?: (r: Received) => boolean, ms?: number): Promise<Received[]>;
  close(): Promise<void>;
}

export async function startReceiver(t: { teardown(fn: () => unknown): void }): Promise<Receiver> {
  const received: Received[] = [];
  const receiver = { status: 200, hang: false, hold: undefined, failIf: undefined } as Receiver;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const got = { method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
      received.push(got);
      if (receiver.hang) return;
      void Promise.resolve(receiver.hold).finally(() => {
        res.statusCode = receiver.failIf?.(got) ? 500 : receiver.status;
        // A redirect points below the path it answers: a client that followed it would be seen asking for it.
        if (receiver.status >= 300 && receiver.status < 400) res.setHeader('location', `${req.url}/followed`);
        res.end();
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const close = () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); });
  t.teardown(close);
  return Object.assign(receiver, {
    url, received, close,
    async waitFor(count: number, where: (r: Received) => boolean = () => true, ms = 15000) {
      const until = Date.now() + ms;
      for (;;) {
        const hits = received.filter(where);
        if (hits.length >= count) return hits;
        if (Date.now() > until) throw new Error(`expected ${count} deliveries, got ${hits.length}: ${JSON.stringify(received.map((r) => `${r.method} ${r.url}`))}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
  });
}

/**
 * This test server's delivery workers for its own tenant (test files share one PostgreSQL database: a worker of
 * another file — or one killed by kill.test.ts — must not hold this file's subscriptions), polling fast; stopped at
 * teardown.
 */
export async function startDelivery(t: { teardown(fn: () => unknown): void }, s: TestServer): Promise<() => Promise<void>> {
  const stop = await startSubscriptionDelivery(deliveryDeps(s.deps), { pollMs: 50, sweepMs: 200, remindMs: 200, schemas: [schemaFor(s.slug)] });
  let stopped = false;
  const once = async () => { if (!stopped) { stopped = true; await stop(); } };
  t.teardown(once);
  return once;
}

export const SUBSCRIPTION_ENV = { HEARTH_SUBSCRIPTION_RETRY_MS: '40', HEARTH_SUBSCRIPTION_RETRY_MAX_MS: '200',
  HEARTH_SUBSCRIPTION_TIMEOUT_MS: '2000' };

export const TOPIC = 'http://hearth.dev/fhir/SubscriptionTopic';
export const BACKPORT = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition';

/** A topic-based Subscription (R4 backport) as a client writes it. */
export function topicSubscription(endpoint: string, topic: string, filter: string | undefined, content: string): Record<string, unknown> {
  return {
    resourceType: 'Subscription', status: 'requested', reason: 'test',
    meta: { profile: [`${BACKPORT}/backport-subscription`] },
    criteria: `${TOPIC}/${topic}`,
    ...(filter ? { _criteria: { extension: [{ url: `${BACKPORT}/backport-filter-criteria`, valueString: filter }] } } : {}),
    channel: { type: 'rest-hook', endpoint, payload: 'application/fhir+json',
      _payload: { extension: [{ url: `${BACKPORT}/backport-payload-content`, valueCode: content }] } },
  };
}

/** Polls the Subscription until its status is `status`. */
export async function waitStatus(s: TestServer, id: string, status: string, ms = 15000): Promise<Record<string, unknown>> {
  const until = Date.now() + ms;
  for (;;) {
    const res = await s.request('GET', `Subscription/${id}`);
    const body = res.json();
    if (body.status === status) return body;
    if (Date.now() > until) throw new Error(`Subscription/${id} stayed ${body.status} (${body.error ?? ''}), expected ${status}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
