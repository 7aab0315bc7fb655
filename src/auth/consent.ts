/**
 * Consent enforcement (issue #16 §3; README "Access model"). An active Consent with scope `patient-privacy` decides,
 * for its patient's record, what a request may reach. Its provisions are rules: a nested provision is an exception
 * inside its parent and applies only where every ancestor's conditions hold too. The root provision takes its type
 * from `provision.type`, else from `policyRule` (OPTIN → permit, OPTOUT → deny); without either it only scopes its
 * children. For one resource the deepest matching rule decides, and at equal depth deny wins; where no rule
 * matches, the tenant's default does (opt-out: permitted; opt-in: refused unless a Consent permits). Across several
 * Consents of one patient, any deny wins.
 *
 * Conditions are split by when they can be known. Who asks and why — actor, purpose, period, action — are decided
 * here per request; what is asked for — class (resource type), securityLabel, data — becomes search conditions that
 * the query compiler applies to every row it reaches (search, includes, chains, _has, reads, history, writes,
 * $everything, bulk export), so a refused resource is never fetched. A Consent this server cannot evaluate is refused
 * when it is written (422 naming the part), so every stored one is evaluable.
 */
import { unprocessable } from '../errors.js';
import { parseDateRange } from '../fhir/datetime.js';
import type { Resource } from '../fhir/types.js';
import type { CompartmentCondition, Condition } from '../search/ast.js';
import { inPatientCompartment, patientCompartmentCondition } from '../search/compartment.js';
import type { Perm } from './scopes.js';

/** The identifier system naming an OAuth client (an app as a Consent actor; AuditEvent agents use it too). */
export const CLIENT_ID_SYSTEM = 'http://hearth.dev/fhir/sid/client-id';
const RESOURCE_TYPES = 'http://hl7.org/fhir/resource-types';
const CONSENT_SCOPE = 'http://terminology.hl7.org/CodeSystem/consentscope';
const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
const CONSENT_ACTION = 'http://terminology.hl7.org/CodeSystem/consentaction';
/** Purposes of use (v3 ActReason) a role may act under and a provision may name. */
export const PURPOSE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ActReason';

export type Effect = 'permit' | 'deny';
export type ConsentDefault = 'opt-in' | 'opt-out';

/** A data reference of a provision: the resource itself (instance) or, besides, what it refers to (related). */
interface DataRef { type: string; id: string; related: boolean }
interface Label { system: string; code: string }

/** One level of a rule's conditions (a provision); every list is ORed, an absent list matches anything. */
interface Level {
  actors?: string[];
  purposes?: string[];
  start?: number;
  end?: number;
  /** Which interactions the provision governs: reading (access, use, disclose) and/or changing (correct). */
  reads?: boolean;
  writes?: boolean;
  classes?: string[];
  labels?: Label[];
  data?: DataRef[];
}

/** A provision with its type, flattened: its own level last, its ancestors' before it. */
export interface ConsentRule { effect: Effect; depth: number; levels: Level[] }

/** A stored, evaluable privacy Consent. */
export interface ConsentPolicy { id: string; patient: string; rules: ConsentRule[] }

/** Who asks and why, as Consent actors and purposes name them. */
export interface ConsentAsker {
  /** 'Practitioner/1', 'Organization/2', 'CareTeam/3' …, and `client:<client_id>` for the app. */
  refs: ReadonlySet<string>;
  purposes: ReadonlySet<string>;
  /** Patients whose own Consents do not bind this request: the patient acting on their own record, break-the-glass. */
  exempt: ReadonlySet<string>;
  now: number;
}

type Json = Record<string, unknown>;
const obj = (v: unknown): Json | undefined => (v && typeof v === 'object' && !Array.isArray(v) ? v as Json : undefined);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const codings = (cc: unknown): Json[] => arr(obj(cc)?.coding).flatMap((c): Json[] => { const o = obj(c); return o ? [o] : []; });
const hasCoding = (cc: unknown, system: string, code: string) => codings(cc).some((c) => c.system === system && c.code === code);

