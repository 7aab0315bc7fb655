/**
 * Scope enforcement on the resource server (smart-app-launch.md §8–§9): which interactions a token allows, and
 * the narrowing it implies — the launch patient's compartment for patient/ scopes and the search constraints of
 * query-restricted v2 scopes — as search conditions, so that search, _include, reads and writes share one rule.
 */
import type { Queryable } from '../db/db.js';
import { type Sql, sql } from '../db/sql.js';
import { insufficientScope } from '../errors.js';
import type { Definitions } from '../fhir/definitions.js';
import { PageTokens } from '../fhir/page-token.js';
import type { Params } from '../fhir/types.js';
import type { CompartmentCondition, Condition } from '../search/ast.js';
import { inPatientCompartment, patientCompartmentCondition } from '../search/compartment.js';
import type { AccessRule, CompileContext } from '../search/compile/index.js';
import { parseSearch } from '../search/parse.js';
import type { SearchRegistry } from '../search/registry.js';
import { idsMatching } from '../storage/find.js';
import { type Versioned, readCurrent, readCurrentIf, readIfStatement } from '../storage/resources.js';
import type { ConsentView } from './consent.js';
import { relatedTest } from './relationships.js';
import type { Change, WriteGuard } from '../storage/write.js';
import { type Perm, type ScopeRule, rulesFor } from './scopes.js';

/** Who is asking, from a verified access token. */
export interface Principal {
  clientId: string;
  /** The token's sub: the user id, or the client id for backend services. */
  subject: string;
  scope: string;
  rules: ScopeRule[];
  /** Launch patient (patient/ scopes are confined to its compartment). */
  patient?: string;
  encounter?: string;
  /** 'Practitioner/1', 'Patient/2' … */
  fhirUser?: string;
  grantId: string;
  /** The token's jti (audited as the OAuth agent's policy, never the token itself). */
  jti?: string;
  /**
   * The user's roles (names), when the user is managed by roles: rules is then the intersection of the token's
   * scopes and the roles' ceilings (roles.ts).
   */
  roles?: string[];
  /**
   * For rules with a relationship rule: the related patients' ids, by the rule's kinds joined with ',' (read once per
   * request, relationships.ts). A kind set missing here relates the user to nobody.
   */
  related?: ReadonlyMap<string, readonly string[]>;
  /** The patients of the user's open break-the-glass sessions (they widen only rules marked glass). */
  glass?: readonly string[];
  /** The purposes of use of the user's roles (v3 ActReason), which Consent provisions may name. */
  purposes?: readonly string[];
  /** The token may remove data for good ($erase, $expunge): its erase scope, and for a user a role listing it. */
  erase?: true;
}

const NO_TOKENS = new PageTokens('unused');

/** What an Access works out once: narrowings by type and perm, compartment conditions, narrowed reads' statements. */
interface Memo {
  narrowings: Map<string, Condition | null | false>;
  compartments: Map<string, CompartmentCondition>;
  statements: Map<string, Sql>;
}

const newMemo = (): Memo => ({ narrowings: new Map(), compartments: new Map(), statements: new Map() });

/**
 * Memos kept across requests: working out a relationship narrowing, compiling it and naming the statement by its text
 * cost more CPU than running it. They depend only on the tenant's search registry, the token's rules and whom it acts
 * as (schema, base, launch patient, fhirUser, open break-the-glass patients), which key them. A request with a
 * Consent view or with related patients read before its writes works out its own.
 */
const memos = new WeakMap<SearchRegistry, WeakMap<readonly ScopeRule[], Map<string, Memo>>>();
const MEMOS_MAX = 2_000;

function memoFor(registry: SearchRegistry, principal: Principal, schema: string, base: string, consent?: ConsentView): Memo {
  if (consent || principal.related) return newMemo();
  let byRules = memos.get(registry);
  if (!byRules) memos.set(registry, byRules = new WeakMap());
  let byKey = byRules.get(principal.rules);
  if (!byKey) byRules.set(principal.rules, byKey = new Map());
  const key = JSON.stringify([schema, base, principal.patient, principal.fhirUser, principal.glass]);
  let memo = byKey.get(key);
  if (!memo) {
    if (byKey.size >= MEMOS_MAX) byKey.delete(byKey.keys().next().value!);
    byKey.set(key, memo = newMemo());
  }
  return memo;
}

