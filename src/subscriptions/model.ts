/**
 * A Subscription resource read as what the server must do (issue #20 §1–§2): R4 criteria (`Type?params`) or a
 * topic of the R5 Backport IG with filter criteria, the channel, the payload. Checked when it is written: what Hearth
 * cannot honour is refused then (400/422 naming the element), never discovered at delivery.
 * http://hl7.org/fhir/R4/subscription.html, https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/
 */
import { FhirError, badRequest, unprocessable } from '../errors.js';
import type { Params, Resource } from '../fhir/types.js';
import { PageTokens } from '../fhir/page-token.js';
import type { Condition } from '../search/ast.js';
import { type ParseContext, parseSearch } from '../search/parse.js';
import { REMINDER_LEAD, type Topic, topicAt } from './topics.js';

export const BACKPORT = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition';
export const BACKPORT_PROFILE = `${BACKPORT}/backport-subscription`;

export type PayloadContent = 'empty' | 'id-only' | 'full-resource';

export interface Channel {
  type: 'rest-hook' | 'websocket';
  endpoint?: string;
  /** `Name: value` headers sent with every rest-hook request. */
  headers: [string, string][];
  /** R4 channel.payload (a MIME type); absent: no body. */
  mime?: string;
  content: PayloadContent;
  heartbeatS?: number;
  timeoutS?: number;
  maxCount: number;
}

export interface SubscriptionSpec {
  id: string;
  status: string;
  kind: 'r4' | 'topic';
  topic?: Topic;
  /** The resource type its events are about. */
  type: string;
  params: Params;
  conditions: Condition[];
  channel: Channel;
  /** Subscription.end: no events after it. */
  end?: number;
  /** The reminder topic: minutes before an Appointment's start. */
  leadMinutes?: number;
}

/** Where rest-hook endpoints may point: the configured prefixes, else any https URL and http on this machine. */
export function endpointAllowed(url: string, allow: readonly string[]): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  if (parsed.username || parsed.password) return false;
  if (allow.length > 0) return allow.some((p) => url.startsWith(p));
  if (parsed.protocol === 'https:') return true;
  return parsed.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(parsed.hostname);
}

const ext = (e: unknown, url: string): Record<string, unknown> | undefined =>
  ((e as { extension?: Record<string, unknown>[] } | undefined)?.extension ?? []).find((x) => x.url === url);

const NO_TOKENS = new PageTokens('unused');
const RESULT_PARAMS = new Set(['_include', '_revinclude', '_sort', '_count', '_total', '_summary', '_elements', '_contained',
  '_containedType', '_page', '_format', '_pretty']);

/** `Type?a=b&c=d` (or `Type`) → the type and its search conditions; 400/422 naming `element` otherwise. */
function parseCriteria(px: ParseContext, text: string, element: string): { type: string; params: Params; conditions: Condition[] } {
  const m = /^([A-Z][A-Za-z]+)(?:\?(.*))?$/s.exec(text.trim());
  if (!m) throw unprocessable(`${element} must be a search on one type, e.g. Observation?code=http://loinc.org|1234-5`, [element]);
  const type = m[1]!;
  if (!px.defs.isResourceType(type)) throw unprocessable(`${element}: unknown resource type '${type}'`, [element]);
  const params = [...new URLSearchParams(m[2] ?? '').entries()];
  for (const [k] of params) {
    if (RESULT_PARAMS.has(k.split(':')[0]!)) throw unprocessable(`${element}: '${k}' shapes results and cannot select events`, [element]);
  }
  try {
    const parsed = parseSearch(px, params, { types: [type], strict: true, defaultCount: 1, maxCount: 1, pageTokens: NO_TOKENS });
    return { type, params, conditions: parsed.conditions };
  } catch (e) {
    if (!(e instanceof FhirError)) throw e;
    throw badRequest(`${element}: ${e.message}`, [element]);
  }
}

