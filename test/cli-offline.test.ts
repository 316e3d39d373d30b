// The CLI as a user meets it before any server runs, as a subprocess: --version, the exit codes
// for bad usage and bad input (2), a connection failure that says what it tried and the fix within
// seconds (1), errors as JSON with -o json, and a worker whose metrics address is taken (2).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CONNECT_TIMEOUT_MS } from '../client/connection';

const ROOT = join(__dirname, '..');
const CLI = join(ROOT, 'cli', 'main.ts');
const work = mkdtempSync(join(tmpdir(), 'dbmig-cli-'));
/** A port nothing listens on: taken, then released, by a server of this test. */
let closedPort: number;
/** An isolated environment: no Temporal profile or variable of the machine leaks in. */
const cleanEnv = () => {
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_CONFIG_HOME: work, HOME: work };
  for (const k of Object.keys(env)) if (k.startsWith('TEMPORAL_')) delete env[k];
  return env;
};

const dbmig = (args: string[], env: NodeJS.ProcessEnv = {}) => {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], {
    encoding: 'utf8',
    env: { ...cleanEnv(), ...env },
    timeout: 120_000,
  });
  return { ...r, ms: Date.now() - t0 };
};

function listen(port = 0): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}

before(async () => {
  const s = await listen();
  closedPort = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
});
after(() => rmSync(work, { recursive: true, force: true }));

test('--version prints the version from package.json', () => {
  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  for (const flag of ['--version', '-V']) {
    const r = dbmig([flag]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), version);
  }
});

test('--help documents the exit codes and the connection settings', () => {
  const r = dbmig(['--help']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /Exit codes \(every command\):\n {2}0 .*\n {2}1 .*\n[\s\S]* {2}2 {2}bad usage or bad input/);
  assert.match(r.stdout, /--address <host:port>/);
  assert.match(r.stdout, /TEMPORAL_PROFILE/);
});

test('bad usage and bad input exit 2: unknown option, missing plan file, broken YAML, invalid plan', () => {
  const broken = join(work, 'broken.yaml');
  writeFileSync(broken, 'platform: local\ndatabases: [a\n');
  const invalid = join(work, 'invalid.yaml');
  writeFileSync(invalid, 'platform: local\nconcurrency: 2\ndatabases: []\n');
  const cases: [string[], RegExp][] = [
    [['status', 'x', '--bogus'], /unknown option '--bogus'/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['approve', 'x', '--approver', 'me'], /missing required argument 'database'/],
    [['plan', '--plan', join(work, 'nope.yaml')], /nope\.yaml: cannot read the plan: no such file/],
    [['start', '--plan', join(work, 'nope.yaml')], /nope\.yaml: cannot read the plan: no such file/],
    [['gcp', 'check', '--plan', broken], /broken\.yaml:\d+:\d+: /],
    [['start', '--plan', broken], /broken\.yaml:\d+:\d+: /],
    [['plan', '--plan', invalid], /invalid\.yaml:3:12: databases: must list at least one database/],
    [['list', '--state', 'SLEEPING', '--address', `127.0.0.1:${closedPort}`], /--state SLEEPING: not a state/],
    [['replay'], /replay needs --file/],
  ];
  for (const [args, message] of cases) {
    const r = dbmig(args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
  }
});

test('an unreachable server: exit 1 within seconds, naming what was tried, from where, and the fix', () => {
  const r = dbmig(['status', 'some-id', '--address', `127.0.0.1:${closedPort}`], { TEMPORAL_NAMESPACE: 'ops' });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /cannot reach Temporal: no connection within 4s/);
  assert.match(r.stderr, new RegExp(`address 127\\.0\\.0\\.1:${closedPort} \\(from --address\\)`));
  assert.match(r.stderr, /namespace ops \(from TEMPORAL_NAMESPACE\)/);
  assert.match(r.stderr, /profile default \(from default\)/);
  assert.match(r.stderr, /temporal server start-dev/);
  assert.match(r.stderr, /--address HOST:PORT/);
  // The SDK's default waited 10 s (about 12 s in all); the bound leaves the process start its margin.
  assert.ok(r.ms < CONNECT_TIMEOUT_MS + 8_000, `took ${r.ms} ms`);
});

