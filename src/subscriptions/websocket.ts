/**
 * Websocket channels (issue #20 §1–§2). A client opens `[base]/websocket` on any node and binds: `bind <id>` (R4,
 * with an access token on the upgrade request; answered `bound <id>`, then `ping <id>` per notification) or
 * `bind-with-token <token>` (R5 Backport IG, a token from `Subscription/[id]/$get-ws-binding-token`; answered with
 * the handshake Bundle, then notification Bundles and heartbeats). The delivery worker that claims a websocket
 * subscription publishes its events through NOTIFY; each node renders them for the sockets bound to it (as the
 * subscription's creator may read them) — so a socket on any node receives them. A websocket notification is sent at
 * most once; a client that was away replays what it missed with `$events`.
 */
import crypto from 'node:crypto';
import type { Db, Listener, Queryable } from '../db/db.js';
import { ident, sql } from '../db/sql.js';

export const WS_CHANNEL = 'hearth_subscription_ws';

/** What the delivery worker publishes: events first..last of a subscription, or a heartbeat. */
export interface Publication { schema: string; id: string; kind: 'events' | 'heartbeat'; first?: number; last?: number }

export interface BoundSocket { send(text: string): void }

/** The text a topic-based subscription's sockets receive for a publication (undefined: nothing to send). */
export type Render = (p: Publication) => Promise<string | undefined>;

export async function publish(q: Queryable, p: Publication): Promise<void> {
  await q.query(sql`SELECT pg_notify(${WS_CHANNEL}, ${JSON.stringify(p)})`);
}

/** The sockets bound on this node, by tenant schema and subscription. */
export class WebSocketHub {
  private readonly bound = new Map<string, Map<BoundSocket, 'r4' | 'topic'>>();
  private listener: Listener | undefined;

  constructor(private readonly db: Db, private readonly render: Render) {}

  async start(): Promise<void> {
    this.listener = await this.db.listen(WS_CHANNEL, {
      message: (payload) => void this.deliver(JSON.parse(payload) as Publication).catch(() => undefined),
      state: () => undefined,
    });
  }

  async close(): Promise<void> {
    await this.listener?.close();
    this.bound.clear();
  }

  /** Binds socket to one subscription; the returned function unbinds it. */
  bind(schema: string, id: string, socket: BoundSocket, mode: 'r4' | 'topic'): () => void {
    const key = `${schema}/${id}`;
    let sockets = this.bound.get(key);
    if (!sockets) this.bound.set(key, sockets = new Map());
    sockets.set(socket, mode);
    return () => {
      sockets.delete(socket);
      if (sockets.size === 0) this.bound.delete(key);
    };
  }

  /** Sockets bound to a subscription on this node. */
  count(schema: string, id: string): number {
    return this.bound.get(`${schema}/${id}`)?.size ?? 0;
  }

  private async deliver(p: Publication): Promise<void> {
    const sockets = this.bound.get(`${p.schema}/${p.id}`);
    if (!sockets || sockets.size === 0) return;
    let rendered: Promise<string | undefined> | undefined;
    for (const [socket, mode] of sockets) {
      if (mode === 'r4') {
        if (p.kind === 'events') socket.send(`ping ${p.id}`);
        continue;
      }
      rendered ??= this.render(p);
      const text = await rendered;
      if (text !== undefined) socket.send(text);
    }
  }
}

const hash = (token: string): Buffer => crypto.createHash('sha256').update(token).digest();

/** A binding token for these subscriptions, valid for ttlMs (only its hash is stored). */
export async function issueBindingToken(db: Queryable, schema: string, ids: string[], ttlMs: number): Promise<{ token: string; expires: Date }> {
  const token = crypto.randomBytes(32).toString('base64url');
  const expires = new Date(Date.now() + ttlMs);
  await db.query(sql`WITH gone AS (DELETE FROM ${ident(schema)}.subscription_ws_token WHERE expires_at < now())
    INSERT INTO ${ident(schema)}.subscription_ws_token (hash, sub_ids, expires_at) VALUES (${hash(token)}, ${ids}::text[], ${expires})`);
  return { token, expires };
}

/** The subscriptions a token binds, once (it is spent), or undefined when it is unknown or expired. */
export async function redeemBindingToken(db: Queryable, schema: string, token: string): Promise<string[] | undefined> {
  if (!/^[A-Za-z0-9_-]{20,100}$/.test(token)) return undefined;
  const rows = await db.query<{ sub_ids: string[]; live: boolean }>(sql`DELETE FROM ${ident(schema)}.subscription_ws_token
    WHERE hash = ${hash(token)} RETURNING sub_ids, expires_at > now() AS live`);
  return rows[0]?.live ? rows[0].sub_ids : undefined;
}
