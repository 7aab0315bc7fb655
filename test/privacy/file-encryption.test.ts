/**
 * Encrypted files (issue #17 §1): Bulk export output is sealed on disk frame by frame under the tenant's data key;
 * downloads, ranges and gzip serve the NDJSON text; a changed byte, swapped frames, a truncated file or a file copied
 * into another export answer 500 naming the file, before any byte is sent; a tenant in clear writes clear files.
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import t from 'tap';
import { schemaFor } from '../../src/storage/tenants.js';
import { bearer, exportFiles, jobOf, localPath, runExportJobWith, seedResources, startBulkServer } from '../bulk/helpers.js';

const NAME = 'Fennimore-Quillfeather';
const s = await startBulkServer(t);
await seedResources(s, 60);
// Seeded resources carry no names: one Patient with a distinctive one, through the API.
const put = await s.request('PUT', 'Patient/named', { body: { resourceType: 'Patient', id: 'named', name: [{ family: NAME }] } });
if (put.statusCode !== 201) throw new Error(put.body);

/** A finished export of the tenant, run in pages of 7 rows: a frame per page and file. */
async function exportNow() {
  const kick = await s.request('GET', '$export', { headers: { prefer: 'respond-async' } });
  const status = localPath(String(kick.headers['content-location']));
  const outcome = await runExportJobWith(s, { pageSize: 7, checkpointMs: 0 }, async () => undefined);
  if (outcome !== 'completed') throw new Error(`the export ${outcome}`);
  const manifest = (await s.request('GET', status)).json() as { output: { type: string; url: string }[] };
  return { job: jobOf(status), manifest };
}

const { job, manifest } = await exportNow();
const patients = manifest.output.find((o) => o.type === 'Patient')!;
const fileOf = (url: string, j = job) => path.join(s.exportDir, s.slug, j, path.basename(url));
const text = await exportFiles(s, job);
const patientText = text.get(path.basename(patients.url))!.toString('utf8');
const token = await s.token('system/*.rs');
const download = (url: string, headers: Record<string, string> = {}) => s.request('GET', localPath(url), { headers: { ...bearer(token), ...headers } });

/** The frames of a sealed file: [offset, length with its 4-byte prefix]. */
function frames(buf: Buffer): [number, number][] {
  const out: [number, number][] = [];
  for (let at = 16; at < buf.length; at += 4 + buf.readUInt32BE(at)) out.push([at, 4 + buf.readUInt32BE(at)]);
  return out;
}

t.test('export files on disk hold no clear text; downloads, ranges and gzip serve the text', async (t) => {
  t.match(patientText, new RegExp(NAME), 'the name is in the exported text');
  for (const o of manifest.output) {
    const raw = fs.readFileSync(fileOf(o.url));
    t.ok(raw.subarray(0, 16).equals(Buffer.from('HEARTH-SEALED-1\n')), `${o.type}: sealed`);
    t.notOk(raw.includes(NAME) || raw.includes('resourceType') || raw.includes(o.type), `${o.type}: nothing readable on disk`);
  }
  const raw = fs.readFileSync(fileOf(patients.url));
  t.ok(frames(raw).length >= 3, 'a frame per page: several');
  const whole = await download(patients.url);
  t.equal(whole.statusCode, 200);
  t.equal(whole.body, patientText);
  t.equal(Number(whole.headers['content-length']), Buffer.byteLength(patientText), 'Content-Length is of the text');
  // A range straddling frames, one at the end, and a suffix range.
  const size = Buffer.byteLength(patientText);
  for (const [range, start, end] of [[`bytes=100-${size - 100}`, 100, size - 100], [`bytes=${size - 5}-`, size - 5, size - 1],
    ['bytes=-30', size - 30, size - 1]] as const) {
    const part = await download(patients.url, { range });
    t.equal(part.statusCode, 206, range);
    t.equal(part.headers['content-range'], `bytes ${start}-${end}/${size}`);
    t.equal(part.body, Buffer.from(patientText).subarray(start, end + 1).toString('utf8'), `${range}: the very bytes`);
  }
  const gz = await s.request('GET', localPath(patients.url), { headers: { authorization: `Bearer ${token}`, 'accept-encoding': 'gzip' } });
  t.equal(zlib.gunzipSync(gz.rawPayload).toString('utf8'), patientText);
});

t.test('a changed byte, swapped frames, a cut file or a file from another export answer 500 naming the file', async (t) => {
  const file = fileOf(patients.url);
  const original = fs.readFileSync(file);
  const name = path.basename(file);
  const expect500 = async (what: string, headers: Record<string, string> = {}) => {
    const res = await download(patients.url, headers);
    t.equal(res.statusCode, 500, what);
    t.equal(res.json().resourceType, 'OperationOutcome');
    t.match(res.json().issue[0].diagnostics, new RegExp(`${name} cannot be read`));
    t.notMatch(res.body, new RegExp(NAME), 'nothing of the file');
  };
  t.teardown(() => fs.writeFileSync(file, original));

  const changed = Buffer.from(original);
  changed[original.length - 3] ^= 1;
  fs.writeFileSync(file, changed);
  await expect500('a changed byte in the last frame', { range: 'bytes=-3' });

  const [a, b] = frames(original);
  const swapped = Buffer.concat([original.subarray(0, a![0]), original.subarray(b![0], b![0] + b![1]),
    original.subarray(a![0], a![0] + a![1]), original.subarray(b![0] + b![1])]);
  t.equal(swapped.length, original.length);
  fs.writeFileSync(file, swapped);
  await expect500('the first two frames swapped');

  fs.writeFileSync(file, original.subarray(0, original.length - 10));
  await expect500('a cut file');

  // The same file of another export of the same tenant: bound to its own job, it does not open as this one.
  const other = await exportNow();
  fs.writeFileSync(file, fs.readFileSync(fileOf(patients.url, other.job)));
  await expect500('a file copied from another export');

  fs.writeFileSync(file, original);
  t.equal((await download(patients.url)).body, patientText, 'the original reads again');
});

t.test('a tenant without a data key writes its files in clear', async (t) => {
  const clear = await s.newTenant();
  await s.deps.db.keyring.destroyKeys(s.deps.db, schemaFor(clear)); // as made with HEARTH_ENCRYPTION=off
  t.equal((await s.request('PUT', `/fhir/${clear}/Patient/c`, { body: { resourceType: 'Patient', id: 'c', name: [{ family: NAME }] } })).statusCode, 201);
  const srv = { ...s, slug: clear };
  const kick = await s.request('GET', `/fhir/${clear}/$export`, { headers: { prefer: 'respond-async' } });
  const status = localPath(String(kick.headers['content-location']));
  t.equal(await runExportJobWith(srv, { pageSize: 7, checkpointMs: 0 }, async () => undefined), 'completed');
  const out = (await s.request('GET', status, { headers: { authorization: `Bearer ${await s.token('system/*.rs', { slug: clear })}` } })).json();
  const raw = fs.readFileSync(path.join(s.exportDir, clear, jobOf(status), path.basename(out.output[0].url)));
  t.match(raw.toString('utf8'), new RegExp(NAME), 'in clear on disk, as its rows are');
});
