/** Small FHIR datatype builders shared by the generator (Coding, CodeableConcept, Reference, Quantity, dates). */
import type { BundleEntry, Resource } from '../../src/fhir/types.js';
import { UCUM } from './codes.js';

export type Json = Record<string, unknown>;

export const coding = (system: string, code: string, display?: string): Json =>
  display === undefined ? { system, code } : { system, code, display };

export const concept = (system: string, code: string, display: string): Json =>
  ({ coding: [coding(system, code, display)], text: display });

export const ref = (urn: string, display?: string): Json => (display ? { reference: urn, display } : { reference: urn });

export const quantity = (value: number, unit: string): Json => ({ value, unit, system: UCUM, code: unit });

export const money = (value: number): Json => ({ value: Math.round(value * 100) / 100, currency: 'USD' });

const DAY = 86_400_000;
export const days = (n: number): number => n * DAY;

/** FHIR dateTime with seconds and an explicit UTC offset, as Synthea writes it. */
export const dateTime = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, '+00:00');
/** FHIR instant (milliseconds kept). */
export const instant = (ms: number): string => new Date(ms).toISOString();
export const date = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

/** A transaction entry that creates the resource under a urn:uuid fullUrl (Synthea's shape). */
export function postEntry(urn: string, resource: Resource): BundleEntry {
  return { fullUrl: urn, resource, request: { method: 'POST', url: resource.resourceType } };
}