function channelOf(s: Resource, allow: readonly string[], kind: 'r4' | 'topic'): Channel {
  const c = (s.channel ?? {}) as { type?: string; endpoint?: string; payload?: string; _payload?: unknown; header?: string[] };
  if (c.type !== 'rest-hook' && c.type !== 'websocket') {
    throw unprocessable(`Subscription.channel.type '${String(c.type)}' is not supported here: use rest-hook or websocket`, ['Subscription.channel.type']);
  }
  if (c.type === 'rest-hook') {
    if (!c.endpoint) throw unprocessable('A rest-hook Subscription needs channel.endpoint', ['Subscription.channel.endpoint']);
    if (!endpointAllowed(c.endpoint, allow)) {
      throw unprocessable(`Subscription.channel.endpoint '${c.endpoint.slice(0, 200)}' is not allowed: use https (or a prefix of HEARTH_SUBSCRIPTION_ALLOW_URLS)`,
        ['Subscription.channel.endpoint']);
    }
  }
  const headers: [string, string][] = [];
  for (const h of c.header ?? []) {
    const m = /^([A-Za-z0-9!#$%&'*+.^_`|~-]+):\s*([^\r\n]*)$/.exec(h);
    if (!m || /^(host|content-length|content-type|transfer-encoding|connection)$/i.test(m[1]!)) {
      throw unprocessable(`Subscription.channel.header '${h.slice(0, 80)}' is not a header this server may send`, ['Subscription.channel.header']);
    }
    headers.push([m[1]!, m[2]!]);
  }
  if (c.payload !== undefined && !/^application\/(fhir\+)?json\b/.test(c.payload)) {
    throw unprocessable(`Subscription.channel.payload '${c.payload}' is not supported: use application/fhir+json`, ['Subscription.channel.payload']);
  }
  let content: PayloadContent = c.payload ? 'full-resource' : 'empty';
  if (kind === 'topic') {
    const code = ext(c._payload, `${BACKPORT}/backport-payload-content`)?.valueCode;
    if (code !== undefined) {
      if (code !== 'empty' && code !== 'id-only' && code !== 'full-resource') {
        throw unprocessable(`Payload content '${String(code)}' is not one of empty, id-only, full-resource`, ['Subscription.channel.payload']);
      }
      content = code;
    } else content = c.payload ? 'id-only' : 'empty';
  }
  const heartbeat = ext(c, `${BACKPORT}/backport-heartbeat-period`)?.valueUnsignedInt;
  const timeout = ext(c, `${BACKPORT}/backport-timeout`)?.valueUnsignedInt;
  const maxCount = ext(c, `${BACKPORT}/backport-max-count`)?.valuePositiveInt;
  return { type: c.type, ...(c.endpoint ? { endpoint: c.endpoint } : {}), headers, ...(c.payload ? { mime: c.payload } : {}), content,
    ...(typeof heartbeat === 'number' && heartbeat > 0 ? { heartbeatS: heartbeat } : {}),
    ...(typeof timeout === 'number' && timeout > 0 ? { timeoutS: timeout } : {}),
    maxCount: typeof maxCount === 'number' ? Math.min(Math.max(1, maxCount), 100) : 20 };
}

/** The Subscription as the server reads it; throws the 400/422 a client should see when it cannot be honoured. */
export function subscriptionSpec(px: ParseContext, s: Resource, allow: readonly string[]): SubscriptionSpec {
  const criteria = typeof s.criteria === 'string' ? s.criteria.trim() : '';
  if (criteria === '') throw unprocessable('Subscription.criteria is required', ['Subscription.criteria']);
  const isTopic = /^https?:\/\//.test(criteria);
  const channel = channelOf(s, allow, isTopic ? 'topic' : 'r4');
  const end = typeof s.end === 'string' ? Date.parse(s.end) : undefined;
  const lead = ext(s, REMINDER_LEAD)?.valueUnsignedInt;
  if (lead !== undefined && (typeof lead !== 'number' || lead < 1 || lead > 525600)) {
    throw unprocessable('The reminder lead time must be 1 to 525,600 minutes', ['Subscription.extension']);
  }
  const common = { id: s.id!, status: String(s.status), channel, ...(end !== undefined && !Number.isNaN(end) ? { end } : {}),
    ...(typeof lead === 'number' ? { leadMinutes: lead } : {}) };
  if (!isTopic) return { ...common, kind: 'r4', ...parseCriteria(px, criteria, 'Subscription.criteria') };
  const topic = topicAt(criteria);
  if (!topic) throw unprocessable(`Subscription.criteria: '${criteria.slice(0, 200)}' is not a topic this server publishes`, ['Subscription.criteria']);
  const filter = ext(s._criteria, `${BACKPORT}/backport-filter-criteria`)?.valueString;
  if (filter === undefined) {
    if (!topic.type) throw unprocessable(`The topic ${topic.url} needs filter criteria naming a resource type (backport-filter-criteria)`, ['Subscription.criteria']);
    return { ...common, kind: 'topic', topic, type: topic.type, params: [], conditions: [] };
  }
  const parsed = parseCriteria(px, String(filter), 'Subscription.criteria.extension');
  if (topic.type && parsed.type !== topic.type) {
    throw unprocessable(`The filter criteria are on ${parsed.type}, the topic ${topic.url} on ${topic.type}`, ['Subscription.criteria.extension']);
  }
  return { ...common, kind: 'topic', topic, ...parsed };
}
