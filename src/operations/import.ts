/**
 * Bulk `$import` kick-off — `POST [base]/$import` with a Parameters manifest of NDJSON inputs by URL, after the HL7
 * Bulk Data Import proposal (issue #14 §3): checks every input URL, queues an import job and answers 202 with the
 * status URL (`[base]/_bulk/{job}`, as for `$export`) in Content-Location.
 */
import { badRequest, methodNotAllowed } from '../errors.js';
import { informational } from '../fhir/outcome.js';
import type { Resource } from '../fhir/types.js';
import type { Context, Deps } from '../interactions/context.js';
import type { FhirRequest, FhirResult } from '../fhir/request.js';
import { inTransaction } from '../interactions/context.js';
import { enqueueJob } from '../jobs/queue.js';
import { checkPrefer } from '../bulk/kickoff.js';
import { checkInputUrl } from '../bulk/import-source.js';
import { statusUrl } from '../bulk/status.js';
import type { ImportInput, ImportParams } from '../bulk/import-types.js';

const FORMATS = new Set(['application/fhir+ndjson', 'application/ndjson', 'ndjson']);
type Param = { name?: unknown; part?: Param[] } & Record<string, unknown>;

function valueOf(p: Param): unknown {
  const key = Object.keys(p).find((k) => k.startsWith('value'));
  return key === undefined ? undefined : p[key];
}

function text(p: Param, what: string): string {
  const v = valueOf(p);
  if (typeof v !== 'string' || v.trim() === '') throw badRequest(`$import: ${what} needs a string value`, [what]);
  return v.trim();
}

/** The manifest's inputs and options; unknown parameters are refused rather than silently ignored. */
export function parseManifest(deps: Deps, body: unknown, local = false): { inputs: ImportInput[]; strict: boolean } {
  const r = body as Resource | undefined;
  if (!r || r.resourceType !== 'Parameters') throw badRequest('The $import body must be a Parameters resource');
  const inputs: ImportInput[] = [];
  let strict = false;
  for (const p of (r.parameter as Param[] | undefined) ?? []) {
    switch (p.name) {
      case 'inputFormat':
        if (!FORMATS.has(text(p, 'inputFormat').toLowerCase())) throw badRequest('$import reads application/fhir+ndjson only', ['inputFormat']);
        break;
      case 'inputSource': case 'storageDetail': case 'mode':
        break; // informative (the source system; how inputs are stored: URLs are fetched as given)
      case 'strict':
        strict = valueOf(p) === true;
        break;
      case 'input': {
        let type: string | undefined;
        let url: string | undefined;
        for (const part of p.part ?? []) {
          if (part.name === 'type') type = text(part, 'input.type');
          else if (part.name === 'url') url = text(part, 'input.url');
        }
        if (!url) throw badRequest('Every $import input needs a url part', ['input.url']);
        if (type !== undefined && !deps.defs.isResourceType(type)) throw badRequest(`$import input type '${type}' is not a resource type`, ['input.type']);
        checkInputUrl(deps.config, url, local);
        inputs.push({ ...(type ? { type } : {}), url });
        break;
      }
      default:
        throw badRequest(`$import has no parameter '${String(p.name)}'`, [String(p.name)]);
    }
  }
  if (inputs.length === 0) throw badRequest('$import needs at least one input', ['input']);
  return { inputs, strict };
}

export async function importOperation(deps: Deps, ctx: Context, req: FhirRequest): Promise<FhirResult> {
  if (req.method !== 'POST') throw methodNotAllowed('$import is invoked with POST');
  if (!ctx.access) throw new Error('$import needs an authenticated request');
  const { handling } = checkPrefer(req.headers.prefer);
  const manifest = parseManifest(deps, req.body);
  const { principal } = ctx.access;
  const params: ImportParams = { ...manifest, strict: manifest.strict || handling === 'strict', request: `${ctx.base}/$import`,
    base: ctx.base, principal: { clientId: principal.clientId, subject: principal.subject,
      ...(principal.fhirUser ? { fhirUser: principal.fhirUser } : {}) } };
  const job = await inTransaction(deps, ctx, (tx) => enqueueJob(tx, ctx.tenant.slug, 'import', params as unknown as Record<string, unknown>));
  const location = statusUrl(ctx.base, job.id);
  return { status: 202, body: informational(`Import ${job.id} queued: ${params.inputs.length} input(s); poll ${location}`),
    contentLocation: location };
}
