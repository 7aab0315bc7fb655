/** The R4 core terminology shipped in profiles/r4/terminology.json (scripts/r4-terminology.ts), read on first use. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Json } from './codesystem.js';

export const TERMINOLOGY_FILE = fileURLToPath(new URL('../../profiles/r4/terminology.json', import.meta.url));

export type Kind = 'CodeSystem' | 'ValueSet' | 'ConceptMap';

interface Core { byUrl: Map<string, Json>; conceptMaps: Json[] }
let core: Core | undefined;

function load(): Core {
  const { resources } = JSON.parse(readFileSync(TERMINOLOGY_FILE, 'utf8')) as { resources: Json[] };
  const byUrl = new Map<string, Json>();
  for (const r of resources) byUrl.set(`${String(r.resourceType)}|${String(r.url)}`, r);
  return { byUrl, conceptMaps: resources.filter((r) => r.resourceType === 'ConceptMap') };
}

/** A core resource by canonical url; the version, when given, must be the one shipped (4.0.1 for most). */
export function coreResource(type: Kind, url: string, version?: string): Json | undefined {
  core ??= load();
  const r = core.byUrl.get(`${type}|${url}`);
  return r && (version === undefined || r.version === version) ? r : undefined;
}

export function coreConceptMaps(): Json[] {
  core ??= load();
  return core.conceptMaps;
}