/** The SMART name of a permission check, for WWW-Authenticate scope="…". */
const needed = (type: string, perm: Perm) => `user/${type}.${perm} or system/${type}.${perm}`;

/** What evaluating a scope's query restriction needs. */
export interface ScopeQueryContext { registry: SearchRegistry; defs: Definitions; base: string }

/** A v2 scope's query restriction on type as search conditions; throws when this server cannot evaluate it. */
function scopeQuery(cx: ScopeQueryContext, type: string, query: Params): Condition[] {
  return parseSearch(cx, query, { types: [type], strict: true, defaultCount: 1, maxCount: 1, pageTokens: NO_TOKENS }).conditions;
}

/** Why a scope's query restriction cannot be evaluated on type, or undefined when it can (roles are checked so). */
export function queryProblem(cx: ScopeQueryContext, type: string, query: Params): string | undefined {
  try {
    scopeQuery(cx, type, query);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

export class Access {
  private readonly memo: Memo;

  /**
   * The search narrowing as the query compiler's access rule: every resource row a search reaches — matches, chain
   * hops, _has sources, includes, _list, terminology — is narrowed as a direct search on its type would be.
   */
  readonly searchRule: AccessRule = { condition: (type) => this.narrowing(type, 's') };

  /** consent: what the tenant's privacy Consents make of this request (consent-cache.ts); absent when nothing. */
  constructor(readonly principal: Principal, private readonly schema: string, private readonly registry: SearchRegistry,
    private readonly defs: Definitions, private readonly base: string, readonly consent?: ConsentView) {
    this.memo = memoFor(registry, principal, schema, base, consent);
  }

  /** The patient whose compartment user/ scopes are confined to: a patient user sees only their own record. */
  private get ownPatient(): string | undefined {
    const m = /^Patient\/(.+)$/.exec(this.principal.fhirUser ?? '');
    return m?.[1];
  }

  /** The patient a patient-bound token acts for. */
  get boundPatient(): string | undefined {
    return this.principal.patient ?? this.ownPatient;
  }

  /** True when the token acts for one patient (a launch patient or a patient user): unseen data is then 404. */
  get patientBound(): boolean {
    return this.principal.patient !== undefined || this.ownPatient !== undefined;
  }

  /**
   * True when a resource of type that perm does not reach is answered as if it did not exist (404): for a
   * patient-bound token, and where a role's relationship rule confines the type to related patients.
   */
  hidesUnseen(type: string, perm: Perm): boolean {
    return this.patientBound || (inPatientCompartment(type) && rulesFor(this.principal.rules, type, perm).some((r) => r.related))
      || (this.consent?.narrowing(type, perm) ?? null) !== null;
  }

  allows(type: string, perm: Perm): boolean {
    return this.narrowing(type, perm) !== false;
  }

  /** 403 insufficient_scope unless some granted scope allows perm on type — checked before any data is read. */
  require(type: string, perm: Perm): void {
    if (!this.allows(type, perm)) throw insufficientScope(needed(type, perm));
  }

  /** True when one scope allows perm on every type without any narrowing (e.g. system/*.rs). */
  unrestrictedEverywhere(perm: Perm): boolean {
    return (this.consent?.inert ?? true) && this.principal.rules.some((r) => r.type === '*' && r.perms.has(perm) && !r.query
      && !r.related && (r.level === 'system' || (r.level === 'user' && this.ownPatient === undefined)));
  }

  /** True when some scope on '*' or any type allows perm (system-level search and history). */
  allowsAnyType(perm: Perm): boolean {
    return this.principal.rules.some((r) => r.perms.has(perm));
  }

  private queryConditions(rule: ScopeRule, type: string): Condition[] | undefined {
    if (!rule.query) return [];
    try {
      return scopeQuery({ registry: this.registry, defs: this.defs, base: this.base }, type, rule.query);
    } catch {
      return undefined; // a constraint this server cannot evaluate grants nothing (§8.7)
    }
  }

  /** One condition object per patient and kind, so that the compiler can share it across the types it covers. */
  private compartment(patient: string, exclusive: boolean): CompartmentCondition {
    const key = `${exclusive}/${patient}`;
    let c = this.memo.compartments.get(key);
    if (!c) {
      c = { ...patientCompartmentCondition(patient), ...(exclusive ? { exclusive } : {}) };
      this.memo.compartments.set(key, c);
    }
    return c;
  }

  /**
   * The patients of a relationship rule, as one compartment condition per kind set and kind of membership: reads and
   * searches need a reference to one of them, writes besides refuse a reference to any other patient.
   */
  private relatedCompartment(kinds: readonly string[], exclusive: boolean, glass: boolean): CompartmentCondition {
    const key = `related/${exclusive}/${glass}/${kinds.join(',')}`;
    let c = this.memo.compartments.get(key);
    if (!c) {
      // Read once before the request's writes (bearer.ts) when the request may write; else evaluated in each statement.
      // Without the list a write reaches nobody. Open break-the-glass patients join the set of a glass rule.
      const broken = glass ? this.principal.glass ?? [] : [];
      const listed = this.principal.related?.get(kinds.join(','));
      const inline = listed || exclusive ? undefined : relatedTest(this.schema, this.principal.fhirUser, kinds);
      const ids = inline ? (broken.length > 0 ? (column: Sql) => sql`(${inline(column)} OR ${column} = ANY(${broken}))` : inline)
        : [...listed ?? [], ...broken];
      c = { ...patientCompartmentCondition(''), ids, ...(exclusive ? { exclusive } : {}) };
      this.memo.compartments.set(key, c);
    }
    return c;
  }

  /** One rule's alternative for (type, perm): conditions to AND, [] for everything, undefined for nothing. */
  private alternative(rule: ScopeRule, type: string, perm: Perm): Condition[] | undefined {
    const scoped = this.scopedAlternative(rule, type, perm);
    // A relationship rule confines what lies in the Patient compartment to the related patients' compartments; what
    // lies outside (Practitioner, Medication, Slot …) holds no one's record and is left to the scopes.
    if (!scoped || !rule.related || !inPatientCompartment(type)) return scoped;
    return [this.relatedCompartment(rule.related, perm !== 'r' && perm !== 's', rule.glass === true), ...scoped];
  }

  private scopedAlternative(rule: ScopeRule, type: string, perm: Perm): Condition[] | undefined {
    const query = this.queryConditions(rule, type);
    if (!query) return undefined;
    const patient = rule.level === 'patient' ? this.principal.patient : rule.level === 'user' ? this.ownPatient : undefined;
    if (rule.level === 'patient' && !patient) return undefined;
    if (!patient) return query;
    const compartment = this.compartment(patient, false);
    // A patient-scoped write leaves every compartment reference pointing at the patient (ARCHITECTURE.md §7).
    if (inPatientCompartment(type)) return [perm === 'r' || perm === 's' ? compartment : this.compartment(patient, true), ...query];
    // Outside the compartment (Medication, Organization …): search allowed, read only what the patient's data
    // references, never written (§9.6).
    if (perm === 's') return query;
    if (perm === 'r') return [{ kind: 'referenced-from', compartment }, ...query];
    return undefined;
  }

  /**
   * What perm on type is narrowed to: null = everything of the type, a condition = only matching resources,
   * false = nothing (no scope allows it).
   */
  narrowing(type: string, perm: Perm, consent = true): Condition | null | false {
    const key = `${type}.${perm}.${consent}`;
    const hit = this.memo.narrowings.get(key);
    if (hit !== undefined) return hit;
    const alternatives: Condition[][] = [];
    for (const rule of rulesFor(this.principal.rules, type, perm)) {
      const alt = this.alternative(rule, type, perm);
      if (alt) alternatives.push(alt);
    }
    const scoped: Condition | null | false = alternatives.length === 0 ? false
      : alternatives.some((a) => a.length === 0) ? null
        : alternatives.length === 1 && alternatives[0]!.length === 1 ? alternatives[0]![0]!
          : { kind: 'any', alternatives };
    // The patients' Consents narrow whatever the scopes allow (never widen it).
    const consented = scoped === false || !consent ? null : this.consent?.narrowing(type, perm) ?? null;
    const result: Condition | null | false = consented === null || scoped === false ? scoped
      : scoped === null ? consented : { kind: 'any', alternatives: [[scoped, consented]] };
    this.memo.narrowings.set(key, result);
    return result;
  }

  /** narrowing, with false turned into a 403. */
  required(type: string, perm: Perm): Condition | null {
    const n = this.narrowing(type, perm);
    if (n === false) throw insufficientScope(needed(type, perm));
    return n;
  }

  /**
   * A search over types needs a search scope: types named explicitly must all be allowed (403 otherwise); a search
   * of every type quietly skips the ones no scope allows, and needs at least one.
   */
  checkSearch(types: string[], explicit: boolean): void {
    let allowed = 0;
    for (const type of types) if ((explicit ? this.required(type, 's') : this.narrowing(type, 's')) !== false) allowed++;
    if (allowed === 0) throw insufficientScope(`a search scope (e.g. user/*.s)`);
  }

  /** Chains and _has look into other types: each must be searchable under the token (§9.9). */
  checkReachable(conditions: Condition[]): void {
    for (const c of conditions) {
      if (c.kind === 'chain') {
        for (const t of c.targets) this.required(t, 's');
        this.checkReachable([c.next]);
      } else if (c.kind === 'has') {
        this.required(c.source, 's');
        this.checkReachable([c.next]);
      }
    }
  }

  private cx(): CompileContext {
    return { schema: this.schema, registry: this.registry, defs: this.defs };
  }

  /** The live resources among keys that perm allows (one query per narrowed type). */
  async filterVisible<T extends { type: string; id: string }>(db: Queryable, rows: T[], perm: Perm): Promise<T[]> {
    const keep = new Set<string>();
    const byType = new Map<string, string[]>();
    for (const r of rows) {
      const n = this.narrowing(r.type, perm);
      if (n === null) keep.add(`${r.type}/${r.id}`);
      else if (n !== false) byType.set(r.type, [...byType.get(r.type) ?? [], r.id]);
    }
    for (const [type, ids] of byType) {
      const cond = this.narrowing(type, perm) as Condition;
      for (const id of await idsMatching(db, this.cx(), type, ids, cond)) keep.add(`${type}/${id}`);
    }
    return rows.filter((r) => keep.has(`${r.type}/${r.id}`));
  }

  /** The current version of type/id (if any) and whether read allows it, in one statement (403 if no scope reads type). */
  async readCurrent(db: Queryable, type: string, id: string): Promise<{ v?: Versioned; visible: boolean }> {
    const n = this.required(type, 'r');
    if (n === null) {
      const v = await readCurrent(db, this.schema, type, id);
      return { ...(v ? { v } : {}), visible: v !== undefined && !v.deleted };
    }
    return readCurrentIf(db, this.cx(), type, id, n, this.readStatement(type, n));
  }

  /** readIfStatement for type under its narrowing n, worked out once per memo. */
  private readStatement(type: string, n: Condition): Sql {
    let statement = this.memo.statements.get(type);
    if (!statement) this.memo.statements.set(type, statement = readIfStatement(this.cx(), type, n));
    return statement;
  }

  /**
   * True when type/id is live and perm allows it (403 first if no scope allows perm on type at all); consent false
   * leaves the patients' Consents out (they bind what is there to be read or changed, not what is written).
   */
  async visible(db: Queryable, type: string, id: string, perm: Perm, consent = true): Promise<boolean> {
    this.required(type, perm);
    const n = this.narrowing(type, perm, consent);
    if (n === null) return true;
    if (n === false) return false;
    return (await idsMatching(db, this.cx(), type, [id], n)).length === 1;
  }

  /**
   * Checks for a write under perm: the version replaced (if live) and the version written must both be allowed,
   * in the write's transaction (a refused write rolls back). undefined when perm on type is not narrowed.
   */
  writeGuard(type: string, perm: Perm): WriteGuard | undefined {
    const n = this.required(type, perm);
    if (n === null) return undefined;
    const refuse = () => insufficientScope(`${type}.${perm} within the granted compartment or constraint`);
    return {
      before: async (tx: Queryable, id: string) => {
        if (!(await this.visible(tx, type, id, perm))) throw refuse();
      },
      after: async (tx: Queryable, change: Change) => {
        if (change.resource && !(await this.visible(tx, type, change.id, perm, false))) throw refuse();
      },
    };
  }
}
