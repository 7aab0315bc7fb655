/**
 * The inputs of an $operation, read alike from the URL (GET, and POST's own query) and from a POST body's
 * Parameters resource — http://hl7.org/fhir/R4/operations.html#request. A primitive parameter is its value as a
 * string (value[x] of any primitive type, a Reference's reference); a resource parameter is the resource.
 */
import { badRequest } from '../errors.js';
import type { Resource } from '../fhir/types.js';
import type { FhirRequest } from '../fhir/request.js';

export interface OperationInputs {
  /** Every value of a primitive parameter, in order. */
  all(name: string): string[];
  one(name: string): string | undefined;
  resource(name: string): Resource | undefined;
}

interface Parameter { name?: unknown; resource?: unknown; valueReference?: { reference?: unknown }; [k: string]: unknown }

function primitive(p: Parameter): string | undefined {
  if (p.valueReference && typeof p.valueReference.reference === 'string') return p.valueReference.reference;
  for (const [k, v] of Object.entries(p)) {
    if (k.startsWith('value') && (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')) return String(v);
  }
  return undefined;
}

/** `bodyType`: a POST body that is a bare resource of this type counts as the parameter `bodyName`. */
export function operationInputs(req: FhirRequest, bodyType?: string, bodyName?: string): OperationInputs {
  const values = new Map<string, string[]>();
  const resources = new Map<string, Resource>();
  const add = (name: string, value: string) => values.set(name, [...(values.get(name) ?? []), value]);
  for (const [k, v] of req.query) add(k, v);
  const body = req.body as (Resource & { parameter?: unknown }) | undefined | string;
  if (req.method === 'POST' && body !== undefined && body !== '' && body !== null) {
    if (typeof body !== 'object' || Array.isArray(body)) throw badRequest('The body must be a Parameters resource');
    if (bodyType && bodyName && body.resourceType === bodyType) resources.set(bodyName, body);
    else if (body.resourceType !== 'Parameters') {
      throw badRequest(`The body must be a Parameters resource${bodyType ? ` or a ${bodyType}` : ''}`);
    } else {
      for (const p of Array.isArray(body.parameter) ? body.parameter as Parameter[] : []) {
        if (typeof p?.name !== 'string') throw badRequest('Every parameter needs a name', ['Parameters.parameter']);
        if (p.resource !== undefined) {
          if (typeof p.resource !== 'object' || p.resource === null) throw badRequest(`Parameter ${p.name} is not a resource`);
          resources.set(p.name, p.resource as Resource);
        } else {
          const v = primitive(p);
          if (v !== undefined) add(p.name, v);
        }
      }
    }
  }
  return {
    all: (name) => values.get(name) ?? [],
    one: (name) => {
      const v = values.get(name) ?? [];
      if (v.length > 1) throw badRequest(`Parameter ${name} may be given once`);
      return v[0];
    },
    resource: (name) => resources.get(name),
  };
}
