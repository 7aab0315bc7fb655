/** Parsing one filter parameter (name, modifier, chain, _has, values) into a Condition — search.html#modifiers, #chaining, #has */
import { badRequest } from '../errors.js';
import type { Definitions, SearchParameterDef } from '../fhir/definitions.js';
import type { Condition, ParamType, Value } from './ast.js';
import { isBareToken, selectsIdentifier } from './element-types.js';
import { checkEscapes, splitUnescaped } from './escape.js';
import type { SearchRegistry } from './registry.js';
import * as v from './parse-value.js';

export interface ParseContext {
  registry: SearchRegistry;
  defs: Definitions;
  /** The tenant's absolute base: references to it count as local. */
  base: string;
}

/** A parameter name the server does not know (lenient: ignored; strict: 400). */
export class UnknownParameter extends Error {
  constructor(readonly param: string) {
    super(`Unknown search parameter '${param}'`);
  }
}

/** Modifiers each parameter type supports; anything else is a 400 (fhir-search.md §1.4). */
const MODIFIERS: Record<ParamType, ReadonlySet<string>> = {
  string: new Set(['exact', 'contains', 'missing']),
  token: new Set(['not', 'text', 'of-type', 'missing', 'in', 'not-in', 'above', 'below']),
  reference: new Set(['identifier', 'missing']),
  date: new Set(['missing']),
  number: new Set(['missing']),
  quantity: new Set(['missing']),
  uri: new Set(['below', 'above', 'missing']),
  composite: new Set(),
  special: new Set(),
};

/** The definitions of `code` on every type; known on none → unknown, on only some → 400 (§5.6). */
function definitions(px: ParseContext, types: string[], code: string, name: string): SearchParameterDef[] {
  const defs = types.map((t) => px.registry.get(t, code));
  if (defs.every((d) => d === undefined)) throw new UnknownParameter(name);
  if (defs.some((d) => d === undefined)) {
    const which = types.length > 10 ? 'every resource type (name the types with _type)' : types.join(', ');
    throw badRequest(`Search parameter '${code}' is not defined for ${which}`, [name]);
  }
  const kinds = new Set(defs.map((d) => d!.type));
  if (kinds.size > 1) throw badRequest(`Search parameter '${code}' has different types across ${types.join(', ')}`, [name]);
  if (code === '_query' || defs[0]!.type === 'special') throw new UnknownParameter(name);
  return defs as SearchParameterDef[];
}

function checkModifier(px: ParseContext, def: SearchParameterDef, modifier: string | undefined, name: string) {
  if (modifier === undefined) return;
  if (!def.expression) throw badRequest(`'${def.code}' takes no modifiers`, [name]);
  if (MODIFIERS[def.type].has(modifier)) return;
  if (def.type === 'reference' && px.defs.isResourceType(modifier)) {
    if (def.target && def.target.length > 0 && !def.target.includes(modifier)) {
      throw badRequest(`'${name}': ${modifier} is not a target of '${def.code}'`, [name]);
    }
    return;
  }
  throw badRequest(`Modifier ':${modifier}' is not supported on the ${def.type} parameter '${def.code}'`, [name]);
}

function parseMissing(def: SearchParameterDef, value: string, name: string): Condition {
  if (def.type === 'composite') throw badRequest(`':missing' is not supported on composite '${def.code}'`, [name]);
  if (value !== 'true' && value !== 'false') throw badRequest(`'${name}' must be true or false`, [name]);
  return { kind: 'missing', code: def.code, type: def.type, missing: value === 'true' };
}

function parseComposite(px: ParseContext, def: SearchParameterDef, raw: string, name: string): Value {
  const parts = splitUnescaped(raw, '$');
  const components = def.component ?? [];
  if (parts.length !== components.length) {
    throw badRequest(`'${name}' needs ${components.length} components joined by '$'`, [name]);
  }
  return {
    kind: 'composite',
    parts: parts.map((p, i) => {
      const component = px.registry.all().find((d) => d.url === components[i]!.definition);
      if (!component || component.type === 'composite') throw badRequest(`'${name}' has an unusable component`, [name]);
      return parseOne(px, [component], component.type, undefined, p, name, []);
    }),
  };
}

