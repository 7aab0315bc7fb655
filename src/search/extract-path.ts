/** Direct-accessor fast path for simple SearchParameter FHIRPath expressions — http://hl7.org/fhir/R4/search.html#combining */
import r4 from 'fhirpath/fhir-context/r4';

/** One selected element: its JSON value, its FHIR type and the model paths of it and of its parent. */
export interface Found {
  value: unknown;
  /** FHIR type code as fhirpath's R4 model names it ('HumanName', 'dateTime', 'System.String', 'Patient' …). */
  type?: string;
  /** Model path that children of this element are looked up under ('Observation.component', 'HumanName'). */
  path?: string;
  /** Model path of the parent element: 'HumanName' for Patient.name.family. */
  parent?: string;
}

/** Selects elements from a resource (or from a part of it, for composite components). */
export type Evaluator = (focus: unknown, resource: Record<string, unknown>) => Found[];

/** A step of an expression the fast path understands. */
export type Step =
  | { kind: 'child'; name: string }
  | { kind: 'ofType'; type: string }
  | { kind: 'resolveIs'; type: string }
  | { kind: 'whereEq'; field: string; literal: string };

type Visit = (value: unknown, type: string | undefined, out: Found[]) => void;
type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** FHIR primitives that fhirpath converts to System types in ofType()/as() (its fhir2SystemAutomaticConversion). */
const SYSTEM_OF: Record<string, string> = {
  boolean: 'Boolean', string: 'String', uri: 'String', code: 'String', oid: 'String', id: 'String', uuid: 'String',
  markdown: 'String', base64Binary: 'String', integer: 'Integer', unsignedInt: 'Integer', positiveInt: 'Integer',
  integer64: 'Long', decimal: 'Decimal', date: 'DateTime', dateTime: 'DateTime', instant: 'DateTime', time: 'Time',
  Quantity: 'Quantity',
};

/** `type` is `wanted`, a subtype of it, or converts to it — fhirpath's ofType() rule. */
export function typeMatches(type: string | undefined, wanted: string): boolean {
  if (!type) return false;
  if (SYSTEM_OF[type] === wanted || type === `System.${wanted}`) return true;
  for (let t: string | undefined = type; t; t = r4.type2Parent[t]) if (t === wanted) return true;
  return false;
}

/** The type named by a resolvable literal reference: `Type/id`, `Type/id/_history/v` or an absolute URL ending so. */
const LITERAL = /(?:^|\/)([A-Z][A-Za-z]+)\/[A-Za-z0-9\-.]{1,64}(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

/**
 * The synchronous stand-in for resolve(): the target type a Reference (or canonical/uri string) names, without
 * fetching anything — from its literal, or from Reference.type when it has none (an identifier-only reference).
 * Contained (`#id`) references and anything else resolve to nothing.
 */
export function referencedType(value: unknown): string | undefined {
  const literal = isObject(value) ? value.reference : value;
  if (typeof literal === 'string') return literal.startsWith('#') ? undefined : LITERAL.exec(literal)?.[1];
  return isObject(value) && typeof value.type === 'string' && /^[A-Z][A-Za-z]+$/.test(value.type) ? value.type : undefined;
}

const STEP_CHILD = /^[A-Za-z][A-Za-z0-9]*$/;
const STEP_OF_TYPE = /^(?:as|ofType)\(([A-Za-z]+)\)$/;
const STEP_RESOLVE = /^where\(resolve\(\) is ([A-Za-z]+)\)$/;
const STEP_EQ = /^where\(([A-Za-z]+)\s*=\s*'([^'\\]*)'\)$/;
const CAST = /^\((.+) as ([A-Za-z]+)\)((?:\..+)?)$/s;

function parseStep(text: string): Step | undefined {
  let m: RegExpExecArray | null;
  if (STEP_CHILD.test(text)) return { kind: 'child', name: text };
  if ((m = STEP_OF_TYPE.exec(text))) return { kind: 'ofType', type: m[1]! };
  if ((m = STEP_RESOLVE.exec(text))) return { kind: 'resolveIs', type: m[1]! };
  if ((m = STEP_EQ.exec(text))) return { kind: 'whereEq', field: m[1]!, literal: m[2]! };
  return undefined;
}

