/**
 * The error catalogue (issue 13 §5): every entry of src/errors.ts names a 4xx/5xx status and an R4 issue code and
 * builds errors that carry them; no other file of src/ builds a FhirError or an OperationOutcome by hand.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import * as errors from '../src/errors.js';
import { FhirError, ISSUE_CODES } from '../src/errors.js';

const ROOT = path.resolve(import.meta.dirname, '..');

/** Exports that build a FhirError from another failure rather than from an entry of their own. */
const DERIVED = new Set(['restated', 'frameworkRefusal']);

interface Entry { (...args: unknown[]): FhirError; status: number; code: string }
const isEntry = (v: unknown): v is Entry =>
  typeof v === 'function' && typeof (v as Partial<Entry>).status === 'number' && typeof (v as Partial<Entry>).code === 'string';

const entries = Object.entries(errors).filter(([, v]) => isEntry(v)) as [string, Entry][];

/** Arguments for entries the default ('x', 'y', 'z') does not suit. */
const SAMPLES: Record<string, unknown[]> = {
  invalidResource: [[]],
  invalidPatchedResource: [[]],
  invalidToken: ['bad token', true],
  nestedBundle: ['batch'],
  bundleTimedOut: ['batch', 1000, 3],
  fhirPathPatchInvalid: [1, 'x'],
  fhirPathPatchUnprocessable: [1, 'x'],
  exportTypesOutside: ['a Patient-level export', ['Organization']],
  exportThrottled: [1, 1, 30],
  apiThrottled: ['client', 600, 30],
  loginThrottled: [20, 30],
  rangeNotSatisfiable: ['bytes=9-', 4],
  exportInputRefused: ['not supported', '_type'],
  unknownSearchParameters: [['_foo', 'bar']],
};

t.test('every export of errors.ts is a catalogue entry, a derived error, or the vocabulary itself', async (t) => {
  t.ok(entries.length >= 50, `${entries.length} entries`);
  const other = Object.entries(errors).filter(([name, v]) => typeof v === 'function' && !isEntry(v) && !DERIVED.has(name))
    .map(([name]) => name);
  t.same(other, ['FhirError'], 'no factory outside the catalogue');
});

t.test('every entry names a 4xx/5xx status and an R4 issue code, and builds errors that carry them', async (t) => {
  for (const [name, entry] of entries) {
    t.ok(Number.isInteger(entry.status) && entry.status >= 400 && entry.status <= 599, `${name}: status ${entry.status}`);
    t.ok((ISSUE_CODES as readonly string[]).includes(entry.code), `${name}: issue code ${entry.code}`);
    const e = entry(...(SAMPLES[name] ?? ['x', 'y', 'z']));
    t.ok(e instanceof FhirError, `${name} builds a FhirError`);
    t.equal(e.status, entry.status, `${name}: the error answers the entry's status`);
    t.equal(e.issue, entry.code, `${name}: the error has the entry's issue code`);
    t.ok(e.message.length > 0 && e.issues[0]?.diagnostics === e.message, `${name}: diagnostics "${e.message}"`);
  }
});

t.test('entries that vary: headers, code overrides, the leading issue', async (t) => {
  t.equal(errors.invalidToken('bad', false).headers['WWW-Authenticate'], 'Bearer realm="fhir"');
  t.equal(errors.exportThrottled(1, 1, 30).headers['Retry-After'], '30');
  t.equal(errors.rangeNotSatisfiable('bytes=9-', 4).headers['Content-Range'], 'bytes */4');
  t.equal(errors.nestedBundle('transaction').issue, 'invalid');
  t.equal(errors.exportFailed('j1', { code: 'too-costly', message: 'too big' }).issue, 'too-costly');
  t.equal(errors.exportInputRefused('m', 'patient', 'not-found').issue, 'not-found');
  const issues = [{ severity: 'error' as const, code: 'value' as const, diagnostics: 'first', expression: ['Patient.x'] },
    { severity: 'warning' as const, code: 'invariant' as const, diagnostics: 'second' }];
  const invalid = errors.invalidResource(issues);
  t.same([invalid.status, invalid.issue, invalid.message, invalid.expression, invalid.issues.length], [400, 'value', 'first', ['Patient.x'], 2]);
  t.equal(errors.invalidPatchedResource(issues).status, 422);
  const unknown = errors.unknownSearchParameters(['_foo', 'bar']);
  t.same(unknown.issues.map((i) => i.expression), [['_foo'], ['bar']], 'one issue per unknown parameter');
  t.equal(errors.exportFileNotFound('j1', 'n'.repeat(200)).message, `Export j1 has no file ${'n'.repeat(80)}`);
});

t.test('derived errors keep what they derive from', async (t) => {
  const told = errors.restated(errors.conflict('first'), 'Transaction entry 0 failed: first', ['Bundle.entry[0]']);
  t.same([told.status, told.issue, told.message, told.expression], [409, 'conflict', 'Transaction entry 0 failed: first', ['Bundle.entry[0]']]);
  t.same([errors.frameworkRefusal(404, 'gone away').issue, errors.frameworkRefusal(405, 'no').issue], ['not-found', 'invalid']);
});

/** The .ts files under src/, relative to the repository. */
function sources(dir = 'src'): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(`${dir}/${e.name}`) : e.name.endsWith('.ts') ? [`${dir}/${e.name}`] : []);
}

t.test('no file of src/ but errors.ts builds a FhirError by hand', async (t) => {
  const offenders = sources().filter((f) => f !== 'src/errors.ts'
    && fs.readFileSync(path.join(ROOT, f), 'utf8').includes('new FhirError('));
  t.same(offenders, []);
});

t.test('no file of src/ but fhir/outcome.ts builds an OperationOutcome by hand', async (t) => {
  const offenders = sources().filter((f) => f !== 'src/fhir/outcome.ts'
    && /resourceType: 'OperationOutcome'/.test(fs.readFileSync(path.join(ROOT, f), 'utf8')));
  t.same(offenders, []);
});
