/**
 * CPU time of the processes that serve a round (Linux /proc; elsewhere nothing is reported): the Hearth child and,
 * on PostgreSQL running on this machine, every postgres process (backends, WAL writer, checkpointer). Per request
 * it shows where a difference between two rounds is spent — e.g. what auditing costs in Node and in the database.
 */
import fs from 'node:fs';
import os from 'node:os';

const TICK_US = 1e6 / 100; // USER_HZ is 100 on Linux

/** utime + stime of one process in µs; undefined if it cannot be read. */
function processUs(pid: number | string): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_US;
  } catch {
    return undefined;
  }
}

function postgresUs(): number | undefined {
  if (os.platform() !== 'linux') return undefined;
  let total = 0;
  let found = false;
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let comm: string;
    try {
      comm = fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    } catch {
      continue; // ended meanwhile
    }
    if (comm !== 'postgres') continue;
    const us = processUs(pid);
    if (us !== undefined) { total += us; found = true; }
  }
  return found ? total : undefined;
}

export interface CpuSample { node?: number; postgres?: number }

export function sampleCpu(pid: number): CpuSample {
  if (os.platform() !== 'linux') return {};
  const node = processUs(pid);
  const postgres = postgresUs();
  return { ...(node !== undefined ? { node } : {}), ...(postgres !== undefined ? { postgres } : {}) };
}

/** µs of CPU between two samples, by side; a side missing from either sample is left out. */
export function cpuSpent(before: CpuSample, after: CpuSample): CpuSample {
  const d = (k: keyof CpuSample) => (before[k] !== undefined && after[k] !== undefined ? after[k]! - before[k]! : undefined);
  const node = d('node');
  const postgres = d('postgres');
  return { ...(node !== undefined ? { node } : {}), ...(postgres !== undefined ? { postgres } : {}) };
}
