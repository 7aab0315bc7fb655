/**
 * FHIR NPM packages into a tenant (issue #15 §4) — https://confluence.hl7.org/display/FHIR/NPM+Package+Specification:
 * the `.tgz` an implementation guide is published as. The package's conformance resources (CodeSystems, ValueSets,
 * ConceptMaps, StructureDefinitions, under `package/`) are written in one transaction, each as a conditional update on
 * its canonical url, dependencies first; every write is checked as any other (a profile naming a definition neither
 * the package nor the tenant has is refused with that url), so a bad package changes nothing.
 */
import { Parser, type ReadEntry } from 'tar';
import { badRequest } from '../errors.js';
import type { Resource } from '../fhir/types.js';
import type { Context, Deps } from '../interactions/context.js';
import { dispatch } from '../interactions/dispatch.js';

type Json = Record<string, unknown>;

/** Guards against archive bombs: entries, and bytes unpacked in all. */
const MAX_ENTRIES = 20_000;
const MAX_UNPACKED = 512 * 1024 * 1024;

const INSTALLED = ['CodeSystem', 'ValueSet', 'ConceptMap', 'StructureDefinition'] as const;

export interface PackageContents { name: string; version: string; resources: Json[]; skipped: number }

export interface PackageReport { name: string; version: string; installed: Record<string, number>; skipped: number }

/** Reads the package's package.json and the resources directly under package/ (examples and other folders are left out). */
export async function readPackage(tgz: Buffer): Promise<PackageContents> {
  const files = new Map<string, Buffer>();
  let entries = 0;
  let unpacked = 0;
  let failure: Error | undefined;
  await new Promise<void>((resolve) => {
    const parser = new Parser({
      onReadEntry: (entry: ReadEntry) => {
        entries++;
        const path = entry.path.replace(/^\.\//, '');
        if (entries > MAX_ENTRIES) failure ??= badRequest(`The package has more than ${MAX_ENTRIES} files`);
        if (failure || entry.type !== 'File' || !/^package\/[^/]+\.json$/.test(path)) { entry.resume(); return; }
        const chunks: Buffer[] = [];
        entry.on('data', (c: Buffer) => {
          unpacked += c.length;
          if (unpacked > MAX_UNPACKED) failure ??= badRequest(`The package unpacks to more than ${MAX_UNPACKED} bytes`);
          else chunks.push(c);
        });
        entry.on('end', () => files.set(path, Buffer.concat(chunks)));
      },
    });
    parser.on('error', () => { failure ??= badRequest('The file is not a gzipped tar archive (a FHIR NPM package .tgz)'); resolve(); });
    parser.on('warn', (code: string) => { if (code === 'TAR_BAD_ARCHIVE') failure ??= badRequest('The file is not a gzipped tar archive (a FHIR NPM package .tgz)'); });
    parser.on('end', () => resolve());
    parser.end(tgz);
  });
  if (failure) throw failure;
  const manifest = files.get('package/package.json');
  if (!manifest) throw badRequest('Not a FHIR package: package/package.json is missing');
  const meta = parseJson(manifest, 'package/package.json');
  if (typeof meta.name !== 'string' || typeof meta.version !== 'string') throw badRequest('package/package.json needs a name and a version');
  const resources: Json[] = [];
  let skipped = 0;
  for (const [path, data] of [...files].sort(([a], [b]) => a.localeCompare(b))) {
    if (path === 'package/package.json' || path.endsWith('/.index.json')) continue;
    const r = parseJson(data, path);
    if ((INSTALLED as readonly string[]).includes(String(r.resourceType)) && typeof r.url === 'string') resources.push(r);
    else skipped++;
  }
  return { name: meta.name, version: meta.version, resources: order(resources), skipped };
}

function parseJson(data: Buffer, path: string): Json {
  try {
    const v = JSON.parse(data.toString('utf8')) as unknown;
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Json;
  } catch { /* reported below */ }
  throw badRequest(`${path} in the package is not a JSON object`);
}

/** The canonical urls a StructureDefinition depends on: its base and the profiles its elements name. */
function dependencies(sd: Json): string[] {
  const elements = [...((sd.differential as Json | undefined)?.element as Json[] | undefined ?? []),
    ...((sd.snapshot as Json | undefined)?.element as Json[] | undefined ?? [])];
  const refs = elements.flatMap((e) => ((e.type as Json[] | undefined) ?? [])
    .flatMap((t) => [...(t.profile as string[] | undefined ?? []), ...(t.targetProfile as string[] | undefined ?? [])]));
  return [...new Set([String(sd.baseDefinition ?? ''), ...refs].filter(Boolean).map((u) => u.split('|')[0]!))];
}

/** Terminology first, then StructureDefinitions each after the package's definitions it depends on (cycles: as listed). */
function order(resources: Json[]): Json[] {
  const rank = (r: Json) => INSTALLED.indexOf(r.resourceType as (typeof INSTALLED)[number]);
  const terminology = resources.filter((r) => r.resourceType !== 'StructureDefinition').sort((a, b) => rank(a) - rank(b));
  const sds = resources.filter((r) => r.resourceType === 'StructureDefinition');
  const byUrl = new Map(sds.map((sd) => [String(sd.url), sd]));
  const out: Json[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (sd: Json) => {
    const url = String(sd.url);
    if (state.has(url)) return;
    state.set(url, 'visiting');
    for (const dep of dependencies(sd)) {
      const d = byUrl.get(dep);
      if (d && d !== sd) visit(d);
    }
    state.set(url, 'done');
    out.push(sd);
  };
  for (const sd of sds) visit(sd);
  return [...terminology, ...out];
}

/** Installs a package's resources into the tenant in one transaction: all of them, or none (the error says why). */
export async function installPackage(deps: Deps, ctx: Context, tgz: Buffer): Promise<PackageReport> {
  const pkg = await readPackage(tgz);
  if (pkg.resources.length === 0) throw badRequest(`Package ${pkg.name}#${pkg.version} holds no CodeSystem, ValueSet, ConceptMap or StructureDefinition`);
  const entry = pkg.resources.map((r) => {
    const { id: _id, meta: _meta, ...resource } = r;
    return { resource, request: { method: 'PUT', url: `${String(r.resourceType)}?url=${encodeURIComponent(String(r.url))}` } };
  });
  const body = { resourceType: 'Bundle', type: 'transaction', entry } as unknown as Resource;
  await dispatch(deps, ctx, { method: 'POST', path: '', query: [], headers: { contentType: 'application/fhir+json' }, body });
  const installed: Record<string, number> = {};
  for (const r of pkg.resources) installed[String(r.resourceType)] = (installed[String(r.resourceType)] ?? 0) + 1;
  return { name: pkg.name, version: pkg.version, installed, skipped: pkg.skipped };
}
