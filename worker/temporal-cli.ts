// Finds a Temporal CLI for the dev server: TEMPORAL_CLI, then `temporal` on PATH, then a
// project-local build (go install, minutes once), then the SDK's own download.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';

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

export type CliSource = { path: string; how: string } | { path: undefined; how: string };

export function findTemporalCli(opts: { build?: boolean; log?: (line: string) => void } = {}): CliSource {
  const say = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const env = process.env.TEMPORAL_CLI;
  if (env) {
    if (!existsSync(env)) throw new Error(`TEMPORAL_CLI=${env} does not exist`);
    return { path: env, how: 'TEMPORAL_CLI' };
  }
  const fromPath = onPath('temporal');
  if (fromPath) return { path: fromPath, how: 'PATH' };
  const toolsBin = join(projectRoot(), '.tools', 'bin');
  const local = join(toolsBin, 'temporal');
  if (existsSync(local)) return { path: local, how: 'project build (.tools/bin)' };
  if (opts.build !== false && onPath('go')) {
    say(
      `Temporal CLI not found: building temporal ${CLI_VERSION} with go install into .tools/bin ` +
        '(a few minutes, once)...',
    );
    mkdirSync(toolsBin, { recursive: true });
    execFileSync('go', ['install', `github.com/temporalio/cli/cmd/temporal@${CLI_VERSION}`], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, GOBIN: toolsBin, CGO_ENABLED: '0' },
    });
    say(`built ${local}`);
    return { path: local, how: 'project build (.tools/bin)' };
  }
  return { path: undefined, how: "the SDK's download (needs internet)" };
}
