/** Starts a bench/server.ts child process and calls it over IPC; its stdout (Hearth's request log) goes to a file. */
import { type ChildProcess, fork } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildOptions } from './ipc.js';

const BENCH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ENTRY = { hearth: path.join(BENCH, 'server.ts'), raw: path.join(BENCH, 'raw-server.ts') };

interface Reply { id: number; ok: boolean; result?: unknown; error?: string }

export class Child {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  private constructor(readonly proc: ChildProcess, readonly logFile: string) {
    proc.on('message', (m: Reply) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(`child ${proc.pid}: ${m.error}`));
    });
    proc.on('exit', (code) => {
      for (const p of this.pending.values()) p.reject(new Error(`child exited (${code}); see ${logFile}`));
      this.pending.clear();
    });
  }

  get pid(): number {
    return this.proc.pid!;
  }

  /** Spawns the child and waits until it has started (or failed to). */
  static async start(options: ChildOptions, logFile: string): Promise<Child> {
    const log = fs.openSync(logFile, 'a');
    const proc = fork(ENTRY[options.role], [], {
      // --expose-gc: the driver collects garbage before each measured phase, so a suite's peak is its own.
      execArgv: ['--import', 'tsx', '--expose-gc', ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [])],
      env: { ...process.env, BENCH_CHILD: JSON.stringify(options) },
      stdio: ['ignore', log, log, 'ipc'],
    });
    fs.closeSync(log);
    await new Promise<void>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`${options.role} server exited (${code}) while starting:\n`
        + fs.readFileSync(logFile, 'utf8').slice(-2000)));
      proc.once('exit', onExit);
      proc.once('message', () => { proc.off('exit', onExit); resolve(); });
    });
    return new Child(proc, logFile);
  }

  call<T>(op: string, args: unknown = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.proc.send({ id, op, args });
    });
  }

  /** Asks the child to clean up (drop its tenant or scratch schema), then waits for it to exit. */
  async stop(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    const exited = new Promise((r) => this.proc.once('exit', r));
    try {
      await this.call('teardown');
    } finally {
      this.proc.disconnect();
      const timer = setTimeout(() => this.proc.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
  }
}
