// The local platform's cutover in a process of its own, as a worker runs it, so a test can kill it
// (SIGKILL: no undo, no finally) or freeze it (SIGSTOP) at a chosen instant: on a progress line it
// prints, or at a pause point inside the step (activities/fault-pause.ts) that it reports with a
// marker file.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PAUSE_AT_ENV, PAUSE_MARKER_ENV, type PauseMarker, type PausePoint } from '../../activities/fault-pause';
import type { DatabaseTask } from '../../activities/steps';

const ROOT = join(__dirname, '..', '..');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface CutoverProcess {
  child: ChildProcess;
  /** Progress lines printed so far. */
  lines: string[];
  /** Resolves with the marker once the process waits at its pause point; rejects if it exits first. */
  paused(timeoutMs?: number): Promise<PauseMarker>;
  /** SIGKILL, resolved once the process has exited. */
  kill(): Promise<void>;
}

/** Starts `platform.cutover(task)` in a new process; `pauseAt`: the point it waits at (once). */
export async function cutoverProcess(
  stateDir: string,
  task: DatabaseTask,
  pauseAt?: PausePoint,
): Promise<CutoverProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'dbmig-pause-'));
  const marker = join(dir, 'marker.json');
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '-e',
      `const { LocalPlatform } = require('./activities/platforms/local');
       new LocalPlatform(process.env.CHILD_STATE).cutover(JSON.parse(process.env.CHILD_TASK), (s) => console.log(s))
         .then(() => process.exit(0), (e) => { console.error(String(e)); process.exit(3); });`,
    ],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        CHILD_STATE: stateDir,
        CHILD_TASK: JSON.stringify(task),
        ...(pauseAt ? { [PAUSE_AT_ENV]: pauseAt, [PAUSE_MARKER_ENV]: marker } : {}),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const lines: string[] = [];
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => lines.push(...d.toString().split('\n').filter(Boolean)));
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4_000)));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const cleanUp = () => rm(dir, { recursive: true, force: true });
  return {
    child,
    lines,
    async paused(timeoutMs = 120_000) {
      for (const until = Date.now() + timeoutMs; !existsSync(marker); await sleep(10)) {
        if (child.exitCode !== null)
          throw new Error(`the cutover exited (${child.exitCode}) before ${pauseAt}: ${stderr} ${lines.join(' | ')}`);
        if (Date.now() > until) throw new Error(`the cutover did not reach ${pauseAt} in ${timeoutMs} ms: ${stderr}`);
      }
      return JSON.parse(await readFile(marker, 'utf8')) as PauseMarker;
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      await cleanUp();
    },
  };
}
