// Finds a Temporal CLI for the dev server (the demo, the tests, `dbmig rehearse`): TEMPORAL_CLI,
// then `temporal` on PATH, then the project's build in .tools/bin (scripts/install-temporal-cli,
// which `npm run demo` and `npm test` run first through scripts/prepare). It builds nothing and
// downloads nothing: a process that finds no CLI fails at once naming the fix, rather than
// spending minutes in `go install` inside a test or waiting on a download this machine may not reach.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The version scripts/install-temporal-cli builds (it reads it from this line). */
export const CLI_VERSION = 'v1.5.1';

export function projectRoot(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the project root (package.json)');
    dir = up;
  }
  return dir;
}

function onPath(cmd: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() || undefined : undefined;
}

export interface CliSource {
  path: string;
  how: string;
}

export function findTemporalCli(): CliSource {
  const env = process.env.TEMPORAL_CLI;
  if (env) {
    if (!existsSync(env))
      throw new Error(`TEMPORAL_CLI=${env} does not exist: point it at a temporal CLI, or unset it`);
    return { path: env, how: 'TEMPORAL_CLI' };
  }
  const fromPath = onPath('temporal');
  if (fromPath) return { path: fromPath, how: 'PATH' };
  const local = join(projectRoot(), '.tools', 'bin', 'temporal');
  if (existsSync(local)) return { path: local, how: 'project build (.tools/bin)' };
  throw new Error(
    `no Temporal CLI (TEMPORAL_CLI unset, no temporal on PATH, no ${local}): run bash scripts/prepare demo ` +
      `(npm run demo and npm test run it first; it builds temporal ${CLI_VERSION} with Go, once), ` +
      'or put a temporal CLI on PATH',
  );
}
