/**
 * The candidate index of the subscription hook (subscriptions/matcher.ts CandidateIndex): a write is tested only
 * against the subscriptions its index rows could meet. It must never leave out one that matches (a lost
 * notification), and with one subscription per patient it must leave out the others.
 */
import t from 'tap';
import { loadDefinitions } from '../../src/fhir/definitions.js';
import type { Resource } from '../../src/fhir/types.js';
import { extractIndexRows } from '../../src/search/extract.js';
import { createSearchRegistry } from '../../src/search/registry.js';
import { CandidateIndex, matchInMemory } from '../../src/subscriptions/matcher.js';
import { subscriptionSpec } from '../../src/subscriptions/model.js';

const defs = loadDefinitions();
const registry = createSearchRegistry(defs);
const base = 'http://hearth.test/fhir/t';
const LOINC = 'http://loinc.org';

const spec = (id: string, criteria: string) => subscriptionSpec({ registry, defs, base }, { resourceType: 'Subscription', id,
  status: 'active', reason: 'test', criteria, channel: { type: 'rest-hook', endpoint: 'https://example.org/hook' } } as Resource, []);

const observation = (id: string, patient: string, code: string, status = 'final'): Resource => ({ resourceType: 'Observation', id,
  meta: { lastUpdated: '2026-12-08T00:00:00Z' }, status, subject: { reference: `Patient/${patient}` },
  code: { coding: [{ system: LOINC, code }] } } as Resource);

const specs = [
  spec('p1', 'Observation?subject=Patient/p1'),
  spec('p2', 'Observation?subject=Patient/p2'),
  spec('p3-or-p4', 'Observation?subject=Patient/p3,Patient/p4&status=final'),
  spec('code', `Observation?code=${LOINC}|1234-5`),
  spec('code-upper', 'Observation?code=ABC-1'),
  spec('all', 'Observation'),
  spec('not-final', 'Observation?status:not=final'),
  spec('typed', 'Observation?patient=Patient/p1&code=9999-9'),
];
const index = new CandidateIndex(specs);
const ids = (list: { id: string }[]) => list.map((s) => s.id);

t.test('a write is tested against the subscriptions filed under its values and those filed under none, in order', async (t) => {
  const rows = extractIndexRows(registry, observation('o1', 'p1', '1234-5'));
  t.same(ids(index.candidates(rows)), ['p1', 'code', 'all', 'not-final', 'typed']);
  t.same(ids(index.candidates(extractIndexRows(registry, observation('o2', 'p4', '0000-0')))), ['p3-or-p4', 'all', 'not-final'],
    'each value of an OR files the subscription');
  t.same(ids(index.candidates(extractIndexRows(registry, observation('o3', 'p9', 'abc-1')))), ['code-upper', 'all', 'not-final'],
    'token codes compare without case, as the search does');
});

t.test('no subscription that matches is ever left out', async (t) => {
  const patients = ['p1', 'p2', 'p3', 'p4', 'p9'];
  const codes = ['1234-5', 'ABC-1', 'abc-1', '9999-9', '0000-0'];
  let checked = 0;
  for (const p of patients) {
    for (const code of codes) {
      for (const status of ['final', 'preliminary']) {
        const resource = observation(`o-${p}-${code}-${status}`, p, code, status);
        const rows = extractIndexRows(registry, resource);
        const target = { type: 'Observation', resource, rows, registry, defs };
        const matching = specs.filter((s) => matchInMemory(s.conditions, target) !== false).map((s) => s.id);
        const candidates = ids(index.candidates(rows));
        t.ok(matching.every((id) => candidates.includes(id)), `${p} ${code} ${status}: ${matching} within ${candidates}`);
        checked++;
      }
    }
  }
  t.equal(checked, 50);
});

t.test('one subscription per patient: a write meets one candidate of a hundred', async (t) => {
  const many = new CandidateIndex(Array.from({ length: 100 }, (_, i) => spec(`s${i}`, `Observation?subject=Patient/p${i}`)));
  t.same(ids(many.candidates(extractIndexRows(registry, observation('x', 'p42', '1234-5')))), ['s42']);
  t.same(ids(many.candidates(extractIndexRows(registry, observation('y', 'nobody', '1234-5')))), []);
});