/** Splits on `sep` outside parentheses and quotes. */
export function splitTopLevel(text: string, sep: string): string[] {
  const parts: string[] = [];
  let depth = 0, quoted = false, start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "'" && text[i - 1] !== '\\') quoted = !quoted;
    else if (!quoted && c === '(') depth++;
    else if (!quoted && c === ')') depth--;
    else if (!quoted && depth === 0 && c === sep) { parts.push(text.slice(start, i)); start = i + 1; }
  }
  parts.push(text.slice(start));
  return parts.map((p) => p.trim());
}

/** `Type.a.b`, `(Type.a as X)`, `Type.a.as(X)`, `….where(resolve() is X)`, `….where(f='v')` → steps; else undefined. */
export function parseSteps(expression: string): Step[] | undefined {
  const cast = CAST.exec(expression.trim());
  if (cast) {
    const inner = parseSteps(cast[1]!);
    const rest = cast[3] ? parseSteps(cast[3].slice(1)) : [];
    return inner && rest ? [...inner, { kind: 'ofType', type: cast[2]! }, ...rest] : undefined;
  }
  const steps = splitTopLevel(expression, '.').map(parseStep);
  return steps.every((s) => s !== undefined) ? steps as Step[] : undefined;
}

/** How a child element is stored: one JSON key, or the keys of a choice element (`value[x]`) with their types. */
function childKeys(base: string, name: string): { key: string; path: string; type?: string }[] {
  let path = `${base}.${name}`;
  path = r4.pathsDefinedElsewhere[path] ?? path;
  const suffixes = r4.choiceTypePaths[path];
  const describe = (key: string, full: string) => ({ key, type: r4.path2Type[full], path: r4.path2TypeWithoutElements[full] ?? full });
  if (suffixes) return suffixes.map((s) => describe(name + s, path + s));
  return [describe(name, name === 'extension' ? 'Extension' : path)];
}

function visitEach(child: unknown, type: string | undefined, next: Visit, out: Found[]): void {
  if (child === undefined || child === null) return;
  if (!Array.isArray(child)) { next(child, type, out); return; }
  for (const item of child) if (item !== null && item !== undefined) next(item, type, out);
}

function compileChild(name: string, base: string, compileRest: (path: string) => Visit): Visit {
  const keys = childKeys(base, name).map((k) => ({ ...k, next: compileRest(k.path) }));
  if (keys.length === 1) {
    const { key, type, next } = keys[0]!;
    return (value, _t, out) => { if (isObject(value)) visitEach(value[key], type, next, out); };
  }
  return (value, _t, out) => {
    if (!isObject(value)) return;
    // Like fhirpath, the first choice type present wins.
    const hit = keys.find((k) => value[k.key] !== undefined || value[`_${k.key}`] !== undefined);
    if (hit) visitEach(value[hit.key], hit.type, hit.next, out);
  };
}

function compileFrom(steps: Step[], i: number, base: string, parent: string | undefined): Visit {
  const step = steps[i];
  if (!step) return (value, type, out) => { out.push({ value, type, path: base, ...(parent ? { parent } : {}) }); };
  if (step.kind === 'child') return compileChild(step.name, base, (path) => compileFrom(steps, i + 1, path, base));
  const next = compileFrom(steps, i + 1, base, parent);
  switch (step.kind) {
    case 'ofType': return (value, type, out) => { if (typeMatches(type, step.type)) next(value, type, out); };
    case 'resolveIs': return (value, type, out) => { if (referencedType(value) === step.type) next(value, type, out); };
    case 'whereEq':
      return (value, type, out) => { if (isObject(value) && value[step.field] === step.literal) next(value, type, out); };
  }
}

/**
 * Compiles steps into a direct accessor. With `root`, the first step names the resource type (or Resource /
 * DomainResource); without, steps start at `base` (a composite component relative to its container).
 */
export function compileSteps(steps: Step[], base: string, root: boolean): Evaluator {
  const visit = compileFrom(root ? steps.slice(1) : steps, 0, base, undefined);
  return (focus) => {
    const out: Found[] = [];
    const type = root && isObject(focus) ? String(focus.resourceType) : undefined;
    visit(focus, type, out);
    return out;
  };
}
