/**
 * The subscription topics Hearth publishes (issue #20 §2), as the Subscriptions R5 Backport IG has R4 servers name
 * them: by canonical URL, listed in the CapabilityStatement. A topic says which resource type it is about and which
 * changes trigger it, comparing the content before and after the change.
 * https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/topics.html
 */
import type { Resource } from '../fhir/types.js';

export const TOPIC_BASE = 'http://hearth.dev/fhir/SubscriptionTopic';

export const REMINDER_TOPIC = `${TOPIC_BASE}/appointment-reminder`;

/** On a Subscription to the reminder topic: minutes before the start (valueUnsignedInt; default 1,440 = 24 hours). */
export const REMINDER_LEAD = 'http://hearth.dev/fhir/StructureDefinition/subscription-reminder-lead-minutes';

export type Action = 'create' | 'update' | 'delete';

export interface Topic {
  url: string;
  title: string;
  /** The topic's resource type; undefined: any type (named by the filter criteria, which is then required). */
  type?: string;
  /** Whether a change of a resource triggers the topic. */
  triggers(action: Action, previous: Resource | undefined, current: Resource | undefined): boolean;
  /** Triggered by time, not by a change (reminders.ts scans for it). */
  timed?: true;
}

const status = (r: Resource | undefined): unknown => r?.status;

/** The status became `to` in this change (a create with it, or an update from another status). */
const becomes = (to: string) => (action: Action, previous: Resource | undefined, current: Resource | undefined): boolean =>
  action !== 'delete' && status(current) === to && status(previous) !== to;

export const TOPICS: readonly Topic[] = [
  { url: `${TOPIC_BASE}/resource-created`, title: 'A resource of the filter\'s type is created', triggers: (a) => a === 'create' },
  { url: `${TOPIC_BASE}/resource-updated`, title: 'A resource of the filter\'s type is updated', triggers: (a) => a === 'update' },
  { url: `${TOPIC_BASE}/resource-deleted`, title: 'A resource of the filter\'s type is deleted', triggers: (a) => a === 'delete' },
  { url: `${TOPIC_BASE}/resource-changed`, title: 'A resource of the filter\'s type is created, updated or deleted', triggers: () => true },
  { url: `${TOPIC_BASE}/encounter-start`, title: 'An Encounter starts (status becomes in-progress)', type: 'Encounter',
    triggers: becomes('in-progress') },
  { url: `${TOPIC_BASE}/encounter-finish`, title: 'An Encounter is finished (status becomes finished)', type: 'Encounter',
    triggers: becomes('finished') },
  { url: `${TOPIC_BASE}/diagnosticreport-final`, title: 'A DiagnosticReport becomes final', type: 'DiagnosticReport',
    triggers: becomes('final') },
  { url: `${TOPIC_BASE}/appointment-booked`, title: 'An Appointment is booked', type: 'Appointment', triggers: becomes('booked') },
  { url: `${TOPIC_BASE}/appointment-cancelled`, title: 'An Appointment is cancelled', type: 'Appointment',
    triggers: becomes('cancelled') },
  { url: REMINDER_TOPIC, title: 'A booked Appointment starts within the lead time (the reminder extension, default 24 hours)',
    type: 'Appointment', triggers: () => false, timed: true },
];

const BY_URL = new Map(TOPICS.map((t) => [t.url, t]));

export const topicAt = (url: string): Topic | undefined => BY_URL.get(url.split('|')[0]!);
