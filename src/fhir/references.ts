/** Rewrites a transaction's fullUrls to the ids they received — http://hl7.org/fhir/R4/http.html#trules */
import type { Definitions } from './definitions.js';
import type { Resource } from './types.js';

/** Element types whose values are rewritten (canonical is deliberately not, per the spec). */
const REWRITTEN = new Set(['Reference', 'uri', 'url', 'oid', 'uuid']);

export type Rewrites = ReadonlyMap<string, string>;

/** The replacement for a reference string, keeping a version suffix (…/_history/n) version-specific. */
function replacement(value: string, rewrites: Rewrites): string | undefined {
  const direct = rewrites.get(value);
  if (direct !== undefined) return direct;
  if (!value.includes('/_history/')) return undefined;
  const m = /^(.*)\/_history\/([^/]+)$/.exec(value);
  const base = m && rewrites.get(m[1]!);
  return base !== undefined && base !== null ? `${base}/_history/${m![2]}` : undefined;
}

function rewriteNarrative(div: string, rewrites: Rewrites): string {
  return div.replace(/(\s(?:href|src)\s*=\s*")([^"]*)(")/g, (all, pre: string, url: string, post: string) => {
    const r = replacement(url, rewrites);
    return r === undefined ? all : `${pre}${r}${post}`;
  });
}

function isRewritable(defs: Definitions, path: string, key: string): boolean {
  const types = defs.elementTypes(path.split('.')[0]!, path);
  if (!types) return key === 'reference' || key === 'url';
  return types.some((t) => REWRITTEN.has(t) || t === 'string' && key === 'reference');
}

/**
 * The node with its rewritten strings replaced; copy on write: a subtree without any is returned as it is (the input
 * is never modified), so a Bundle entry allocates only along the paths to its references.
 */
function walk(defs: Definitions, node: unknown, path: string, rewrites: Rewrites): unknown {
  if (Array.isArray(node)) {
    let out: unknown[] | undefined;
    node.forEach((item, i) => {
      const next = walk(defs, item, path, rewrites);
      if (next !== item) (out ??= node.slice())[i] = next;
    });
    return out ?? node;
  }
  if (node === null || typeof node !== 'object') return node;
  let out: Record<string, unknown> | undefined;
  for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
    let next: unknown;
    if (typeof value === 'string') {
      // Most strings name nothing the Bundle rewrites: look the element's type up only for those that do.
      const r = key === 'div' ? rewriteNarrative(value, rewrites) : replacement(value, rewrites);
      next = r !== undefined && (key === 'div' || isRewritable(defs, `${path}.${key}`, key)) ? r : value;
    } else if (key === 'contained' && Array.isArray(value)) {
      const contained = value.map((c: Resource) => walk(defs, c, c.resourceType, rewrites));
      next = contained.some((c, i) => c !== value[i]) ? contained : value;
    } else if (value !== null && typeof value === 'object') {
      next = walk(defs, value, key === 'resourceType' ? path : `${path}.${key}`, rewrites);
    } else continue;
    if (next !== value) (out ??= { ...(node as Record<string, unknown>) })[key] = next;
  }
  return out ?? node;
}

/** A copy of resource with every reference to a rewritten fullUrl replaced by its Type/id. */
export function rewriteReferences(defs: Definitions, resource: Resource, rewrites: Rewrites): Resource {
  if (rewrites.size === 0) return resource;
  return walk(defs, resource, resource.resourceType, rewrites) as Resource;
}

/** Every Reference.reference value in the resource that satisfies pick (for conditional references). */
export function collectReferences(node: unknown, pick: (ref: string) => boolean, into = new Set<string>()): Set<string> {
  if (Array.isArray(node)) node.forEach((n) => collectReferences(n, pick, into));
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === 'reference' && typeof v === 'string' && pick(v)) into.add(v);
      else if (typeof v === 'object') collectReferences(v, pick, into);
    }
  }
  return into;
}
