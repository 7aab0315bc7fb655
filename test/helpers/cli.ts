/** The hearth CLI (src/cli.ts under tsx) as a child process, and small network helpers for tests that listen. */
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '../..');

/**
 * Every test process and the servers and CLIs they start share one key-encryption key (a generated, git-ignored file),
 * as the nodes of one deployment must: the shared PostgreSQL database's tenant keys are wrapped with it.
 */
export const TEST_KEY_FILE = path.join(ROOT, '.hearth-test.key');
process.env.HEARTH_KEY_FILE ??= TEST_KEY_FILE;

export interface CliResult { status: number | null; stdout: string; stderr: string }

/** Runs the CLI without blocking this process's event loop (a server it talks to may run in this process). */
export function runCli(args: string[], env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { cwd: ROOT, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** A TCP port nothing listens on right now (for servers whose public base URL must be known before they listen). */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}
