// Runs the `dbmig` CLI as a user would, a process of its own against a Temporal server, and
// answers its exit code and output: for the tests that read what the command prints and returns.
import { spawn } from 'node:child_process';
import { join } from 'node:path';

export const CLI = join(__dirname, '..', '..', 'cli', 'main.ts');

export type DbmigRun = { code: number | null; stdout: string; stderr: string };

export function runDbmig(address: string, args: string[], env: Record<string, string> = {}): Promise<DbmigRun> {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args, '--address', address], {
    env: { ...process.env, TEMPORAL_NAMESPACE: 'default', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
}
