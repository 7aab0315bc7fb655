/**
 * Every $operation this server implements, by name and level: handed to the interactions as deps.operations by the
 * composition root (src/app.ts); dispatch routes by it and the CapabilityStatement lists it.
 */
import type { Context, Deps } from '../interactions/context.js';
import { OperationTable } from '../interactions/operations.js';
import { exportOperation } from './export.js';
import { importOperation } from './import.js';
import { jobStatusOperation } from './job-status.js';
import { patientEverything } from './patient-everything.js';
import { breakTheGlass } from './break-glass.js';
import { reindexOperation } from './reindex.js';
import { eraseOperation, expungeOperation } from './erase.js';
import { verifyChainOperation } from './audit-verify-chain.js';
import { validateOperation } from './validate.js';
import { claimSubmit } from './claim-submit.js';
import { codeSystemValidateCode, expandOperation, lookupOperation, subsumesOperation, translateOperation,
  valueSetValidateCode } from './terminology.js';
import { bindingTokenOperation, subscriptionEventsOperation, subscriptionStatusOperation } from './subscription-status.js';
import { findOperation, generateSlotsOperation, holdOrBookOperation } from './scheduling.js';

/** The HL7 Argonaut Scheduling IG's operations (Appointment $find, $hold, $book). */
const ARGONAUT = 'http://fhir.org/guides/argonaut-scheduling/OperationDefinition';

const BACKPORT = 'http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition';

const BULK_DATA = 'http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data';

