/**
 * A FHIR request and its result as every layer sees them, independent of HTTP: the HTTP layer builds them, Bundle
 * entries are turned into them, and the interactions answer them.
 */
import type { Params, Resource } from './types.js';

export interface FhirRequest {
  method: string;
  /** Path relative to the tenant base, without leading slash: 'Patient/1/_history/2'. */
  path: string;
  query: Params;
  headers: {
    ifMatch?: string;
    ifNoneMatch?: string;
    ifModifiedSince?: string;
    ifNoneExist?: string;
    prefer?: string;
    contentType?: string;
  };
  body?: unknown;
  /** Set only by transaction Bundles: the id a create must use (chosen early to rewrite urn:uuid references). */
  assignedId?: string;
}

export interface FhirResult {
  status: number;
  body?: Resource;
  etag?: string;
  lastModified?: Date;
  location?: string;
  contentLocation?: string;
  /** A write whose body follows Prefer: return=… */
  write?: boolean;
  /** body already serialised (large, cached answers such as the CapabilityStatement); sent when body goes out unchanged. */
  json?: string;
}

export function param(query: Params, name: string): string | undefined {
  return query.find(([k]) => k === name)?.[1];
}

/** What `Prefer: return=` asks a write to answer with — http://hl7.org/fhir/R4/http.html#ops */
export type ReturnPreference = 'minimal' | 'representation' | 'OperationOutcome';

export function returnPreference(prefer: string | undefined): ReturnPreference {
  const m = /return\s*=\s*"?(minimal|representation|OperationOutcome)"?/i.exec(prefer ?? '');
  const v = m?.[1]?.toLowerCase();
  return v === 'minimal' ? 'minimal' : v === 'operationoutcome' ? 'OperationOutcome' : 'representation';
}