test('a temporal.toml profile is read, and flags beat the environment', () => {
  const file = join(work, 'temporal.toml');
  writeFileSync(file, `[profile.staging]\naddress = "127.0.0.1:${closedPort}"\nnamespace = "stage"\n`);
  const r = dbmig(['--profile', 'staging', 'status', 'x'], { TEMPORAL_CONFIG_FILE: file });
  assert.equal(r.status, 1, r.stderr);
  assert.match(
    r.stderr,
    new RegExp(`address 127\\.0\\.0\\.1:${closedPort} \\(from profile "staging" in .*temporal\\.toml\\)`),
  );
  assert.match(r.stderr, /namespace stage \(from profile "staging"/);
  assert.match(r.stderr, /profile staging \(from --profile\)/);
  const flag = dbmig(['status', 'x', '--namespace', 'mine'], {
    TEMPORAL_CONFIG_FILE: file,
    TEMPORAL_PROFILE: 'staging',
  });
  assert.match(flag.stderr, /namespace mine \(from --namespace\)/);
  assert.match(flag.stderr, /profile staging \(from TEMPORAL_PROFILE\)/);
  const unknown = dbmig(['status', 'x', '--profile', 'nope'], { TEMPORAL_CONFIG_FILE: file });
  assert.equal(unknown.status, 2, unknown.stderr);
  assert.match(unknown.stderr, /Profile 'nope' not found.*from --profile/);
});

test('with -o json an error is one JSON object on stdout, with the same exit code', () => {
  const usage = dbmig(['status', 'x', '--bogus', '-o', 'json']);
  assert.equal(usage.status, 2);
  assert.deepEqual(JSON.parse(usage.stdout), {
    error: { type: 'CommanderError', message: "error: unknown option '--bogus'", exitCode: 2 },
  });
  const down = dbmig(['status', 'x', '--json', '--address', `127.0.0.1:${closedPort}`]);
  assert.equal(down.status, 1);
  const { error } = JSON.parse(down.stdout) as { error: { type: string; message: string; exitCode: number } };
  assert.equal(error.type, 'ConnectionFailed');
  assert.equal(error.exitCode, 1);
  assert.match(error.message, /temporal server start-dev/);
  const missing = dbmig(['gcp', 'check', '--plan', join(work, 'nope.yaml'), '-o', 'json']);
  assert.equal(missing.status, 2);
  assert.equal((JSON.parse(missing.stdout) as { error: { type: string } }).error.type, 'PlanError');
});

test('a second worker on a taken metrics address: exit 2 naming DBMIG_METRICS_ADDRESS and the fix', async () => {
  const holder = await listen();
  const address = `127.0.0.1:${(holder.address() as { port: number }).port}`;
  try {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'worker', '--address', `127.0.0.1:${closedPort}`], {
      env: { ...cleanEnv(), DBMIG_METRICS_ADDRESS: address },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    assert.equal(code, 2, err);
    assert.match(err, new RegExp(`metrics address ${address} \\(DBMIG_METRICS_ADDRESS\\) is in use`));
    assert.match(err, /DBMIG_METRICS_ADDRESS=off/);
    assert.doesNotMatch(err, /prometheus/i);
  } finally {
    await new Promise((r) => holder.close(r));
  }
  // Off: no exporter, so nothing to collide with; the worker goes on to connect (and fails there, 1).
  const off = dbmig(['worker', '--address', `127.0.0.1:${closedPort}`], { DBMIG_METRICS_ADDRESS: 'off' });
  assert.equal(off.status, 1, off.stderr);
  assert.match(off.stderr, /cannot reach Temporal/);
  const badLevel = dbmig(['worker'], { DBMIG_LOG_LEVEL: 'loud', DBMIG_METRICS_ADDRESS: 'off' });
  assert.equal(badLevel.status, 2, badLevel.stderr);
  assert.match(badLevel.stderr, /DBMIG_LOG_LEVEL=loud: expected one of debug, info, warn, error/);
});