export const OPERATIONS = new OperationTable<Deps, Context>([
  {
    name: 'everything', definition: 'http://hl7.org/fhir/OperationDefinition/Patient-everything', system: false,
    instance: ['Patient'], handler: (deps, ctx, req, t) => patientEverything(deps, ctx, req, t.id!),
  },
  {
    name: 'break-the-glass', definition: 'http://hearth.dev/fhir/OperationDefinition/break-the-glass', system: false,
    instance: ['Patient'], handler: (deps, ctx, req, t) => breakTheGlass(deps, ctx, req, t.id!),
  },
  {
    name: 'validate', definition: 'http://hl7.org/fhir/OperationDefinition/Resource-validate', system: false, types: '*',
    instance: '*', handler: (deps, ctx, req, t) => validateOperation(deps, ctx, req, t),
  },
  // Terminology (issue #15 §6) — http://hl7.org/fhir/R4/terminology-service.html
  {
    name: 'expand', definition: 'http://hl7.org/fhir/OperationDefinition/ValueSet-expand', system: false,
    types: ['ValueSet'], instance: ['ValueSet'], handler: (deps, ctx, req, t) => expandOperation(deps, ctx, req, t),
  },
  {
    name: 'validate-code', definition: 'http://hl7.org/fhir/OperationDefinition/ValueSet-validate-code', system: false,
    types: ['ValueSet'], instance: ['ValueSet'], handler: (deps, ctx, req, t) => valueSetValidateCode(deps, ctx, req, t),
  },
  {
    name: 'validate-code', definition: 'http://hl7.org/fhir/OperationDefinition/CodeSystem-validate-code', system: false,
    types: ['CodeSystem'], instance: ['CodeSystem'], handler: (deps, ctx, req, t) => codeSystemValidateCode(deps, ctx, req, t),
  },
  {
    name: 'lookup', definition: 'http://hl7.org/fhir/OperationDefinition/CodeSystem-lookup', system: false,
    types: ['CodeSystem'], instance: ['CodeSystem'], handler: (deps, ctx, req, t) => lookupOperation(deps, ctx, req, t),
  },
  {
    name: 'subsumes', definition: 'http://hl7.org/fhir/OperationDefinition/CodeSystem-subsumes', system: false,
    types: ['CodeSystem'], instance: ['CodeSystem'], handler: (deps, ctx, req, t) => subsumesOperation(deps, ctx, req, t),
  },
  {
    name: 'translate', definition: 'http://hl7.org/fhir/OperationDefinition/ConceptMap-translate', system: false,
    types: ['ConceptMap'], instance: ['ConceptMap'], handler: (deps, ctx, req, t) => translateOperation(deps, ctx, req, t),
  },
  // Subscriptions R5 Backport IG (issue #20 §2)
  {
    name: 'status', definition: `${BACKPORT}/backport-subscription-status`, system: false, types: ['Subscription'],
    instantiates: 'http://hl7.org/fhir/uv/subscriptions-backport/CapabilityStatement/backport-subscription-server-r4',
    instance: ['Subscription'], handler: (deps, ctx, req, t) => subscriptionStatusOperation(deps, ctx, req, t.id),
  },
  {
    name: 'events', definition: `${BACKPORT}/backport-subscription-events`, system: false,
    instance: ['Subscription'], handler: (deps, ctx, req, t) => subscriptionEventsOperation(deps, ctx, req, t.id!),
  },
  {
    name: 'get-ws-binding-token', definition: `${BACKPORT}/backport-subscription-get-ws-binding-token`, system: false,
    instance: ['Subscription'], handler: (deps, ctx, req, t) => bindingTokenOperation(deps, ctx, req, t.id!),
  },
  // Erasure and history removal (issue #17 §3)
  {
    name: 'erase', definition: 'http://hearth.dev/fhir/OperationDefinition/erase', system: false,
    instance: ['Patient'], handler: (deps, ctx, req, t) => eraseOperation(deps, ctx, req, t.id!),
  },
  {
    name: 'expunge', definition: 'http://hearth.dev/fhir/OperationDefinition/expunge', system: false,
    instance: '*', handler: (deps, ctx, req, t) => expungeOperation(deps, ctx, req, t.type!, t.id!),
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
  // Bulk import after the HL7 Bulk Data Import proposal (not part of the published IG, so our own definition URL):
  // NDJSON inputs by URL, asynchronous like $export (issue #14 §3)
  {
    name: 'import', definition: 'http://hearth.dev/fhir/OperationDefinition/import', system: true,
    handler: (deps, ctx, req) => importOperation(deps, ctx, req),
  },
  {
    name: 'verify-chain', definition: 'http://hearth.dev/fhir/OperationDefinition/audit-verify-chain', system: false,
    types: ['AuditEvent'], handler: (deps, ctx, req) => verifyChainOperation(deps, ctx, req),
  },
  // Scheduling (issue #18 §1–§2)
  {
    name: 'find', definition: `${ARGONAUT}/appointment-find`, system: false, types: ['Appointment'],
    handler: (deps, ctx, req) => findOperation(deps, ctx, req),
  },
  {
    name: 'hold', definition: `${ARGONAUT}/appointment-hold`, system: false, types: ['Appointment'],
    handler: (deps, ctx, req) => holdOrBookOperation(deps, ctx, req, 'hold'),
  },
  {
    name: 'book', definition: `${ARGONAUT}/appointment-book`, system: false, types: ['Appointment'],
    handler: (deps, ctx, req) => holdOrBookOperation(deps, ctx, req, 'book'),
  },
  {
    name: 'generate-slots', definition: 'http://hearth.dev/fhir/OperationDefinition/generate-slots', system: false,
    instance: ['Schedule'], handler: (deps, ctx, req, t) => generateSlotsOperation(deps, ctx, req, t.id!),
  },
  // Claim/$submit — http://hl7.org/fhir/R4/claim-operation-submit.html (issue #18 §5)
  {
    name: 'submit', definition: 'http://hl7.org/fhir/OperationDefinition/Claim-submit', system: false,
    types: ['Claim'], handler: (deps, ctx, req) => claimSubmit(deps, ctx, req),
  },
  {
    name: 'job-status', definition: 'http://hearth.dev/fhir/OperationDefinition/job-status', system: true,
    handler: (deps, ctx, req) => jobStatusOperation(deps, ctx, req),
  },
]);
