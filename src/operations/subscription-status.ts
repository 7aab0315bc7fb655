/**
 * The Subscriptions R5 Backport IG's operations (issue #20 §2): `Subscription/[id]/$status` (and `Subscription/$status`
 * with `id` parameters) answers the SubscriptionStatus — status, events since start, the last error — as a searchset
 * Bundle; `Subscription/[id]/$events` replays events from the outbox (eventsSinceNumber, eventsUntilNumber, content),
 * so a client that saw a gap in the event numbers can fetch what it missed. What a replay carries is limited by the
 * caller's own access, as a delivery is by the creator's.
 * https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/operations.html
 */
import { badRequest, notFound } from '../errors.js';
import type { FhirRequest, FhirResult } from '../fhir/request.js';
import type { Resource } from '../fhir/types.js';
import type { Context, Deps } from '../interactions/context.js';
import { ident, sql } from '../db/sql.js';
import { readCurrent } from '../storage/resources.js';
import { eventCount, loadEvents, readableEvents } from '../subscriptions/events.js';
import { type PayloadContent, type SubscriptionSpec, subscriptionSpec } from '../subscriptions/model.js';
import { notificationBundle, statusParameters } from '../subscriptions/notify.js';
import { issueBindingToken } from '../subscriptions/websocket.js';
import { operationInputs } from './parameters.js';

/** Events one `$events` call returns at most. */
const EVENTS_MAX = 100;

async function subscriptionOf(deps: Deps, ctx: Context, id: string): Promise<{ resource: Resource; spec: SubscriptionSpec }> {
  ctx.access?.require('Subscription', 'r');
  const current = await readCurrent(deps.db, ctx.tenant.schema, 'Subscription', id);
  if (!current?.resource || current.deleted) throw notFound('Subscription', id);
  const registry = await deps.tenantSearch.registryFor(deps.db, ctx.tenant.schema);
  return { resource: current.resource, spec: subscriptionSpec({ registry, defs: deps.defs, base: ctx.base }, current.resource, []) };
}

async function statusEntry(deps: Deps, ctx: Context, id: string): Promise<Record<string, unknown>> {
  const { resource, spec } = await subscriptionOf(deps, ctx, id);
  const rows = await deps.db.query<{ last_error: string | null }>(sql`SELECT last_error FROM ${ident(ctx.tenant.schema)}.subscription_state WHERE id = ${id}`);
  const since = await eventCount(deps.db, ctx.tenant.schema, id);
  const parameters = statusParameters(ctx.base, spec, String(resource.status), 'query-status', since, [], rows[0]?.last_error ?? undefined);
  return { fullUrl: `urn:uuid:${parameters.id}`, resource: parameters, search: { mode: 'match' } };
}

export async function subscriptionStatusOperation(deps: Deps, ctx: Context, req: FhirRequest, id: string | undefined): Promise<FhirResult> {
  const ids = id !== undefined ? [id] : operationInputs(req).all('id').flatMap((v) => v.split(','));
  if (ids.length === 0) throw badRequest('Subscription/$status needs the id of at least one Subscription', ['id']);
  if (ids.length > EVENTS_MAX) throw badRequest(`At most ${EVENTS_MAX} Subscriptions at once`, ['id']);
  const entry = [];
  for (const one of ids) entry.push(await statusEntry(deps, ctx, one.replace(/^Subscription\//, '')));
  return { status: 200, body: { resourceType: 'Bundle', type: 'searchset', total: entry.length, entry } };
}

function eventNumber(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,15}$/.test(value)) throw badRequest(`${name} must be a whole number`, [name]);
  return Number(value);
}

export async function subscriptionEventsOperation(deps: Deps, ctx: Context, req: FhirRequest, id: string): Promise<FhirResult> {
  const inputs = operationInputs(req);
  const since = eventNumber(inputs.one('eventsSinceNumber'), 'eventsSinceNumber');
  const until = eventNumber(inputs.one('eventsUntilNumber'), 'eventsUntilNumber');
  const asked = inputs.one('content');
  if (asked !== undefined && !['empty', 'id-only', 'full-resource'].includes(asked)) {
    throw badRequest(`content must be empty, id-only or full-resource`, ['content']);
  }
  const { resource, spec } = await subscriptionOf(deps, ctx, id);
  const content = (asked ?? spec.channel.content) as PayloadContent;
  const schema = ctx.tenant.schema;
  const registry = await deps.tenantSearch.registryFor(deps.db, schema);
  const events = await loadEvents(deps.db, schema, id, { ...(since !== undefined ? { since } : {}), ...(until !== undefined ? { until } : {}),
    limit: EVENTS_MAX });
  const { allowed } = await readableEvents({ db: deps.db, schema, registry, defs: deps.defs, ...(ctx.access ? { access: ctx.access } : {}),
    withContent: content === 'full-resource' }, events);
  const total = await eventCount(deps.db, schema, id);
  const shaped = { ...spec, channel: { ...spec.channel, content } };
  return { status: 200, body: notificationBundle(ctx.base, shaped, String(resource.status), 'query-event', total, allowed) };
}

/** How long a websocket binding token may be redeemed. */
const BINDING_TOKEN_MS = 5 * 60_000;

/**
 * `Subscription/[id]/$get-ws-binding-token`: a short-lived, single-use token a websocket client binds with
 * (`bind-with-token <token>` at the websocket-url), for a websocket Subscription the caller may read.
 */
export async function bindingTokenOperation(deps: Deps, ctx: Context, _req: FhirRequest, id: string): Promise<FhirResult> {
  const { spec } = await subscriptionOf(deps, ctx, id);
  if (spec.channel.type !== 'websocket') throw badRequest(`Subscription/${id} does not have a websocket channel`, ['Subscription.channel.type']);
  const { token, expires } = await issueBindingToken(deps.db, ctx.tenant.schema, [id], BINDING_TOKEN_MS);
  const ws = ctx.base.replace(/^http/, 'ws');
  return { status: 200, body: { resourceType: 'Parameters', parameter: [
    { name: 'token', valueString: token },
    { name: 'expiration', valueDateTime: expires.toISOString() },
    { name: 'subscription', valueString: `${ctx.base}/Subscription/${id}` },
    { name: 'websocket-url', valueUrl: `${ws}/websocket` },
  ] } };
}
