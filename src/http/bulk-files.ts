/**
 * Bulk Data status URL and output files: `GET|DELETE /fhir/{tenant}/_bulk/{job}` and `GET /fhir/{tenant}/_bulk/{job}/{file}`
 * — http://hl7.org/fhir/uv/bulkdata/STU2/export.html#bulk-data-output-file-request (bulk-data.md §5–§7). The bearer
 * token must be valid (401) and belong to the client that kicked the export off (anyone else: 404); a file also needs
 * its type within the token's scopes (403, issue #22 §1). Each request, answered or refused, has its AuditEvent durable
 * before the answer (audit-event.md §4.5).
 */
import { tenantBase } from './host-routing.js';
import zlib from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type Actor, type Outcome, failedOutcome } from '../audit/event.js';
import { type BulkStep, bulkEvent } from '../audit/security.js';
import { exportFileNotFound, rangeNotSatisfiable, unknownTenant } from '../errors.js';
import type { Resource } from '../fhir/types.js';
import type { Deps } from '../interactions/context.js';
import type { Job } from '../jobs/queue.js';
import { authenticate } from '../auth/bearer.js';
import type { Principal } from '../auth/access.js';
import { type Tenant, findTenant } from '../storage/tenants.js';
import { type Answer, cancelExport, exportFile, exportStatus, fileUrl, ownExport, statusUrl } from '../bulk/status.js';
import { type ByteRange, exportStore } from '../bulk/store.js';
import { checkFileScopes } from '../bulk/file-access.js';
import type { ExportParams } from '../bulk/types.js';
import { FHIR_JSON } from './content.js';
import { actorOf, publicBase } from './fhir.js';

const EXPOSE = 'ETag, Location, Content-Location, Last-Modified, X-Request-Id, X-Correlation-Id, X-Progress, Retry-After, Expires, '
  + 'Content-Range, Accept-Ranges';

type Req = FastifyRequest<{ Params: { tenant: string; job: string; file?: string } }>;

/** What the request's AuditEvent needs, learnt as the request is checked: its tenant, then who asks. */
interface Seen { base: string; tenant?: Tenant; actor: Actor }

/** An answer whose AuditEvent is still to be recorded: sent once it is durable, discarded if it cannot be. */
interface Ready { status: number; outcome?: Resource; send: () => FastifyReply; discard?: () => void }

async function authorised(deps: Deps, req: Req, seen: Seen): Promise<{ job: Job; tenant: Tenant; principal: Principal }> {
  const tenant = await findTenant(deps.db, req.params.tenant);
  if (!tenant) throw unknownTenant(req.params.tenant);
  seen.tenant = tenant;
  const auth = req.headers.authorization;
  const principal = await authenticate(deps, tenant, seen.base, Array.isArray(auth) ? auth.join(', ') : auth);
  seen.actor = actorOf(principal);
  return { job: await ownExport(deps, tenant, principal.clientId, req.params.job), tenant, principal };
}

/** Answers a status poll, cancel or download with its AuditEvent; a request for an unknown tenant has none. */
async function audited(deps: Deps, req: Req, reply: FastifyReply, step: BulkStep, answer: (seen: Seen) => Promise<Ready>) {
  const base = tenantBase(deps, req, req.params.tenant);
  const seen: Seen = { base, actor: {} };
  const request = { requestId: req.id, address: req.ip, method: req.method, url: `${publicBase(deps, req)}${req.url}` };
  const urls = { status: statusUrl(base, req.params.job), ...(req.params.file ? { file: fileUrl(base, req.params.job, req.params.file) } : {}) };
  const record = async (outcome: Outcome) => {
    if (seen.tenant) await deps.audit.record(seen.tenant.schema, [bulkEvent(step, base, request, seen.actor, deps.audit.now(), urls, outcome)]);
  };
  let ready: Ready;
  try {
    ready = await answer(seen);
  } catch (e) {
    await record(failedOutcome(e));
    throw e;
  }
  try {
    await record({ status: ready.status, ...(ready.outcome ? { outcome: ready.outcome } : {}) });
  } catch (e) {
    ready.discard?.();
    throw e;
  }
  return ready.send();
}

function ready(reply: FastifyReply, a: Answer): Ready {
  const failed = a.status >= 400 && (a.body as Resource | undefined)?.resourceType === 'OperationOutcome';
  return { status: a.status, ...(failed ? { outcome: a.body as Resource } : {}), send: () => {
    reply.code(a.status).header('Access-Control-Expose-Headers', EXPOSE);
    for (const [k, v] of Object.entries(a.headers)) reply.header(k, v);
    if (a.body === undefined) return reply.send();
    return reply.type(a.manifest ? 'application/json; charset=utf-8' : FHIR_JSON).send(JSON.stringify(a.body));
  } };
}

/** A single `bytes=a-b`, `bytes=a-` or `bytes=-n` range (§7.6); anything else is served whole, unsatisfiable → 416. */
function byteRange(header: string | undefined, size: number): ByteRange | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header?.trim() ?? '');
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  const start = m[1] === '' ? Math.max(0, size - Number(m[2])) : Number(m[1]);
  const end = m[1] === '' || m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start > end || start >= size) {
    throw rangeNotSatisfiable(header, size);
  }
  return { start, end };
}

async function download(deps: Deps, req: Req, reply: FastifyReply, seen: Seen): Promise<Ready> {
  const { job, tenant, principal } = await authorised(deps, req, seen);
  const file = exportFile(job, req.params.file!);
  // An import's outcome file lists the importing client's own refused lines (its token holds system/*.cu).
  if (job.kind === 'export') await checkFileScopes(deps, tenant, seen.base, principal, job.params as unknown as ExportParams, file);
  const range = req.headers.range;
  const opened = await exportStore(deps).read(tenant.slug, job.id, file.name, (size) => byteRange(range, size));
  if (!opened) throw exportFileNotFound(job.id, file.name);
  const discard = () => opened.stream.destroy();
  reply.header('Access-Control-Expose-Headers', EXPOSE).header('Accept-Ranges', 'bytes').type('application/fhir+ndjson');
  if (opened.range) {
    const { start, end } = opened.range;
    reply.header('Content-Range', `bytes ${start}-${end}/${opened.size}`).header('Content-Length', end - start + 1);
    return { status: 206, discard, send: () => reply.code(206).send(opened.stream) };
  }
  if (/\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) {
    return { status: 200, discard, send: () => reply.header('Content-Encoding', 'gzip').header('Vary', 'Origin, Accept-Encoding')
      .send(opened.stream.pipe(zlib.createGzip({ level: 1 }))) };
  }
  return { status: 200, discard, send: () => reply.header('Content-Length', opened.size).send(opened.stream) };
}

export function registerBulkFileRoutes(app: FastifyInstance, deps: Deps): void {
  app.route<{ Params: { tenant: string; job: string } }>({
    method: ['GET', 'DELETE'], url: '/fhir/:tenant/_bulk/:job',
    handler: (req, reply) => audited(deps, req, reply, req.method === 'DELETE' ? 'cancel' : 'status', async (seen) => {
      const { job, tenant } = await authorised(deps, req, seen);
      return ready(reply, req.method === 'DELETE' ? await cancelExport(deps, tenant, job) : exportStatus(deps, seen.base, job));
    }),
  });
  app.get<{ Params: { tenant: string; job: string; file: string } }>('/fhir/:tenant/_bulk/:job/:file',
    (req, reply) => audited(deps, req, reply, 'download', (seen) => download(deps, req, reply, seen)));
}
