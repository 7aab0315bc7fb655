/**
 * Websocket channels (issue #20 §1–§2): R4 `bind <id>` with an access token (`bound`, then `ping` per notification),
 * the backport's `$get-ws-binding-token` and `bind-with-token` (handshake, then notification Bundles), and refusals.
 */
import type { AddressInfo } from 'node:net';
import t from 'tap';
import WebSocket from 'ws';
import { startServer } from '../helpers/server.js';
import { SUBSCRIPTION_ENV, startDelivery, topicSubscription, waitStatus } from './helpers.js';

interface Client { messages: string[]; send(text: string): void; next(where: (m: string) => boolean, ms?: number): Promise<string>; close(): void }

async function connect(url: string, headers: Record<string, string> = {}): Promise<Client> {
  const socket = new WebSocket(url, { headers });
  const messages: string[] = [];
  socket.on('message', (data: Buffer) => messages.push(data.toString('utf8')));
  await new Promise<void>((resolve, reject) => { socket.once('open', () => resolve()); socket.once('error', reject); });
  let seen = 0;
  return {
    messages,
    send: (text) => socket.send(text),
    close: () => socket.close(),
    async next(where, ms = 15000) {
      const until = Date.now() + ms;
      for (;;) {
        const i = messages.findIndex((m, k) => k >= seen && where(m));
        if (i >= 0) { seen = i + 1; return messages[i]!; }
        if (Date.now() > until) throw new Error(`no such message; got ${JSON.stringify(messages.map((m) => m.slice(0, 80)))}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
  };
}

t.test('websocket subscriptions', async (t) => {
  const s = await startServer(t, SUBSCRIPTION_ENV);
  await s.app.listen({ port: 0, host: '127.0.0.1' });
  const wsUrl = `ws://127.0.0.1:${(s.app.server.address() as AddressInfo).port}/fhir/${s.slug}/websocket`;
  await startDelivery(t, s);

  await t.test('R4: bind <id> with an access token, bound, then a ping per notification', async (t) => {
    const created = await s.request('POST', 'Subscription', { body: { resourceType: 'Subscription', status: 'requested', reason: 'ws',
      criteria: 'Patient?family=Wsmann', channel: { type: 'websocket' } } });
    t.equal(created.statusCode, 201, created.body);
    const id = created.json().id as string;
    await waitStatus(s, id, 'active');
    const anonymous = await connect(wsUrl);
    anonymous.send(`bind ${id}`);
    t.match(await anonymous.next((m) => m.startsWith('error')), /access token/);
    anonymous.close();
    const client = await connect(wsUrl, { authorization: `Bearer ${await s.token('system/Subscription.rs')}` });
    t.teardown(() => client.close());
    client.send(`bind ${id}`);
    t.equal(await client.next((m) => m.startsWith('bound')), `bound ${id}`);
    await s.request('POST', 'Patient', { body: { resourceType: 'Patient', name: [{ family: 'Wsmann' }] } });
    t.equal(await client.next((m) => m.startsWith('ping')), `ping ${id}`);
    client.send('nonsense');
    t.match(await client.next((m) => m.startsWith('error')), /Unknown command/);
  });

  await t.test('backport: $get-ws-binding-token, bind-with-token, handshake and full-resource notifications', async (t) => {
    const body = { ...topicSubscription('', 'resource-created', 'Organization?name=Wsorg', 'full-resource'), channel: {
      type: 'websocket', payload: 'application/fhir+json',
      _payload: { extension: [{ url: 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content', valueCode: 'full-resource' }] } } };
    const created = await s.request('POST', 'Subscription', { body });
    t.equal(created.statusCode, 201, created.body);
    const id = created.json().id as string;
    await waitStatus(s, id, 'active');
    const issued = await s.request('GET', `Subscription/${id}/$get-ws-binding-token`);
    t.equal(issued.statusCode, 200, issued.body);
    const params = issued.json().parameter as { name: string; valueString?: string; valueUrl?: string }[];
    const token = params.find((p) => p.name === 'token')!.valueString!;
    t.match(params.find((p) => p.name === 'websocket-url')!.valueUrl, /^ws:\/\/.*\/websocket$/);
    const client = await connect(wsUrl);
    t.teardown(() => client.close());
    client.send(`bind-with-token ${token}`);
    const handshake = JSON.parse(await client.next((m) => m.startsWith('{')));
    t.equal(handshake.entry[0].resource.parameter.find((p: { name: string }) => p.name === 'type').valueCode, 'handshake');
    const org = await s.request('POST', 'Organization', { body: { resourceType: 'Organization', name: 'Wsorg clinic' } });
    const note = JSON.parse(await client.next((m) => m.includes('event-notification')));
    t.equal(note.entry[1].resource.id, org.json().id);
    const again = await connect(wsUrl);
    again.send(`bind-with-token ${token}`);
    t.match(await again.next((m) => m.startsWith('error')), /unknown, spent or expired/);
    again.close();
    const rest = await s.request('POST', 'Subscription', { body: { resourceType: 'Subscription', status: 'requested', reason: 'x',
      criteria: 'Patient', channel: { type: 'rest-hook', endpoint: 'https://example.org/hook' } } });
    const refused = await s.request('GET', `Subscription/${rest.json().id}/$get-ws-binding-token`);
    t.equal(refused.statusCode, 400);
  });
});
