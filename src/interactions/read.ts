/** FHIR read — https://hl7.org/fhir/R4/http.html#read (with conditional read, #cread) */
import { gone, insufficientScope, notFound } from '../errors.js';
import { etag, parseHttpDate, parseVersionTag } from '../fhir/etag.js';
import { readCurrent, type Versioned } from '../storage/resources.js';
import type { Context, Deps } from './context.js';
import type { FhirRequest, FhirResult } from '../fhir/request.js';

export function versionUrl(ctx: Context, v: Versioned): string {
  return `${ctx.base}/${v.type}/${v.id}/_history/${v.versionId}`;
}

/** 200 with the version's resource and its headers. */
export function versionResult(ctx: Context, v: Versioned, status = 200): FhirResult {
  return { status, ...(v.resource ? { body: v.resource } : {}), etag: etag(v.versionId), lastModified: v.lastUpdated,
    contentLocation: versionUrl(ctx, v) };
}

/** If-None-Match / If-Modified-Since → true when the client's copy is current (304). */
function notModified(req: FhirRequest, v: Versioned): boolean {
  const { ifNoneMatch, ifModifiedSince } = req.headers;
  if (ifNoneMatch !== undefined) {
    if (ifNoneMatch.trim() === '*') return true;
    return ifNoneMatch.split(',').some((tag) => parseVersionTag(tag, 'If-None-Match') === v.versionId);
  }
  if (ifModifiedSince !== undefined) {
    const since = parseHttpDate(ifModifiedSince, 'If-Modified-Since');
    return Math.floor(v.lastUpdated.getTime() / 1000) <= Math.floor(since.getTime() / 1000);
  }
  return false;
}

/**
 * A token narrowed to a compartment or constraint sees only matching live resources. Outside them a patient-bound
 * token (launch patient or patient user), or a role confined to related patients, gets 404 whether or not the
 * resource exists; a user/system token whose
 * query-restricted scope does not match gets 403 (project decisions, smart-app-launch.md §8.7, §9.5). Deleted
 * resources are outside every narrowing.
 */
export async function checkVisible(deps: Deps, ctx: Context, type: string, id: string, v?: Versioned): Promise<void> {
  const access = ctx.access;
  if (!access || access.narrowing(type, 'r') === null) return;
  if (!v?.deleted && (await access.visible(ctx.tx ?? deps.db, type, id, 'r'))) return;
  unseen(access, type, id);
}

function unseen(access: NonNullable<Context['access']>, type: string, id: string): never {
  if (access.hidesUnseen(type, 'r')) throw notFound(type, id);
  throw insufficientScope(`${type}.r within the scope's constraint`);
}

export async function read(deps: Deps, ctx: Context, req: FhirRequest, type: string, id: string): Promise<FhirResult> {
  const db = ctx.tx ?? deps.db;
  // Under a narrowing token the row and its visibility come in one statement.
  const { v, visible } = ctx.access ? await ctx.access.readCurrent(db, type, id)
    : { v: await readCurrent(db, ctx.tenant.schema, type, id), visible: true };
  if (!v) throw notFound(type, id);
  if (ctx.access && !visible && ctx.access.narrowing(type, 'r') !== null) unseen(ctx.access, type, id);
  if (v.deleted) throw gone(type, id);
  if (notModified(req, v)) return { status: 304, etag: etag(v.versionId), lastModified: v.lastUpdated };
  return versionResult(ctx, v);
}
