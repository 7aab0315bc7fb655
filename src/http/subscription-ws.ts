/**
 * `[base]/websocket`: the websocket endpoint of Subscriptions with channel.type websocket (issue #20 §1–§2; protocol
 * in src/subscriptions/websocket.ts). Commands are one line each: `bind <id>` needs an access token on the upgrade
 * request (Authorization: Bearer) that may read the Subscription; `bind-with-token <token>` a token of
 * `$get-ws-binding-token`. A connection binds at most 20 subscriptions; frames are limited to 4 KiB.
 */
import fastifyWebsocket from '@fastify/websocket';
import type { FastifyInstance } from 'fastify';
import { Access } from '../auth/access.js';
import { authenticateTenant } from '../auth/bearer.js';
import type { Deps } from '../interactions/context.js';
import { readCurrent } from '../storage/resources.js';
import { findTenant } from '../storage/tenants.js';
import { WebSocketHub, redeemBindingToken } from '../subscriptions/websocket.js';
import { handshakeText, renderPublication } from '../subscriptions/render.js';
import { tenantBase } from './host-routing.js';

const MAX_BINDINGS = 20;

export function registerSubscriptionWebsocket(app: FastifyInstance, deps: Deps): void {
  const hub = new WebSocketHub(deps.db, (p) => renderPublication(deps, p));
  app.addHook('onReady', () => hub.start());
  app.addHook('onClose', () => hub.close());
  void app.register(fastifyWebsocket, { options: { maxPayload: 4096 } });
  void app.register(async (scope) => {
    scope.get<{ Params: { tenant: string } }>('/fhir/:tenant/websocket', { websocket: true }, (socket, req) => {
      const slug = req.params.tenant;
      const base = tenantBase(deps, req, slug);
      const unbinds: (() => void)[] = [];
      const say = (text: string) => { if (socket.readyState === socket.OPEN) socket.send(text); };

      /** The Subscription if it is a websocket one of this tenant, with its kind. */
      const websocketSubscription = async (schema: string, id: string): Promise<'r4' | 'topic' | undefined> => {
        if (!/^[A-Za-z0-9\-.]{1,64}$/.test(id)) return undefined;
        const current = await readCurrent(deps.db, schema, 'Subscription', id);
        const channel = current?.resource?.channel as { type?: string } | undefined;
        if (!current?.resource || current.deleted || channel?.type !== 'websocket') return undefined;
        return /^https?:\/\//.test(String(current.resource.criteria)) ? 'topic' : 'r4';
      };

      const handle = async (text: string) => {
        const tenant = await findTenant(deps.db, slug);
        if (!tenant || tenant.suspendedAt) return socket.close(1008, 'Unknown or suspended tenant');
        const [command, arg, ...rest] = text.trim().split(/\s+/);
        if ((command !== 'bind' && command !== 'bind-with-token') || !arg || rest.length > 0) {
          return say('error Unknown command: send bind <id> or bind-with-token <token>');
        }
        const ids = command === 'bind-with-token' ? await redeemBindingToken(deps.db, tenant.schema, arg) : [arg];
        if (!ids) return say('error The binding token is unknown, spent or expired');
        if (command === 'bind') {
          const found = await authenticateTenant(deps, slug, base, req.headers.authorization, true).catch(() => undefined);
          const registry = await deps.tenantSearch.registryFor(deps.db, tenant.schema);
          if (!found || !new Access(found.principal, tenant.schema, registry, deps.defs, base).allows('Subscription', 'r')) {
            return say(`error Binding by id needs an access token that may read Subscriptions (or use bind-with-token)`);
          }
        }
        for (const id of ids) {
          if (unbinds.length >= MAX_BINDINGS) return say(`error At most ${MAX_BINDINGS} subscriptions a connection`);
          const kind = await websocketSubscription(tenant.schema, id);
          if (!kind) { say(`error Subscription/${id} is not a websocket Subscription of this server`); continue; }
          unbinds.push(hub.bind(tenant.schema, id, { send: say }, kind));
          if (kind === 'r4') say(`bound ${id}`);
          else {
            const handshake = await handshakeText(deps, tenant.schema, id);
            if (handshake) say(handshake);
          }
        }
      };

      let queue = Promise.resolve();
      socket.on('message', (data: Buffer) => {
        queue = queue.then(() => handle(data.toString('utf8'))).catch(() => say('error The command failed'));
      });
      socket.on('close', () => { for (const unbind of unbinds) unbind(); });
    });
  });
}
