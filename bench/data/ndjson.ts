/**
 * The generated patients as NDJSON for `$import` (bench import suite): every bundle entry's resource with the id of its
 * urn:uuid fullUrl, references to other entries rewritten to `Type/id`, one file per resource type.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Resource } from '../../src/fhir/types.js';
import { patientBundle } from './bundle.js';

function rewrite(value: unknown, ids: Map<string, string>): unknown {
  if (Array.isArray(value)) return value.map((v) => rewrite(v, ids));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) =>
      [k, k === 'reference' && typeof v === 'string' && ids.has(v) ? ids.get(v) : rewrite(v, ids)]));
  }
  return value;
}

/** Writes patients [from, to) into `dir`/<Type>.ndjson (appending); answers the lines written. */
export function writeNdjson(seed: number, from: number, to: number, dir: string): number {
  const lines = new Map<string, string[]>();
  let n = 0;
  for (let i = from; i < to; i++) {
    const { bundle } = patientBundle(seed, i);
    const entries = (bundle.entry ?? []) as { fullUrl: string; resource: Resource }[];
    const ids = new Map(entries.map((e) => [e.fullUrl, `${e.resource.resourceType}/${e.fullUrl.slice('urn:uuid:'.length)}`]));
    for (const e of entries) {
      const resource = { ...(rewrite(e.resource, ids) as Resource), id: e.fullUrl.slice('urn:uuid:'.length) };
      const list = lines.get(resource.resourceType) ?? [];
      list.push(JSON.stringify(resource));
      lines.set(resource.resourceType, list);
      n++;
    }
  }
  fs.mkdirSync(dir, { recursive: true });
  for (const [type, list] of lines) fs.appendFileSync(path.join(dir, `${type}.ndjson`), `${list.join('\n')}\n`);
  return n;
}