/** True for the Consents this module enforces: active, scope patient-privacy. */
export function isPrivacyConsent(r: Resource | undefined): boolean {
  return r?.resourceType === 'Consent' && r.status === 'active' && hasCoding(r.scope, CONSENT_SCOPE, 'patient-privacy');
}

const refuse = (path: string, message: string) => unprocessable(`${path}: ${message}`, [path]);

function localRef(ref: unknown, path: string): { type: string; id: string } {
  const m = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/.exec(typeof obj(ref)?.reference === 'string' ? obj(ref)!.reference as string : '');
  if (!m) throw refuse(path, 'must be a local reference Type/id');
  return { type: m[1]!, id: m[2]! };
}

function actorRef(actor: unknown, path: string): string {
  const reference = obj(obj(actor)?.reference);
  const identifier = obj(reference?.identifier);
  if (reference && reference.reference === undefined && identifier?.system === CLIENT_ID_SYSTEM && typeof identifier.value === 'string') {
    return `client:${identifier.value}`;
  }
  const { type, id } = localRef(reference, `${path}.reference`);
  if (!['Practitioner', 'PractitionerRole', 'Organization', 'CareTeam', 'Patient', 'RelatedPerson', 'Device'].includes(type)) {
    throw refuse(`${path}.reference`, `an actor of type ${type} cannot be evaluated`);
  }
  return `${type}/${id}`;
}

function level(p: Json, path: string, isType: (t: string) => boolean): Level {
  for (const unsupported of ['code', 'dataPeriod']) {
    if (p[unsupported] !== undefined) throw refuse(`${path}.${unsupported}`, 'this server cannot evaluate it; express the rule with class, securityLabel or data');
  }
  const out: Level = {};
  if (p.actor !== undefined) out.actors = arr(p.actor).map((a, i) => actorRef(a, `${path}.actor[${i}]`));
  if (p.purpose !== undefined) {
    out.purposes = arr(p.purpose).map((c, i) => {
      const coding = obj(c);
      if (coding?.system !== PURPOSE_SYSTEM || typeof coding.code !== 'string') throw refuse(`${path}.purpose[${i}]`, `must be a ${PURPOSE_SYSTEM} code`);
      return coding.code;
    });
  }
  const period = obj(p.period);
  if (period) {
    try {
      if (typeof period.start === 'string') out.start = parseDateRange(period.start, 'start').lo.getTime();
      if (typeof period.end === 'string') out.end = parseDateRange(period.end, 'end').hi.getTime();
    } catch {
      throw refuse(`${path}.period`, 'start and end must be FHIR dateTimes');
    }
  }
  if (p.action !== undefined) {
    const codes = arr(p.action).flatMap((a) => codings(a).filter((c) => c.system === CONSENT_ACTION).map((c) => c.code));
    out.reads = codes.some((c) => c === 'access' || c === 'use' || c === 'disclose');
    out.writes = codes.includes('correct');
    if (!out.reads && !out.writes) throw refuse(`${path}.action`, 'must name access, use, disclose or correct (consentaction)');
  }
  if (p.class !== undefined) {
    out.classes = arr(p.class).map((c, i) => {
      const coding = obj(c);
      if ((coding?.system !== RESOURCE_TYPES && coding?.system !== undefined) || typeof coding?.code !== 'string' || !isType(coding.code)) {
        throw refuse(`${path}.class[${i}]`, `must be a resource type (${RESOURCE_TYPES})`);
      }
      return coding.code;
    });
  }
  if (p.securityLabel !== undefined) {
    out.labels = arr(p.securityLabel).map((c, i) => {
      const coding = obj(c);
      if (typeof coding?.system !== 'string' || typeof coding.code !== 'string') throw refuse(`${path}.securityLabel[${i}]`, 'needs a system and a code');
      return { system: coding.system, code: coding.code };
    });
  }
  if (p.data !== undefined) {
    out.data = arr(p.data).map((d, i) => {
      const meaning = obj(d)?.meaning;
      if (meaning !== 'instance' && meaning !== 'related') {
        throw refuse(`${path}.data[${i}].meaning`, `'${String(meaning)}' cannot be evaluated; use instance or related`);
      }
      const { type, id } = localRef(obj(d)?.reference, `${path}.data[${i}].reference`);
      return { type, id, related: meaning === 'related' };
    });
  }
  return out;
}

