// The CLI against a real Temporal dev server, as a subprocess: `status --watch` exits 1 when a
// database ended FAILED and 0 when all completed, JSON output parses with stable keys, `dbmig list`
// reads the visibility store in 120 columns, and the worker logs JSON lines with its version.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { SimPlatform } from '../activities/platforms/sim';
import type { PlanInput } from '../common/plan';
import { MultiDatabaseMigration } from '../workflows';
import { eventually } from './helpers/harness';
import { startSimWorker, type SimWorker } from './helpers/sim-worker';
import { fakePlan } from './helpers/workflow-env';
import { runDbmig } from './helpers/run-dbmig';

const ROOT = join(__dirname, '..');
const CLI = join(ROOT, 'cli', 'main.ts');
const taskQueue = 'test-cli-server';
let sim: SimWorker;
let env: TestWorkflowEnvironment;

const simPlan = (names: string[], sim: PlanInput['sim']): PlanInput =>
  fakePlan(names, { platform: 'sim', sim: { pollInterval: '5ms', fullDump: '20ms', ...sim } });

const dbmig = (...args: string[]) => runDbmig(env.address, args);

before(async () => {
  sim = await startSimWorker(taskQueue, new SimPlatform());
  env = sim.env;
  await env.client.workflow.start(MultiDatabaseMigration, {
    taskQueue,
    workflowId: 'cli-ok',
    args: [{ plan: simPlan(['alpha', 'beta'], {}) }],
  });
  await env.client.workflow.start(MultiDatabaseMigration, {
    taskQueue,
    workflowId: 'cli-bad',
    args: [
      {
        plan: simPlan(['gamma', 'delta'], {
          failures: [{ step: 'assessSource', database: 'delta', type: 'AssessmentFailed', message: 'no keys' }],
        }),
      },
    ],
  });
});
after(async () => {
  await sim?.stop();
});

test('status --watch exits 0 when every database completed, 1 when one ended FAILED', async () => {
  const ok = await dbmig('status', 'cli-ok', '--watch', '--interval', '0.2');
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /alpha\s+medium\s+COMPLETED/);
  const bad = await dbmig('status', 'cli-bad', '--watch', '--interval', '0.2');
  assert.equal(bad.code, 1, bad.stdout + bad.stderr);
  assert.match(bad.stdout, /delta\s+medium\s+FAILED/);
  // The same rule without --watch, and as JSON: one object, the final status.
  const json = await dbmig('status', 'cli-bad', '--watch', '-o', 'json', '--interval', '0.2');
  assert.equal(json.code, 1, json.stderr);
  const status = JSON.parse(json.stdout) as { migrationId: string; databases: { database: string; state: string }[] };
  assert.equal(status.migrationId, 'cli-bad');
  assert.deepEqual(status.databases.map((d) => [d.database, d.state]).sort(), [
    ['delta', 'FAILED'],
    ['gamma', 'COMPLETED'],
  ]);
  const once = await dbmig('status', 'cli-ok', '--json');
  assert.equal(once.code, 0, once.stderr);
  assert.equal((JSON.parse(once.stdout) as { migrationId: string }).migrationId, 'cli-ok');
});

test('decision commands print one JSON object; a refusal is a JSON error with exit 1', async () => {
  const paused = await dbmig('pause', 'cli-bad', '-o', 'json');
  assert.equal(paused.code, 0, paused.stderr);
  const p = JSON.parse(paused.stdout) as { action: string; migrationId: string; result: { paused: boolean } };
  assert.deepEqual([p.action, p.migrationId, p.result.paused], ['pause', 'cli-bad', true]);
  const resumed = await dbmig('resume', 'cli-bad', '--json');
  assert.equal((JSON.parse(resumed.stdout) as { result: { paused: boolean } }).result.paused, false);
  const refused = await dbmig('approve', 'cli-bad', 'gamma', '--approver', 'me', '-o', 'json');
  assert.equal(refused.code, 1, refused.stderr);
  const { error } = JSON.parse(refused.stdout) as { error: { type: string; message: string; exitCode: number } };
  assert.equal(error.type, 'Refused');
  assert.equal(error.exitCode, 1);
  assert.match(error.message, /gamma/);
  assert.equal(refused.stderr, '', 'nothing but the JSON');
});

