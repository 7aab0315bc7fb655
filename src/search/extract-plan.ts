/** SearchParameter expressions compiled once into per-resource-type extraction plans — http://hl7.org/fhir/R4/searchparameter.html */
import type { SearchParameterDef } from '../fhir/definitions.js';
import { compileFhirpath } from './extract-fhirpath.js';
import { type Evaluator, type Found, compileSteps, parseSteps, splitTopLevel } from './extract-path.js';
import type { SearchRegistry } from './registry.js';

export type ValueType = Exclude<SearchParameterDef['type'], 'composite' | 'special'>;

export interface Component {
  type: ValueType;
  /** Evaluates the component on a container element whose model path is `base`. */
  evaluatorFor(base: string): Evaluator;
}

export interface ParamPlan {
  def: SearchParameterDef;
  /** Expression members by the resource type they start from ('Resource' / 'DomainResource' apply to all). */
  byRoot: ReadonlyMap<string, Evaluator[]>;
  components?: Component[];
}

export interface Skipped { code: string; base: readonly string[]; reason: string }

export interface Plans {
  /** The parameters of a resource type with the expression members that apply to it. */
  forType(type: string): readonly { plan: ParamPlan; evaluators: Evaluator[] }[];
  skipped: readonly Skipped[];
}

export interface PlanOptions {
  /** Evaluate every member with fhirpath (no fast path): the reference the fast path is tested against. */
  fhirpathOnly?: boolean;
}

const ROOT = /^\(?\s*([A-Z][A-Za-z]*)\b/;
const GENERIC_ROOTS = ['Resource', 'DomainResource', '*'];

/** One union member: the fast path when its grammar allows, else fhirpath. */
function compileMember(member: string, options: PlanOptions): { root: string; evaluate: Evaluator } {
  const root = ROOT.exec(member)?.[1] ?? '*';
  const steps = options.fhirpathOnly ? undefined : parseSteps(member);
  const fast = steps && steps[0]?.kind === 'child' && steps[0].name === root;
  return { root, evaluate: fast ? compileSteps(steps, root, true) : compileFhirpath(member) };
}

/** Component expressions are relative to the container; compiled once per container model path. */
function compileComponent(expression: string, type: ValueType, options: PlanOptions): Component {
  const byBase = new Map<string, Evaluator>();
  const members = splitTopLevel(expression, '|');
  const compile = (base: string): Evaluator => {
    const evaluators = members.map((m) => {
      const steps = options.fhirpathOnly ? undefined : parseSteps(m);
      return steps ? compileSteps(steps, base, false) : compileFhirpath(m, base);
    });
    return (focus, resource) => evaluators.flatMap((e) => e(focus, resource));
  };
  return {
    type,
    evaluatorFor(base) {
      let e = byBase.get(base);
      if (!e) byBase.set(base, e = compile(base));
      return e;
    },
  };
}

function compileComponents(def: SearchParameterDef, byUrl: Map<string, SearchParameterDef>, options: PlanOptions) {
  const components: Component[] = [];
  for (const c of def.component ?? []) {
    const target = byUrl.get(c.definition);
    if (!target || target.type === 'composite' || target.type === 'special') return undefined;
    components.push(compileComponent(c.expression, target.type, options));
  }
  return components.length > 0 ? components : undefined;
}

function compileParam(def: SearchParameterDef, byUrl: Map<string, SearchParameterDef>, options: PlanOptions): ParamPlan | string {
  if (!def.expression) return 'no expression (full-text or named query)';
  if (def.type === 'special') return 'special parameter type';
  const byRoot = new Map<string, Evaluator[]>();
  for (const member of splitTopLevel(def.expression, '|')) {
    const { root, evaluate } = compileMember(member, options);
    byRoot.set(root, [...(byRoot.get(root) ?? []), evaluate]);
  }
  if (def.type !== 'composite') return { def, byRoot };
  const components = compileComponents(def, byUrl, options);
  return components ? { def, byRoot, components } : 'a component definition is missing or not a value type';
}

/** Compiled parameters by definition object, shared by every registry holding that definition (tenants' ones too). */
const compiled = new WeakMap<SearchParameterDef, ParamPlan | string>();

function planOf(def: SearchParameterDef, byUrl: Map<string, SearchParameterDef>, options: PlanOptions): ParamPlan | string {
  const hit = options.fhirpathOnly ? undefined : compiled.get(def);
  if (hit) return hit;
  let plan: ParamPlan | string;
  try {
    plan = compileParam(def, byUrl, options);
  } catch (e) {
    plan = `expression does not compile: ${(e as Error).message}`;
  }
  if (!options.fhirpathOnly) compiled.set(def, plan);
  return plan;
}

/** Compiles every parameter of the registry; a failing expression is skipped and reported, never fatal. */
export function compilePlans(registry: SearchRegistry, options: PlanOptions = {}): Plans {
  const all = registry.all();
  const byUrl = new Map(all.map((p) => [p.url, p]));
  const plans = new Map<SearchParameterDef, ParamPlan>();
  const skipped: Skipped[] = [];
  for (const def of all) {
    const plan = planOf(def, byUrl, options);
    if (typeof plan === 'string') skipped.push({ code: def.code, base: def.base, reason: plan });
    else plans.set(def, plan);
  }
  const byType = new Map<string, { plan: ParamPlan; evaluators: Evaluator[] }[]>();
  const forType = (type: string) => {
    const params = [...registry.forType(type).values()].flatMap((def) => {
      const plan = plans.get(def);
      const evaluators = [type, ...GENERIC_ROOTS].flatMap((r) => plan?.byRoot.get(r) ?? []);
      return plan && evaluators.length > 0 ? [{ plan, evaluators }] : [];
    });
    byType.set(type, params);
    return params;
  };
  return { forType: (type) => byType.get(type) ?? forType(type), skipped };
}

export type { Found };