function parseOne(px: ParseContext, defs: SearchParameterDef[], type: ParamType, modifier: string | undefined,
  raw: string, name: string, types: string[]): Value {
  switch (type) {
    case 'string': return v.parseStringValue(raw);
    case 'date': return v.parseDateValue(raw, name);
    case 'number': return v.parseNumberValue(raw, name);
    case 'quantity': return v.parseQuantityValue(raw, name);
    case 'uri': return v.parseUriValue(raw);
    case 'composite': return parseComposite(px, defs[0]!, raw, name);
    case 'reference':
      if (modifier === 'identifier') return v.parseTokenValue(raw, name, false);
      return v.parseReferenceValue(raw, name, px.base, modifier);
    default:
      if (modifier === 'text') return v.parseStringValue(raw);
      if (modifier === 'of-type') return v.parseOfTypeValue(raw, name);
      if (modifier === 'in' || modifier === 'not-in') return v.parseUriValue(raw);
      return v.parseTokenValue(raw, name, types.some((t, i) => isBareToken(px.defs, defs[i]!, t)));
  }
}

function parseValues(px: ParseContext, types: string[], defs: SearchParameterDef[], modifier: string | undefined,
  value: string, name: string): Condition | undefined {
  const def = defs[0]!;
  if (modifier === 'missing') return parseMissing(def, value, name);
  if (modifier === 'of-type' && !types.every((t, i) => selectsIdentifier(px.defs, defs[i]!, t))) {
    throw badRequest(`':of-type' applies only to Identifier parameters, not '${def.code}'`, [name]);
  }
  const raws = splitUnescaped(value, ',').filter((r) => r !== '');
  if (raws.length === 0) return undefined;
  if (def.type === 'composite' && raws.length > 1 && def.multipleOr === false) {
    throw badRequest(`'${def.code}' does not allow several values`, [name]);
  }
  const values = raws.map((r) => parseOne(px, defs, def.type, modifier, r, name, types));
  const typed = def.type === 'reference' && modifier !== undefined && modifier !== 'identifier';
  return { kind: 'value', code: def.code, type: def.type, ...(modifier && !typed ? { modifier } : {}), values };
}

/** The targets of a chain link that define the next parameter; none → unknown, mixed types → 400 (§3.7.9). */
function chainTargets(px: ParseContext, defs: SearchParameterDef[], modifier: string | undefined, rest: string, name: string) {
  if (defs[0]!.type !== 'reference') throw badRequest(`'${defs[0]!.code}' is not a reference and cannot be chained`, [name]);
  if (modifier !== undefined && !px.defs.isResourceType(modifier)) {
    throw badRequest(`':${modifier}' cannot be used in a chain`, [name]);
  }
  if (modifier !== undefined) checkModifier(px, defs[0]!, modifier, name);
  const all = modifier ? [modifier] : [...new Set(defs.flatMap((d) => d.target ?? []))];
  const next = rest.split('.')[0]!.split(':')[0]!;
  const targets = next.startsWith('_has') ? all : all.filter((t) => px.registry.get(t, next));
  if (targets.length === 0) throw new UnknownParameter(name);
  return targets;
}

function parseHas(px: ParseContext, types: string[], name: string, value: string): Condition | undefined {
  const [, source, code, ...rest] = name.split(':');
  if (!source || !code || rest.length === 0 || rest.join(':') === '') {
    throw badRequest(`'${name}' must be _has:Type:reference-param:param`, [name]);
  }
  if (!px.defs.isResourceType(source)) throw badRequest(`'${name}': unknown resource type ${source}`, [name]);
  const def = px.registry.get(source, code);
  if (!def || def.type !== 'reference') throw badRequest(`'${name}': '${code}' is not a reference parameter of ${source}`, [name]);
  if (def.target && def.target.length > 0 && !types.some((t) => def.target!.includes(t))) {
    throw badRequest(`'${name}': ${source}.${code} cannot refer to ${types.join(', ')}`, [name]);
  }
  const next = parseCondition(px, [source], rest.join(':'), value);
  return next && { kind: 'has', source, code, next };
}

/** One filter parameter → a Condition (undefined when its value is empty, which §1.6 says to ignore). */
export function parseCondition(px: ParseContext, types: string[], name: string, value: string): Condition | undefined {
  checkEscapes(value, name);
  if (name.startsWith('_has:')) return parseHas(px, types, name, value);
  const dot = name.indexOf('.');
  const head = dot < 0 ? name : name.slice(0, dot);
  const [code = '', modifier, extra] = head.split(':');
  if (extra !== undefined || code === '') throw badRequest(`'${name}' is not a valid parameter name`, [name]);
  const defs = definitions(px, types, code, name);
  if (dot >= 0) {
    const rest = name.slice(dot + 1);
    const targets = chainTargets(px, defs, modifier, rest, name);
    const next = parseCondition(px, targets, rest, value);
    return next && { kind: 'chain', code, targets, next };
  }
  checkModifier(px, defs[0]!, modifier, name);
  return parseValues(px, types, defs, modifier, value, name);
}
