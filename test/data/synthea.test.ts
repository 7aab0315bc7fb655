import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import type { Bundle, BundleEntry } from '../../src/fhir/types.js';
import { startServer } from '../helpers/server.js';

const dir = path.resolve(import.meta.dirname, '../fixtures/synthea');
const read = (f: string) => fs.readFileSync(path.join(dir, f), 'utf8');

/** Resource counts per type, computed from the bundle file itself. */
function countsInFile(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const e of (JSON.parse(text) as Bundle).entry ?? []) {
    const type = e.resource!.resourceType;
    counts.set(type, (counts.get(type) ?? 0) + 1);
  }
  return counts;
}

t.test('self-contained Synthea bundles load as transactions; stored counts equal the files', async (t) => {
  const s = await startServer(t);
  for (const file of fs.readdirSync(dir).filter((f) => !f.startsWith('0-') && !/^[0-9a-f]{8}-/.test(f))) {
    const tenant = await s.newTenant();
    const text = read(file);
    const res = await s.request('POST', `/fhir/${tenant}`, { body: text, headers: { prefer: 'return=minimal' } });
    t.equal(res.statusCode, 200, `${file} loads`);
    for (const [type, count] of countsInFile(text)) {
      const total = (await s.request('GET', `/fhir/${tenant}/${type}/_history?_count=0`)).json().total;
      t.equal(total, count, `${file}: ${type} ${count}`);
    }
    const out = res.json() as Bundle;
    const obs = out.entry!.find((e: BundleEntry) => e.response?.location?.includes('/Observation/'))!;
    const stored = (await s.request('GET', obs.response!.location!.replace(/^.*\/fhir\/[^/]+\//, `/fhir/${tenant}/`))).json();
    t.match(stored.subject.reference, /^Patient\/[0-9a-f-]{36}$/, 'urn:uuid subject rewritten to Patient/<id>');
  }
});

t.test('support batches, then a patient with conditional references resolving to real ids', async (t) => {
  const s = await startServer(t);
  for (const f of ['0-hospitalInformation1625911868739.json', '0-practitionerInformation1625911868739.json']) {
    const res = await s.request('POST', '', { body: read(f), headers: { prefer: 'return=minimal' } });
    t.equal(res.statusCode, 200);
    const failed = (res.json() as Bundle).entry!.filter((e) => !e.response!.status.startsWith('201'));
    t.same(failed, [], `${f}: every entry created`);
  }
  const file = '8a4c9c04-1524-9f1c-d65b-9b17e4520fef.json';
  const text = read(file);
  const res = await s.request('POST', '', { body: text });
  t.equal(res.statusCode, 200, 'the patient bundle loads');
  const stored = (res.json() as Bundle).entry!.map((e) => e.resource!);
  const refs = JSON.stringify(stored).match(/"reference":"[^"]*"/g) ?? [];
  t.ok(refs.length > 0);
  t.same(refs.filter((r) => r.includes('?') || r.includes('urn:uuid')), [], 'no conditional or urn:uuid reference left');
  const enc = stored.find((r) => r.resourceType === "Encounter") as unknown as { serviceProvider: { reference: string } };
  const org = await s.request('GET', enc.serviceProvider.reference);
  t.equal(org.statusCode, 200, 'the resolved Organization exists');
  for (const [type, count] of countsInFile(text)) {
    const total = (await s.request('GET', `${type}/_history?_count=0`)).json().total;
    if (!['Organization', 'Location', 'Practitioner', 'PractitionerRole'].includes(type)) t.equal(total, count, `${type} ${count}`);
  }
});
