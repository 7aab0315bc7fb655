/** The parsed form of a FHIR search (the AST that compile/ turns into SQL) — http://hl7.org/fhir/R4/search.html */
import type { Sql } from '../db/sql.js';
import type { SearchParameterDef } from '../fhir/definitions.js';
import type { SummaryMode } from '../fhir/subset.js';
import type { PageKey } from '../fhir/page-token.js';
import type { Params } from '../fhir/types.js';

export type ParamType = SearchParameterDef['type'];

/** search.html#prefix */
export type Prefix = 'eq' | 'ne' | 'gt' | 'lt' | 'ge' | 'le' | 'sa' | 'eb' | 'ap';

export interface StringValue { kind: 'string'; text: string }

/** system undefined = any system; null = no system (`|code`); code undefined = any code (`system|`). */
export interface TokenValue {
  kind: 'token';
  system?: string | null;
  code?: string;
  /** :of-type — Identifier.type coding. */
  typeSystem?: string;
  typeCode?: string;
}

/** A local reference (type and/or id) or an absolute/canonical url (with an optional |version). */
export interface ReferenceValue { kind: 'reference'; type?: string; id?: string; url?: string; version?: string }

/** The search value's range [lo, hi) by its precision (search.html#date). */
export interface DateValue { kind: 'date'; prefix: Prefix; lo: Date; hi: Date }

/** value and half-width of its implicit precision range, both as decimal strings (bound as numeric). */
export interface NumberValue { kind: 'number'; prefix: Prefix; value: string; half: string }

/** system null with a code = `n||code`: code or unit text, any system. */
export interface QuantityValue extends Omit<NumberValue, 'kind'> { kind: 'quantity'; system?: string | null; code?: string }

export interface UriValue { kind: 'uri'; uri: string; version?: string }

/** One value per component, in the parameter's component order. */
export interface CompositeValue { kind: 'composite'; parts: Value[] }

export type Value = StringValue | TokenValue | ReferenceValue | DateValue | NumberValue | QuantityValue | UriValue
  | CompositeValue;

/** `code[:modifier]=v1,v2`: the values are ORed. */
export interface ValueCondition { kind: 'value'; code: string; type: ParamType; modifier?: string; values: Value[] }

export interface MissingCondition { kind: 'missing'; code: string; type: ParamType; missing: boolean }

/** `code[:Type].next` — the resources referenced through `code` (restricted to targets) satisfy next. */
export interface ChainCondition { kind: 'chain'; code: string; targets: string[]; next: Condition }

/** `_has:source:code:next` — some `source` resource referring to this one through `code` satisfies next. */
export interface HasCondition { kind: 'has'; source: string; code: string; next: Condition }

/**
 * Membership in a resource compartment (search.html#compartments): referenced by `Type/id` through any of params.
 * exclusive (patient-scoped writes): besides, no compartment parameter refers to another resource of the
 * compartment's type. ids (a role's relationship rule): membership in any of these compartments, id unused — a list,
 * a statement selecting them, or a test of one id; exclusive then refuses a reference to a resource of the
 * compartment's type outside them.
 */
export interface CompartmentCondition {
  kind: 'compartment'; compartment: string; id: string; params: ReadonlyMap<string, string[]>; exclusive?: boolean;
  ids?: readonly string[] | Sql | ((column: Sql) => Sql);
}

/** `_list=[id]`: referenced from List/[id].entry.item (search.html#list). */
export interface ListCondition { kind: 'list'; id: string }

/** Some alternative holds (each alternative's conditions ANDed; none → false): SMART scope narrowing. */
export interface AnyCondition { kind: 'any'; alternatives: Condition[][] }

/** The condition does not hold (a Consent's refusal, auth/consent.ts). */
export interface NotCondition { kind: 'not'; condition: Condition }

/** The condition for the row's own type (null → no restriction); types not in the map never match. */
export interface ByTypeCondition { kind: 'by-type'; byType: ReadonlyMap<string, Condition | null> }

/** Referenced by a live member of a compartment (patient-scope reads of Medication, Organization, …). */
export interface ReferencedFromCondition { kind: 'referenced-from'; compartment: CompartmentCondition }

export type Condition = ValueCondition | MissingCondition | ChainCondition | HasCondition | CompartmentCondition
  | ListCondition | AnyCondition | ByTypeCondition | ReferencedFromCondition | NotCondition;

export interface SortKey { code: string; descending: boolean }

/** `_include` / `_revinclude` = Source:param[:Target] (param may be '*'). */
export interface IncludeSpec { source: string; param: string; target?: string; iterate: boolean }

export type TotalMode = 'none' | 'estimate' | 'accurate';

export interface SearchQuery {
  /** Resource types searched (one for type search; the _type list or every type for system search). */
  types: string[];
  /** ANDed. */
  conditions: Condition[];
  sort: SortKey[];
  count: number;
  total: TotalMode;
  summary?: SummaryMode;
  elements?: string[];
  include: IncludeSpec[];
  revinclude: IncludeSpec[];
  page?: PageKey;
  /** The `_page` token as received (for link[self] of a later page). */
  pageToken?: string;
  /** The parameters applied, normalised, for link[self] and the page links (search.html#return). */
  applied: Params;
  /** Parameters ignored under lenient handling (reported in an outcome entry). */
  ignored: string[];
}