test('dbmig list: migrations and their databases by state, from visibility, within 120 columns', async () => {
  type Listed = {
    migrations: { migrationId: string; platform: string; databases: { database: string; state: string }[] }[];
  };
  // Visibility is eventually consistent: wait until it has caught up with the states above.
  const want = {
    'cli-ok/alpha': 'COMPLETED',
    'cli-ok/beta': 'COMPLETED',
    'cli-bad/gamma': 'COMPLETED',
    'cli-bad/delta': 'FAILED',
  };
  let last = '';
  const listed = await eventually('visibility to show the final states', async () => {
    const r = await dbmig('list', '-o', 'json');
    assert.equal(r.code, 0, r.stderr);
    const l = JSON.parse(r.stdout) as Listed;
    const states = Object.fromEntries(
      l.migrations.flatMap((m) => m.databases.map((d) => [`${m.migrationId}/${d.database}`, d.state])),
    );
    last = JSON.stringify(states);
    return last === JSON.stringify(want) ||
      JSON.stringify(Object.entries(states).sort()) === JSON.stringify(Object.entries(want).sort())
      ? l
      : undefined;
  }).catch((err: Error) => assert.fail(`${err.message}; last seen ${last}`));
  assert.deepEqual(
    listed.migrations.map((m) => m.platform),
    ['sim', 'sim'],
  );

  const text = await dbmig('list');
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^cli-bad\s+sim\s+RUNNING\s+\S+ \S+\s+COMPLETED 1, FAILED 1$/m);
  assert.match(text.stdout, /^cli-ok\s+sim\s+COMPLETED\s+\S+ \S+\s+COMPLETED 2$/m);
  const failed = await dbmig('list', '--state', 'failed');
  assert.equal(failed.code, 0, failed.stderr);
  const rows = failed.stdout.trim().split('\n');
  assert.equal(rows.length, 3, failed.stdout);
  assert.match(rows[2], /^cli-bad\s+delta\s+FAILED\s+FAILED\s+/);
  for (const line of [...text.stdout.split('\n'), ...rows]) assert.ok(line.length <= 120, line);
});

test('the worker logs JSON lines when DBMIG_LOG_FORMAT=json, with its version at start', async () => {
  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'worker', '--address', env.address], {
    env: {
      ...process.env,
      DBMIG_LOG_FORMAT: 'json',
      DBMIG_LOG_LEVEL: 'debug',
      DBMIG_METRICS_ADDRESS: 'off',
      TEMPORAL_TASK_QUEUE: 'test-cli-logs',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  const started = new Promise<void>((resolve) =>
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes('dbmig worker started')) resolve();
    }),
  );
  const exited = new Promise<number | null>((r) => child.once('exit', r));
  try {
    await Promise.race([started, exited.then(() => assert.fail(`the worker exited: ${err}`))]);
  } finally {
    child.kill('SIGTERM');
  }
  await exited;
  const lines = err.trim().split('\n');
  const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  for (const e of entries) {
    assert.equal(typeof e.time, 'string');
    assert.match(String(e.level), /^(trace|debug|info|warn|error)$/);
    assert.equal(typeof e.message, 'string');
  }
  const start = entries.find((e) => e.message === 'dbmig worker started')!;
  assert.equal(start.level, 'info');
  assert.equal(start.version, version);
  assert.equal(start.node, process.version);
  assert.equal(start.taskQueue, 'test-cli-logs');
  assert.equal(start.address, env.address);
  assert.equal(start.namespace, 'default');
  assert.equal(start.metrics, 'off');
});
