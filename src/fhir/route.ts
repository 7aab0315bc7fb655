/** Maps a request's method and path onto a FHIR interaction — http://hl7.org/fhir/R4/http.html */
import { badRequest, methodNotAllowed, unknownPath, unknownType } from '../errors.js';
import type { Definitions } from './definitions.js';
import { isValidId } from './types.js';
import type { FhirRequest } from './request.js';

export type InteractionCode =
  | 'read' | 'vread' | 'update' | 'patch' | 'delete' | 'history-instance' | 'history-type' | 'history-system'
  | 'create' | 'search-type' | 'search-system' | 'capabilities' | 'batch' | 'transaction'
  | 'conditional-update' | 'conditional-patch' | 'conditional-delete' | 'operation' | 'search-compartment';

export interface Route {
  code: InteractionCode;
  type?: string;
  id?: string;
  vid?: string;
  operation?: string;
  /** Compartment search: the type searched inside [type]/[id] ('*' for all). */
  target?: string;
}

function checkType(defs: Definitions, type: string): string {
  if (!defs.isResourceType(type)) throw unknownType(type);
  return type;
}

function checkId(id: string): string {
  if (!isValidId(id)) throw badRequest(`Invalid resource id '${id.slice(0, 80)}'`);
  return id;
}

const METHODS: Record<string, Partial<Record<string, InteractionCode>>> = {
  system: { GET: 'search-system', POST: 'batch' },
  type: { GET: 'search-type', POST: 'create', PUT: 'conditional-update', PATCH: 'conditional-patch', DELETE: 'conditional-delete' },
  instance: { GET: 'read', PUT: 'update', PATCH: 'patch', DELETE: 'delete' },
};

function pick(level: keyof typeof METHODS, method: string, what: string): InteractionCode {
  const code = METHODS[level]![method === 'HEAD' ? 'GET' : method];
  if (!code) throw methodNotAllowed(`${method} is not allowed on ${what}`);
  return code;
}

function only(method: string, allowed: string[], what: string) {
  if (!allowed.includes(method === 'HEAD' ? 'GET' : method)) throw methodNotAllowed(`${method} is not allowed on ${what}`);
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw badRequest('Malformed percent-encoding in the URL path');
  }
}

export function route(defs: Definitions, req: FhirRequest): Route {
  const parts = req.path.split('/').filter((p) => p !== '').map(decodeSegment);
  const [a, b, c, d, ...rest] = parts;
  const m = req.method;
  if (rest.length > 0) throw unknownPath();
  if (a === undefined) return { code: pick('system', m, 'the base') };
  if (a === 'metadata' && b === undefined) { only(m, ['GET'], 'metadata'); return { code: 'capabilities' }; }
  if (a === '_history' && b === undefined) { only(m, ['GET'], '_history'); return { code: 'history-system' }; }
  if (a === '_search' && b === undefined) { only(m, ['POST'], '_search'); return { code: 'search-system' }; }
  if (a.startsWith('$')) return { code: 'operation', operation: a.slice(1) };
  const type = checkType(defs, a);
  if (b === undefined) return { code: pick('type', m, type), type };
  if (b === '_history' && c === undefined) { only(m, ['GET'], '_history'); return { code: 'history-type', type }; }
  if (b === '_search' && c === undefined) { only(m, ['POST'], '_search'); return { code: 'search-type', type }; }
  if (b.startsWith('$') && c === undefined) return { code: 'operation', type, operation: b.slice(1) };
  const id = checkId(b);
  if (c === undefined) return { code: pick('instance', m, `${type}/${id}`), type, id };
  if (c === '_history') {
    only(m, ['GET'], '_history');
    if (d === undefined) return { code: 'history-instance', type, id };
    return { code: 'vread', type, id, vid: checkId(d) };
  }
  if (c.startsWith('$') && d === undefined) return { code: 'operation', type, id, operation: c.slice(1) };
  if (c === '*' || defs.isResourceType(c)) {
    // Compartment search — search.html#compartments; POST …/_search like type-level search.
    if (d === undefined) { only(m, ['GET'], `${type}/${id}/${c}`); return { code: 'search-compartment', type, id, target: c }; }
    if (d === '_search') { only(m, ['POST'], '_search'); return { code: 'search-compartment', type, id, target: c }; }
  }
  throw unknownPath();
}
