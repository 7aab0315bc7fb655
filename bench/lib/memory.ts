/**
 * Peak RSS of a server process during one phase. On Linux the kernel's high-water mark (VmHWM) is reset through
 * /proc/<pid>/clear_refs and read afterwards, so no peak is missed; elsewhere the RSS is sampled every 50 ms over IPC.
 * A full garbage collection first keeps what earlier phases left behind from counting as this phase's peak.
 */
import fs from 'node:fs';
import type { Child } from './child.js';

function resetHighWater(pid: number): boolean {
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

function highWaterMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Runs fn and returns its result with the child's peak RSS (MB) while it ran. */
export async function peakRss<T>(child: Child, fn: () => Promise<T>): Promise<{ result: T; rssMb: number }> {
  await child.call('gc');
  if (resetHighWater(child.pid)) {
    const result = await fn();
    return { result, rssMb: highWaterMb(child.pid) };
  }
  let peak = await child.call<number>('rss');
  const timer = setInterval(() => { child.call<number>('rss').then((r) => { peak = Math.max(peak, r); }, () => undefined); }, 50);
  try {
    const result = await fn();
    peak = Math.max(peak, await child.call<number>('rss'));
    return { result, rssMb: peak / 1024 / 1024 };
  } finally {
    clearInterval(timer);
  }
}
