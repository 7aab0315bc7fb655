/** SearchParameter expressions evaluated with HL7's fhirpath engine (R4 model) — http://hl7.org/fhir/R4/fhirpath.html */
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';
import type { Evaluator, Found } from './extract-path.js';
import { referencedType } from './extract-path.js';

/** What we use of fhirpath's ResourceNode (raw results with resolveInternalTypes: false). */
interface Node {
  data: unknown;
  path: string | null;
  fhirNodeDataType: string | null;
  parentResNode: Node | null;
}
type NodeClass = new (ctx: unknown, data: unknown, parent: null, path: null, _data: null, type: null) => Node;

const isNode = (v: unknown): v is Node => typeof v === 'object' && v !== null && 'fhirNodeDataType' in v && 'data' in v;

/**
 * resolve() without I/O: each Reference becomes a stub resource `{resourceType}` of the type its literal names,
 * so `x.where(resolve() is Patient)` keeps exactly the references to a Patient. The stub is built with the input
 * node's own class (fhirpath does not export ResourceNode) so that `is` sees a FHIR resource type.
 */
const userInvocationTable = {
  resolve: {
    internalStructures: true,
    arity: { 0: [] },
    fn(this: unknown, inputs: unknown[]): Node[] {
      const out: Node[] = [];
      for (const input of inputs) {
        const type = referencedType(isNode(input) ? input.data : input);
        if (type && isNode(input)) out.push(new (input.constructor as NodeClass)(this, { resourceType: type }, null, null, null, null));
      }
      return out;
    },
  },
};

/**
 * R4 writes `(x as T)` / `x.as(T)` over repeating elements, where fhirpath.js (rightly, per FHIRPath N1) throws
 * "Expected singleton"; R5 rewrote these expressions with ofType(), which is what R4 means, so we do the same.
 */
export function rewriteForFhirpath(expression: string): string {
  return expression.replace(/\(([^()]+?)\s+as\s+([A-Za-z]+)\)/g, '($1).ofType($2)')
    .replace(/\.as\(([A-Za-z]+)\)/g, '.ofType($1)');
}

function toFound(item: unknown): Found | undefined {
  if (!isNode(item)) {
    if (item === null || item === undefined) return undefined;
    const type = typeof item === 'boolean' ? 'boolean' : typeof item === 'number' ? 'decimal' : 'string';
    return { value: typeof item === 'object' ? String(item) : item, type };
  }
  if (item.data === null || item.data === undefined) return undefined;
  // Numbers arrive as fhirpath's FP_Decimal; JSON objects and primitives are the resource's own values.
  const plain = typeof item.data !== 'object' || Array.isArray(item.data) || Object.getPrototypeOf(item.data) === Object.prototype;
  return { value: plain ? item.data : fhirpath.resolveInternalTypes(item.data), ...(item.fhirNodeDataType ? { type: item.fhirNodeDataType } : {}),
    ...(item.path ? { path: item.path } : {}), ...(item.parentResNode?.path ? { parent: item.parentResNode.path } : {}) };
}

/**
 * Compiles an expression once. With `base`, it is evaluated on a part of the resource (a composite's container
 * element at that model path) and `%resource` is the whole resource.
 */
export function compileFhirpath(expression: string, base?: string): Evaluator {
  const text = rewriteForFhirpath(expression);
  const options = { resolveInternalTypes: false as const, userInvocationTable };
  const fn = base ? fhirpath.compile({ base, expression: text }, r4, options) : fhirpath.compile(text, r4, options);
  return (focus, resource) => {
    const result = fn(focus as Record<string, unknown>, { resource, rootResource: resource }) as unknown[];
    const out: Found[] = [];
    for (const item of result) {
      const found = toFound(item);
      if (found) out.push(found);
    }
    return out;
  };
}
