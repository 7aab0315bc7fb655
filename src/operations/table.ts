/** Every $operation this server implements, by name and level; dispatch routes by it and the CapabilityStatement lists it. */
import { FhirError } from '../errors.js';
import type { Context, Deps } from '../interactions/context.js';
import type { FhirRequest, FhirResult } from '../fhir/request.js';
import { exportOperation } from './export.js';
import { jobStatusOperation } from './job-status.js';
import { patientEverything } from './patient-everything.js';
import { reindexOperation } from './reindex.js';
import { verifyChainOperation } from './audit-verify-chain.js';

export interface OperationTarget { type?: string; id?: string }

export interface OperationEntry {
  name: string;
  /** Canonical URL of the OperationDefinition (conformance/ for our own). */
  definition: string;
  system: boolean;
  /** Type level: every type ('*') or the listed ones. */
  types?: '*' | readonly string[];
  /** Instance level on these types. */
  instance?: readonly string[];
  /** A CapabilityStatement the server instantiates by supporting this operation. */
  instantiates?: string;
  handler: (deps: Deps, ctx: Context, req: FhirRequest, target: OperationTarget) => Promise<FhirResult>;
}

const BULK_DATA = 'http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data';

export const OPERATIONS: readonly OperationEntry[] = [
  {
    name: 'everything', definition: 'http://hl7.org/fhir/OperationDefinition/Patient-everything', system: false,
    instance: ['Patient'], handler: (deps, ctx, req, t) => patientEverything(deps, ctx, req, t.id!),
  },
  {
    name: 'reindex', definition: 'http://hearth.dev/fhir/OperationDefinition/reindex', system: true, types: '*',
    handler: (deps, ctx, req, t) => reindexOperation(deps, ctx, req, t.type),
  },
  // Bulk Data Access STU2 — http://hl7.org/fhir/uv/bulkdata/STU2/export.html (one entry per level and definition)
  {
    name: 'export', definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export', system: true,
    instantiates: BULK_DATA, handler: (deps, ctx, req) => exportOperation(deps, ctx, req, 'system'),
  },
  {
    name: 'export', definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export', system: false,
    types: ['Patient'], instantiates: BULK_DATA, handler: (deps, ctx, req) => exportOperation(deps, ctx, req, 'patient'),
  },
  {
    name: 'export', definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export', system: false,
    instance: ['Group'], instantiates: BULK_DATA, handler: (deps, ctx, req, t) => exportOperation(deps, ctx, req, 'group', t.id),
  },
  {
    name: 'verify-chain', definition: 'http://hearth.dev/fhir/OperationDefinition/audit-verify-chain', system: false,
    types: ['AuditEvent'], handler: (deps, ctx, req) => verifyChainOperation(deps, ctx, req),
  },
  {
    name: 'job-status', definition: 'http://hearth.dev/fhir/OperationDefinition/job-status', system: true,
    handler: (deps, ctx, req) => jobStatusOperation(deps, ctx, req),
  },
];

function applies(op: OperationEntry, t: OperationTarget): boolean {
  if (t.id) return op.instance?.includes(t.type!) ?? false;
  if (t.type) return op.types === '*' || (op.types?.includes(t.type) ?? false);
  return op.system;
}

export function runOperation(deps: Deps, ctx: Context, req: FhirRequest, name: string, t: OperationTarget): Promise<FhirResult> {
  const op = OPERATIONS.find((o) => o.name === name && applies(o, t));
  if (!op) throw new FhirError(404, 'not-supported', `Operation $${name} is not supported here`);
  return op.handler(deps, ctx, req, t);
}

/** Operations usable on a resource type (type or instance level), for the CapabilityStatement. */
export const operationsForType = (type: string) =>
  OPERATIONS.filter((o) => o.types === '*' || o.types?.includes(type) || o.instance?.includes(type));
