/** Generator CLI: deterministic Synthea-shaped transaction Bundles, one per patient (`--patients N --out DIR`). */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { DEFAULT_SEED, patientBundle } from './data/bundle.js';

export { DEFAULT_SEED, NOW, patientBundle, type PatientBundle } from './data/bundle.js';

/** Resources per type over patients [0, patients), and their sum. */
export function countResources(seed: number, patients: number): { total: number; byType: Record<string, number> } {
  const byType: Record<string, number> = {};
  let total = 0;
  for (let i = 0; i < patients; i++) {
    for (const e of patientBundle(seed, i).bundle.entry ?? []) {
      const t = e.resource!.resourceType;
      byType[t] = (byType[t] ?? 0) + 1;
      total++;
    }
  }
  return { total, byType };
}

function main(): void {
  const { values } = parseArgs({ options: {
    patients: { type: 'string', default: '10' },
    seed: { type: 'string', default: String(DEFAULT_SEED) },
    out: { type: 'string' },
  } });
  const patients = Number(values.patients);
  const seed = Number(values.seed);
  if (!Number.isInteger(patients) || patients < 1 || !Number.isInteger(seed)) {
    throw new Error('usage: generate.ts [--patients N] [--seed N] [--out DIR]');
  }
  if (values.out) {
    fs.mkdirSync(values.out, { recursive: true });
    for (let i = 0; i < patients; i++) {
      const file = path.join(values.out, `patient-${String(i).padStart(7, '0')}.json`);
      fs.writeFileSync(file, JSON.stringify(patientBundle(seed, i).bundle));
    }
  }
  const { total, byType } = countResources(seed, patients);
  console.log(JSON.stringify({ seed, patients, resources: total, perPatient: +(total / patients).toFixed(1), byType }));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
