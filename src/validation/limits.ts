/** Limits on any JSON body, checked before validation: depth, NUL and lone surrogates, string size — http://hl7.org/fhir/R4/datatypes.html#string */
import type { Issue, IssueCode } from '../errors.js';
import type { Definitions } from '../fhir/definitions.js';

/**
 * Objects and arrays may nest 100 deep (the body's root is level 1; an extension is two levels): the deepest core
 * examples nest 12, and the validator recursed itself to a stack overflow on 5,000 (issue #12 §7).
 */
export const MAX_DEPTH = 100;
/** R4 datatypes.html#string: a string SHALL NOT exceed 1 MB (1024 * 1024 characters); base64Binary may (issue #12 §9). */
export const MAX_STRING = 1024 * 1024;

/** True when the element at `element` (e.g. Patient.photo.data) of `type` is a base64Binary. */
export type IsBase64 = (type: string, element: string) => boolean;

export function base64Elements(defs: Pick<Definitions, 'elementTypes'>): IsBase64 {
  return (type, element) => {
    const types = defs.elementTypes(type, element);
    return types?.length === 1 && types[0] === 'base64Binary';
  };
}

/** One node of the walk; paths are built from the parent chain only when something is reported. */
interface Frame { value: unknown; parent: Frame | undefined; key: string | number; depth: number }

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** NUL is refused by PostgreSQL text and jsonb (22021, 22P05); a lone surrogate by jsonb (22P02). */
function badCharacter(s: string): string | undefined {
  if (s.includes('\u0000')) return 'a NUL character (\\u0000)';
  if (/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s)) return 'a lone UTF-16 surrogate';
  return undefined;
}

/** The frames from the root down to `f` (the root's own frame excluded). */
function chain(f: Frame): Frame[] {
  const out: Frame[] = [];
  for (let at: Frame | undefined = f; at?.parent; at = at.parent) out.push(at);
  return out.reverse();
}

/**
 * The FHIRPath of a node (`Bundle.entry[0].resource.name[1].family`), and the resource type and element path it lies
 * in (`Patient`, `Patient.name.family`) as validate.ts's locate() gives them; `_x` names the Element of primitive x.
 */
function locate(root: Frame, f: Frame): { expression: string; type: string; element: string } {
  const rootType = isObject(root.value) && typeof root.value.resourceType === 'string' ? root.value.resourceType : '';
  let expression = rootType;
  let type = rootType;
  let element = rootType;
  for (const step of chain(f)) {
    if (typeof step.key === 'number') expression += `[${step.key}]`;
    else {
      const name = step.key.replace(/^_/, '');
      expression += expression === '' ? name : `.${name}`;
      element += `.${name}`;
    }
    if (isObject(step.value) && typeof step.value.resourceType === 'string') { type = step.value.resourceType; element = type; }
  }
  return { expression, type, element };
}

function issue(code: IssueCode, diagnostics: string, expression: string): Issue {
  return { severity: 'error', code, diagnostics, ...(expression ? { expression: [expression] } : {}) };
}

function checkString(root: Frame, f: Frame, s: string, isBase64: IsBase64 | undefined): Issue | undefined {
  const bad = badCharacter(s);
  if (bad) return issue('value', `Strings must not contain ${bad}`, locate(root, f).expression);
  if (s.length <= MAX_STRING) return undefined;
  const at = locate(root, f);
  if (isBase64?.(at.type, at.element)) return undefined;
  return issue('too-long', `Strings must not exceed ${MAX_STRING} characters (R4 datatypes.html#string); this one has ${s.length}`,
    at.expression);
}

function checkKey(root: Frame, parent: Frame, key: string): Issue | undefined {
  const bad = badCharacter(key);
  return bad ? issue('structure', `Element names must not contain ${bad}`, locate(root, parent).expression) : undefined;
}

/**
 * The first limit `body` breaks, found by an iterative walk (no recursion, so any depth is safe to look at), or
 * undefined. Expressions are FHIRPath from the body's resourceType.
 */
export function checkJsonLimits(body: unknown, isBase64?: IsBase64): Issue | undefined {
  const root: Frame = { value: body, parent: undefined, key: '', depth: 0 };
  const stack: Frame[] = [root];
  while (stack.length > 0) {
    const f = stack.pop()!;
    const v = f.value;
    if (typeof v === 'string') {
      const found = checkString(root, f, v, isBase64);
      if (found) return found;
      continue;
    }
    if (typeof v !== 'object' || v === null) continue;
    const depth = f.depth + 1;
    if (depth > MAX_DEPTH) {
      return issue('structure', `JSON objects and arrays must not nest more than ${MAX_DEPTH} deep`, locate(root, f).expression);
    }
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ value: v[i], parent: f, key: i, depth });
      continue;
    }
    for (const key of Object.keys(v).reverse()) {
      const found = checkKey(root, f, key);
      if (found) return found;
      stack.push({ value: (v as Record<string, unknown>)[key], parent: f, key, depth });
    }
  }
  return undefined;
}
