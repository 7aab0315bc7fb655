/**
 * The shape of the server's $operations (http://hl7.org/fhir/R4/operations.html): the interactions route to them and
 * list them without knowing them; the operations themselves (src/operations) sit above and are handed over in
 * deps.operations.
 */
import { operationNotSupported } from '../errors.js';
import type { FhirRequest, FhirResult } from '../fhir/request.js';

export interface OperationTarget { type?: string; id?: string }

/** D and C are the server's Deps and Context (src/interactions/context.ts), generic here so that this file imports neither. */
export interface OperationEntry<D, C> {
  name: string;
  /** Canonical URL of the OperationDefinition (conformance/ for our own). */
  definition: string;
  system: boolean;
  /** Type level: every type ('*') or the listed ones. */
  types?: '*' | readonly string[];
  /** Instance level on every type ('*') or these types. */
  instance?: '*' | readonly string[];
  /** A CapabilityStatement the server instantiates by supporting this operation. */
  instantiates?: string;
  handler: (deps: D, ctx: C, req: FhirRequest, target: OperationTarget) => Promise<FhirResult>;
}

function applies(op: { system: boolean; types?: '*' | readonly string[]; instance?: '*' | readonly string[] }, t: OperationTarget): boolean {
  if (t.id) return op.instance === '*' || (op.instance?.includes(t.type!) ?? false);
  if (t.type) return op.types === '*' || (op.types?.includes(t.type) ?? false);
  return op.system;
}

export class OperationTable<D, C> {
  constructor(readonly all: readonly OperationEntry<D, C>[]) {}

  run(deps: D, ctx: C, req: FhirRequest, name: string, t: OperationTarget): Promise<FhirResult> {
    const op = this.all.find((o) => o.name === name && applies(o, t));
    if (!op) throw operationNotSupported(name);
    return op.handler(deps, ctx, req, t);
  }

  /** Operations usable on a resource type (type or instance level), for the CapabilityStatement. */
  forType(type: string): OperationEntry<D, C>[] {
    return this.all.filter((o) => o.types === '*' || o.types?.includes(type) || o.instance === '*' || o.instance?.includes(type));
  }
}
