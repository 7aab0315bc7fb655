/** SQLSTATE → FhirError: the one place database failures become client-facing outcomes (STYLE.md "Errors"). */
import { FhirError, timedOut } from '../errors.js';

const code = (e: unknown): string | undefined =>
  typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string' ? (e as { code: string }).code : undefined;

/** A FhirError for database failures a client can act on, or undefined for bugs (which stay 500). */
export function fromDatabaseError(e: unknown): FhirError | undefined {
  switch (code(e)) {
    case '57014':
      return timedOut('The request took longer than the database statement timeout; narrow it and retry');
    case '40001':
    case '40P01':
      return new FhirError(409, 'conflict', 'A concurrent change conflicted with this request; retry it');
    case '53300':
    case '57P03':
      return new FhirError(503, 'transient', 'The database is not accepting connections right now; retry shortly');
    case '23505':
      return new FhirError(409, 'duplicate', 'A concurrent request created the same resource; retry it');
    default:
      return undefined;
  }
}
