/** OperationOutcome construction — http://hl7.org/fhir/R4/operationoutcome.html */
import type { Issue } from '../errors.js';
import type { Resource } from './types.js';

export function toOutcome(issues: Issue[]): Resource {
  return { resourceType: 'OperationOutcome', issue: issues.map((i) => ({ ...i })) };
}

/** A success told as an outcome; `more` adds what was passed over (warnings). */
export const informational = (diagnostics: string, more: Issue[] = []): Resource =>
  toOutcome([{ severity: 'information', code: 'informational', diagnostics }, ...more]);
