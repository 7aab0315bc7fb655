/** Index row shapes, one per idx_* table of migrations/tenant/002_search_index.sql — http://hl7.org/fhir/R4/search.html */

/** Normalised (normalizeText) and exact forms; `word` marks the extra rows starting at a later word of a name part. */
export interface StringRow { param: string; norm: string; exact: string; word: boolean }

/**
 * code_ci = lower(code); display = normalizeText(Coding.display | CodeableConcept.text | Identifier.type.text);
 * type_system/type_code = one Identifier.type coding.
 */
export interface TokenRow {
  param: string;
  system: string | null;
  code: string | null;
  code_ci: string | null;
  display: string | null;
  type_system: string | null;
  type_code: string | null;
}

/** Literal references as ref_type/ref_id/ref_version; absolute URLs (also parsed) and canonicals in url. */
export interface ReferenceRow {
  param: string;
  ref_type: string | null;
  ref_id: string | null;
  /** `_history/v` of a versioned reference, or a canonical's `|version`. */
  ref_version: string | null;
  url: string | null;
}

/** [lo, hi) as ISO-8601 UTC instants, or '-infinity' / 'infinity'. */
export interface DateRow { param: string; lo: string; hi: string }

/** Decimal strings: the value and the range its precision implies ([lo, hi] = [value, value] for integers). */
export interface NumberRow { param: string; value: string; lo: string; hi: string }

export interface QuantityRow {
  param: string;
  system: string | null;
  code: string | null;
  unit: string | null;
  value: string;
  lo: string;
  hi: string;
}

/** A canonical's `|version` is split off into version; other URIs are stored whole. */
export interface UriRow { param: string; uri: string; version: string | null }

/** parts[i] = the values of component i (rows of that component's type, without param) for one container element. */
export interface CompositeRow { param: string; parts: Omit<AnyRow, 'param'>[][] }

export type AnyRow = StringRow | TokenRow | ReferenceRow | DateRow | NumberRow | QuantityRow | UriRow;

export interface IndexRows {
  string: StringRow[];
  token: TokenRow[];
  reference: ReferenceRow[];
  date: DateRow[];
  number: NumberRow[];
  quantity: QuantityRow[];
  uri: UriRow[];
  composite: CompositeRow[];
}

export type IndexTable = keyof IndexRows;

export const INDEX_TABLES: readonly IndexTable[] =
  ['string', 'token', 'reference', 'date', 'number', 'quantity', 'uri', 'composite'];

export const emptyRows = (): IndexRows =>
  ({ string: [], token: [], reference: [], date: [], number: [], quantity: [], uri: [], composite: [] });
