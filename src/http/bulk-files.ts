/**
 * Bulk Data status URL and output files: `GET|DELETE /fhir/{tenant}/_bulk/{job}` and `GET /fhir/{tenant}/_bulk/{job}/{file}`
 * — http://hl7.org/fhir/uv/bulkdata/STU2/export.html#bulk-data-output-file-request (bulk-data.md §5–§7). The bearer
 * token must be valid (401) and belong to the client that kicked the export off (anyone else: 404).
 */
import zlib from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { FhirError, unknownTenant } from '../errors.js';
import type { Deps } from '../interactions/context.js';
import type { Job } from '../jobs/queue.js';
import { authenticate } from '../auth/bearer.js';
import { type Tenant, findTenant } from '../storage/tenants.js';
import { type Answer, cancelExport, exportFile, exportStatus, ownExport } from '../bulk/status.js';
import { type ByteRange, exportStore } from '../bulk/store.js';
import { FHIR_JSON } from './content.js';
import { publicBase } from './fhir.js';

const EXPOSE = 'ETag, Location, Content-Location, Last-Modified, X-Request-Id, X-Correlation-Id, X-Progress, Retry-After, Expires, '
  + 'Content-Range, Accept-Ranges';

type Req = FastifyRequest<{ Params: { tenant: string; job: string; file?: string } }>;

async function authorised(deps: Deps, req: Req): Promise<{ job: Job; base: string; tenant: Tenant }> {
  const tenant = await findTenant(deps.db, req.params.tenant);
  if (!tenant) throw unknownTenant(req.params.tenant);
  const base = `${publicBase(deps, req)}/fhir/${tenant.slug}`;
  const auth = req.headers.authorization;
  const principal = await authenticate(deps, tenant, base, Array.isArray(auth) ? auth.join(', ') : auth);
  return { job: await ownExport(deps, tenant, principal.clientId, req.params.job), base, tenant };
}

function send(reply: FastifyReply, a: Answer): FastifyReply {
  reply.code(a.status).header('Access-Control-Expose-Headers', EXPOSE);
  for (const [k, v] of Object.entries(a.headers)) reply.header(k, v);
  if (a.body === undefined) return reply.send();
  return reply.type(a.manifest ? 'application/json; charset=utf-8' : FHIR_JSON).send(JSON.stringify(a.body));
}

/** A single `bytes=a-b`, `bytes=a-` or `bytes=-n` range (§7.6); anything else is served whole, unsatisfiable → 416. */
function byteRange(header: string | undefined, size: number): ByteRange | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header?.trim() ?? '');
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  const start = m[1] === '' ? Math.max(0, size - Number(m[2])) : Number(m[1]);
  const end = m[1] === '' || m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start > end || start >= size) {
    const e = new FhirError(416, 'invalid', `Range ${header} is outside the file (${size} bytes)`);
    e.headers['Content-Range'] = `bytes */${size}`;
    throw e;
  }
  return { start, end };
}

async function download(deps: Deps, req: Req, reply: FastifyReply) {
  const { job, tenant } = await authorised(deps, req);
  const file = exportFile(job, req.params.file!);
  const range = req.headers.range;
  const opened = await exportStore(deps.config).read(tenant.slug, job.id, file.name, (size) => byteRange(range, size));
  if (!opened) throw new FhirError(404, 'not-found', `Export ${job.id} has no file ${file.name}`);
  reply.header('Access-Control-Expose-Headers', EXPOSE).header('Accept-Ranges', 'bytes').type('application/fhir+ndjson');
  if (opened.range) {
    const { start, end } = opened.range;
    reply.code(206).header('Content-Range', `bytes ${start}-${end}/${opened.size}`).header('Content-Length', end - start + 1);
    return reply.send(opened.stream);
  }
  if (/\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) {
    return reply.header('Content-Encoding', 'gzip').header('Vary', 'Origin, Accept-Encoding')
      .send(opened.stream.pipe(zlib.createGzip({ level: 1 })));
  }
  return reply.header('Content-Length', opened.size).send(opened.stream);
}

export function registerBulkFileRoutes(app: FastifyInstance, deps: Deps): void {
  app.route<{ Params: { tenant: string; job: string } }>({
    method: ['GET', 'DELETE'], url: '/fhir/:tenant/_bulk/:job',
    handler: async (req, reply) => {
      const { job, base, tenant } = await authorised(deps, req);
      return send(reply, req.method === 'DELETE' ? await cancelExport(deps, tenant, job) : exportStatus(deps, base, job));
    },
  });
  app.get<{ Params: { tenant: string; job: string; file: string } }>('/fhir/:tenant/_bulk/:job/:file', (req, reply) => download(deps, req, reply));
}
