/** SQLSTATE → FhirError or retry: the one place database failures are told apart (STYLE.md "Errors"). */
import { FhirError, concurrentChange, concurrentCreate, databaseUnavailable, referenceTargetMissing, referencedByOthers,
  statementTimedOut } from '../errors.js';

const code = (e: unknown): string | undefined =>
  typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string' ? (e as { code: string }).code : undefined;

/** Serialisation failure or deadlock: the transaction is run again (db.ts), and answered 409 once retries run out. */
const RETRYABLE = new Set(['40001', '40P01']);

/**
 * Unique keys that guard an optimistic write (one that read before its transaction and did not lock what it read): a
 * concurrent writer that committed the same key first makes it fail, and run again from its read. The booking turns
 * of src/workflows/scheduling.ts, and a resource's next version written from a row read without a lock.
 */
const GUARDS = new Set(['booking_turn_pkey', 'resource_version_type_id_version_key']);

const constraint = (e: unknown): string | undefined =>
  typeof e === 'object' && e !== null && typeof (e as { constraint?: unknown }).constraint === 'string'
    ? (e as { constraint: string }).constraint : undefined;

const textField = (e: unknown, key: 'message' | 'detail'): string | undefined => {
  const v = (e as Record<string, unknown>)[key];
  return typeof v === 'string' && v.length > 0 ? v : undefined;
};
const messageOf = (e: unknown): string => textField(e, 'message') ?? 'Referential integrity';

export const isRetryable = (e: unknown): boolean =>
  RETRYABLE.has(code(e) ?? '') || (code(e) === '23505' && GUARDS.has(constraint(e) ?? ''));

/** A FhirError for database failures a client can act on, or undefined for bugs (which stay 500). */
export function fromDatabaseError(e: unknown): FhirError | undefined {
  const sqlstate = code(e);
  if (sqlstate === undefined) return undefined;
  if (RETRYABLE.has(sqlstate)) return concurrentChange();
  switch (sqlstate) {
    case '57014':
      return statementTimedOut();
    case '53300':
    case '57P03':
      return databaseUnavailable();
    case '23505':
      return concurrentCreate();
    // Raised by the referential-integrity triggers of migrations/tenant/020 (their messages name types, ids and
    // elements only, never content).
    case 'HR404':
      return referenceTargetMissing(messageOf(e), textField(e, 'detail'));
    case 'HR409':
      return referencedByOthers(messageOf(e));
    default:
      return undefined;
  }
}

/**
 * Any failure as the FhirError a client is answered with — itself, or a database failure by its SQLSTATE — or
 * undefined for a bug (answered as `internalError`). The HTTP error handler, batch entries and audit records share it.
 */
export function toFhirError(e: unknown): FhirError | undefined {
  return e instanceof FhirError ? e : fromDatabaseError(e);
}
