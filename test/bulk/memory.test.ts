/**
 * An export of ≥ 200,000 resources with flat memory (issue #7 §5, §7): the job streams keyset pages into its files,
 * so the heap grows by about one page, not by the export's size. The rows go straight into the tenant table
 * (INSERT … SELECT generate_series): a system export needs no index rows, and the write path would take minutes here.
 */
import { runInNewContext } from 'node:vm';
import v8 from 'node:v8';
import t from 'tap';
import { localPath, runJobs, seedResources, startBulkServer } from './helpers.js';

const N = 200_000;
const BYTES = 600;
const MB = 1024 * 1024;

v8.setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

t.test(`exporting ${N.toLocaleString('en')} resources keeps the heap flat`, async (t) => {
  const s = await startBulkServer(t);
  await seedResources(s, N, { bytes: BYTES });
  const kick = await s.request('GET', '$export');
  t.equal(kick.statusCode, 202);
  gc();
  const before = process.memoryUsage();
  let peakHeap = before.heapUsed;
  let peakRss = before.rss;
  let peakLive = before.heapUsed;
  let ticks = 0;
  const sampler = setInterval(() => {
    // Every tick the heap as it is (garbage included); every 50th, what is still live after a full collection.
    if (++ticks % 50 === 0) gc();
    const m = process.memoryUsage();
    if (ticks % 50 === 0) peakLive = Math.max(peakLive, m.heapUsed);
    peakHeap = Math.max(peakHeap, m.heapUsed);
    peakRss = Math.max(peakRss, m.rss);
  }, 20);
  const t0 = Date.now();
  try {
    t.equal(await runJobs(s), 1);
  } finally {
    clearInterval(sampler);
  }
  const seconds = (Date.now() - t0) / 1000;
  const manifest = (await s.request('GET', localPath(String(kick.headers['content-location'])))).json();
  const count = manifest.output.reduce((n: number, o: { count: number }) => n + o.count, 0);
  t.equal(count, N, 'every resource exported');
  const bytes = (await Promise.all(manifest.output.map(async (o: { url: string }) =>
    Number((await s.request('GET', localPath(o.url), { headers: { range: 'bytes=0-0' } })).headers['content-range']!.toString().split('/')[1])))).reduce((a, b) => a + b, 0);
  gc();
  const retained = (process.memoryUsage().heapUsed - before.heapUsed) / MB;
  const heapGrowth = (peakHeap - before.heapUsed) / MB;
  const liveGrowth = (peakLive - before.heapUsed) / MB;
  const rssGrowth = (peakRss - before.rss) / MB;
  t.comment(`${s.deps.db.kind}: ${N} resources, ${Math.round(bytes / MB)} MB of NDJSON in ${seconds.toFixed(1)} s `
    + `(${Math.round(N / seconds)}/s); heap +${heapGrowth.toFixed(1)} MB at peak, `
    + `live heap +${liveGrowth.toFixed(1)} MB at most, +${retained.toFixed(1)} MB after, `
    + `RSS +${rssGrowth.toFixed(1)} MB`);
  t.ok(bytes > 100 * MB, 'the files hold over 100 MB');
  // What the export holds is bounded by a page; what V8 lets pile up as garbage before collecting depends on its
  // heuristics (measured +24…+200 MB here), so the peaks get a generous bound and the live heap a tight one.
  t.ok(liveGrowth < 32, `live heap grew ${liveGrowth.toFixed(1)} MB at most (< 32 MB: about a page)`);
  t.ok(retained < 8, `nothing kept after the export (+${retained.toFixed(1)} MB)`);
  t.ok(heapGrowth < 320, `heap peak +${heapGrowth.toFixed(1)} MB, garbage included (< 320 MB)`);
  t.ok(rssGrowth < 320, `RSS grew ${rssGrowth.toFixed(1)} MB (< 320 MB)`);
});
