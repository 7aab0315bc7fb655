// Loads Synthea fixture bundles through the API and keeps the file contents, so tests compute expected search results from the files themselves.
import fs from 'node:fs';
import path from 'node:path';
import type { Bundle, Resource } from '../../src/fhir/types.js';
import type { TestServer } from '../helpers/server.js';

export const SYNTHEA = path.resolve(import.meta.dirname, '../fixtures/synthea');
export const PATIENT_FILES = ['Andrea_Dach_76f26ce3-5aac-4b16-ac35-321ff6a7f63c.json', 'Gustavo_Mejía_59a8543c-e24f-4a01-b28b-47ccde6bc11d.json',
  'Luigi_Wiegand_e27d88b0-c5e5-4042-ad49-184f6a900ee3.json'];

/** A resource as in the file, with the id the server assigned and the file's fullUrl. */
export interface Item { resource: Resource & Record<string, unknown>; fullUrl: string; ref: string; id: string; file: string }

export interface Loaded {
  items: Item[];
  of(type: string): Item[];
  /** The server's `Type/id` for a reference written in the file (urn:uuid:… or already Type/id). */
  target(reference: string | undefined): string | undefined;
}

/** POSTs each bundle as a transaction; the response's locations (same order as the entries) give the new ids. */
export async function loadBundles(s: TestServer, files: string[], dir = SYNTHEA): Promise<Loaded> {
  const items: Item[] = [];
  const byFullUrl = new Map<string, string>();
  for (const file of files) {
    const text = fs.readFileSync(path.join(dir, file), 'utf8');
    const res = await s.request('POST', '', { body: text, headers: { prefer: 'return=minimal' } });
    if (res.statusCode !== 200) throw new Error(`${file}: ${res.statusCode} ${res.body.slice(0, 300)}`);
    const out = (res.json() as Bundle).entry!;
    (JSON.parse(text) as Bundle).entry!.forEach((e, n) => {
      const ref = out[n]!.response!.location!.replace(/^.*\/fhir\/[^/]+\//, '').replace(/\/_history\/.*$/, '');
      byFullUrl.set(e.fullUrl!, ref);
      items.push({ resource: e.resource as Item['resource'], fullUrl: e.fullUrl!, ref, id: ref.split('/')[1]!, file });
    });
  }
  return {
    items,
    of: (type) => items.filter((i) => i.resource.resourceType === type),
    target: (reference) => (reference === undefined ? undefined : byFullUrl.get(reference) ?? reference),
  };
}

/** Case-, accent- and punctuation-insensitive form, written here independently of the server's. */
export const fold = (s: string): string =>
  s.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase().replace(/[^\p{L}\p{N}\s]/gu, ' ').replace(/\s+/g, ' ').trim();

type Json = Record<string, unknown>;
/** Every value at a dotted path, flattening arrays (a tiny stand-in for FHIRPath in expectations). */
export function values(node: unknown, dotted: string): unknown[] {
  let current: unknown[] = [node];
  for (const key of dotted.split('.')) {
    current = current.flatMap((n) => (n && typeof n === 'object' ? [(n as Json)[key]] : [])).flatMap((v) => (Array.isArray(v) ? v : [v]))
      .filter((v) => v !== undefined && v !== null);
  }
  return current;
}

/** The total of a search, and the ids of its match entries (all pages followed). */
export async function searchAll(s: TestServer, query: string): Promise<{ status: number; total?: number; ids: string[]; body: Json }> {
  const ids: string[] = [];
  let url: string | undefined = query;
  let first: { statusCode: number; json(): Json } | undefined;
  while (url) {
    const res = await s.request('GET', url.startsWith(s.url) ? url.slice(s.url.length + 1) : url);
    first ??= res;
    if (res.statusCode !== 200) break;
    const b = res.json() as Bundle;
    ids.push(...(b.entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => `${e.resource!.resourceType}/${e.resource!.id}`));
    url = b.link?.find((l) => l.relation === 'next')?.url;
  }
  const body = first!.json();
  return { status: first!.statusCode, ...(typeof body.total === 'number' ? { total: body.total } : {}), ids, body };
}