/**
 * A privacy Consent as rules; 422 naming the part that cannot be evaluated. isType says which resource types exist.
 */
export function parseConsent(r: Resource, isType: (t: string) => boolean): ConsentPolicy {
  const patient = localRef(r.patient, 'Consent.patient');
  if (patient.type !== 'Patient') throw refuse('Consent.patient', 'must reference a Patient');
  const base = hasCoding(r.policyRule, ACT_CODE, 'OPTIN') ? 'permit' : hasCoding(r.policyRule, ACT_CODE, 'OPTOUT') ? 'deny' : undefined;
  const rules: ConsentRule[] = [];
  const walk = (p: Json, path: string, depth: number, above: Level[]) => {
    if (p.type !== undefined && p.type !== 'permit' && p.type !== 'deny') throw refuse(`${path}.type`, 'must be permit or deny');
    if (depth > 8) throw refuse(path, 'provisions nest at most 8 deep');
    const levels = [...above, level(p, path, isType)];
    const effect = (p.type as Effect | undefined) ?? (depth === 0 ? base : undefined);
    if (depth > 0 && !effect) throw refuse(`${path}.type`, 'a nested provision needs a type');
    if (effect) rules.push({ effect, depth, levels });
    arr(p.provision).forEach((c, i) => {
      const child = obj(c);
      if (!child) throw refuse(`${path}.provision[${i}]`, 'must be an object');
      walk(child, `${path}.provision[${i}]`, depth + 1, levels);
    });
  };
  walk(obj(r.provision) ?? {}, 'Consent.provision', 0, []);
  return { id: String(r.id), patient: patient.id, rules };
}

/** True when every level's request-side conditions hold for the asker and perm. */
function applies(rule: ConsentRule, asker: ConsentAsker, perm: Perm): boolean {
  const reading = perm === 'r' || perm === 's';
  return rule.levels.every((l) => (!l.actors || l.actors.some((a) => asker.refs.has(a)))
    && (!l.purposes || l.purposes.some((p) => asker.purposes.has(p)))
    && (l.start === undefined || asker.now >= l.start) && (l.end === undefined || asker.now < l.end)
    && (l.reads === undefined || (reading ? l.reads : l.writes === true)));
}

/**
 * The data-side conditions of a rule on type, ANDed (TRUE = []), or undefined when the rule cannot match type.
 */
function dataConditions(rule: ConsentRule, type: string): Condition[] | undefined {
  const out: Condition[] = [];
  for (const l of rule.levels) {
    if (l.classes && !l.classes.includes(type)) return undefined;
    if (l.labels) out.push({ kind: 'value', code: '_security', type: 'token', values: l.labels.map((x) => ({ kind: 'token', ...x })) });
    if (l.data) {
      const alternatives = l.data.flatMap((d): Condition[][] => {
        const self: Condition[][] = d.type === type ? [[{ kind: 'value', code: '_id', type: 'token', values: [{ kind: 'token', code: d.id }] }]] : [];
        // related: also what the referenced resource itself refers to.
        const referenced: Condition[][] = d.related
          ? [[{ kind: 'referenced-from', compartment: { kind: 'compartment', compartment: d.type, id: d.id, params: new Map() } }]] : [];
        return [...self, ...referenced];
      });
      if (alternatives.length === 0) return undefined;
      out.push(alternatives.length === 1 && alternatives[0]!.length === 1 ? alternatives[0]![0]! : { kind: 'any', alternatives });
    }
  }
  return out;
}

const anyOf = (alternatives: Condition[][]): Condition | null | false => {
  if (alternatives.length === 0) return false;
  if (alternatives.some((a) => a.length === 0)) return null;
  return alternatives.length === 1 && alternatives[0]!.length === 1 ? alternatives[0]![0]! : { kind: 'any', alternatives };
};
const and = (a: Condition | null, b: Condition): Condition[] => (a === null ? [b] : [a, b]);
const not = (c: Condition): Condition => ({ kind: 'not', condition: c });

/**
 * Where one Consent decides `effect` on type: some rule of that effect matches and no rule deciding otherwise matches
 * deeper (for deny) or as deep (for permit: deny wins a tie). null = everywhere, false = nowhere.
 */
function decides(rules: { rule: ConsentRule; data: Condition[] }[], effect: Effect): Condition | null | false {
  const alternatives: Condition[][] = [];
  for (const { rule, data } of rules) {
    if (rule.effect !== effect) continue;
    const overriding = rules.filter((o) => o.rule.effect !== effect && (effect === 'deny' ? o.rule.depth > rule.depth : o.rule.depth >= rule.depth));
    const over = anyOf(overriding.map((o) => o.data));
    if (over === null) continue; // always overridden
    alternatives.push(over === false ? data : [...data, not(over)]);
  }
  return anyOf(alternatives);
}

/** What the Consents make of one request: the narrowing per type and perm, and the Consents that took part. */
export class ConsentView {
  private readonly cache = new Map<string, Condition | null>();
  /** Consent id → the effects its rules had for this request (for the AuditEvent). */
  readonly decisions = new Map<string, Set<Effect>>();

  constructor(private readonly policies: readonly ConsentPolicy[], private readonly fallback: ConsentDefault,
    private readonly asker: ConsentAsker, private readonly patientsSql: CompartmentCondition['ids']) {}

  /** True when no Consent can narrow anything for this request. */
  get inert(): boolean {
    return this.fallback === 'opt-out' && this.policies.every((p) => this.asker.exempt.has(p.patient));
  }

  /**
   * The condition a resource of type must meet under perm, or null when the Consents leave it alone. Consents bind
   * reads, searches, updates and deletes of the Patient compartment's types; creating a record is not disclosure,
   * and Consents themselves stay visible to whoever the scopes let manage them (a patient's directives are never
   * hidden by themselves).
   */
  narrowing(type: string, perm: Perm): Condition | null {
    if (perm === 'c' || type === 'Consent' || !inPatientCompartment(type) || this.inert) return null;
    const key = `${type}.${perm}`;
    if (this.cache.has(key)) return this.cache.get(key)!;
    const denied: Condition[][] = [];
    const permitted: Condition[][] = [];
    const byPatient = new Map<string, ConsentPolicy[]>();
    for (const p of this.policies) if (!this.asker.exempt.has(p.patient)) byPatient.set(p.patient, [...byPatient.get(p.patient) ?? [], p]);
    for (const [patient, policies] of byPatient) {
      const member = patientCompartmentCondition(patient);
      for (const policy of policies) {
        const rules = policy.rules.filter((r) => applies(r, this.asker, perm)).flatMap((rule) => {
          const data = dataConditions(rule, type);
          return data ? [{ rule, data }] : [];
        });
        if (rules.length === 0) continue;
        this.decisions.set(policy.id, new Set([...this.decisions.get(policy.id) ?? [], ...rules.map((r) => r.rule.effect)]));
        const deny = decides(rules, 'deny');
        const permit = decides(rules, 'permit');
        if (deny !== false) denied.push(and(deny, member));
        if (permit !== false) permitted.push(and(permit, member));
      }
    }
    const parts: Condition[] = [];
    const refusal = anyOf(denied);
    if (refusal !== false) parts.push(refusal === null ? { kind: 'any', alternatives: [] } : not(refusal));
    if (this.fallback === 'opt-in') {
      // Patient data needs a permit: a resource in nobody's compartment is not patient data; exempt patients' is.
      const exempt = [...this.asker.exempt].map((p): Condition[] => [patientCompartmentCondition(p)]);
      const someone: CompartmentCondition = { ...patientCompartmentCondition(''), ids: this.patientsSql };
      const allowed = anyOf([[not(someone)], ...permitted, ...exempt]);
      if (allowed !== null) parts.push(allowed === false ? { kind: 'any', alternatives: [] } : allowed);
    }
    const result = parts.length === 0 ? null : parts.length === 1 ? parts[0]! : { kind: 'any' as const, alternatives: [parts] };
    this.cache.set(key, result);
    return result;
  }
}
