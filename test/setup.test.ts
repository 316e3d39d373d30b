// A first run against a Temporal that has never seen dbmig: a dev server started WITHOUT the
// search attributes (as `temporal server start-dev` is). `dbmig start` and `dbmig status` say what
// is missing and how to fix it; `dbmig setup` and the worker register the attributes; a migration
// stuck on them moves once they exist.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { WorkflowNotFoundError } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { getStatus, startMigration } from '../client/client';
import { readPlanFile } from '../client/plan-file';
import { NotReadyError, searchAttributeProblem, statusPreflight } from '../client/readiness';
import { checkSearchAttributes, setupSearchAttributes, type TemporalServices } from '../client/setup';
import { setupReport, workerSearchAttributes } from '../cli/commands-setup';
import { LocalPlatform } from '../activities/platforms/local';
import { findTemporalCli } from '../worker/temporal-cli';
import { createMigrationWorker } from '../worker/worker';
import type { WorkerConfig } from '../worker/config';
import { sharedBundle } from './helpers/harness';

const ROOT = resolve(__dirname, '..');
const PLAN = join(ROOT, 'examples', 'plans', 'local-fleet.yaml');
const WORKFLOW_TASK_FAILED_CAUSE_BAD_SEARCH_ATTRIBUTES = 23;
const ALL = ['MigrationId', 'DatabaseName', 'MigrationState', 'Platform'];
const MISSING_ALL =
  'search attributes MigrationId, DatabaseName, MigrationState, Platform are not registered in namespace default: ' +
  'run `dbmig setup`';

let env: TestWorkflowEnvironment;
let stateDir: string;
let worker: Worker | undefined;
let running: Promise<void> | undefined;

before(async () => {
  const cli = findTemporalCli();
  // No `searchAttributes`: the server knows none of dbmig's, like a plain `temporal server start-dev`.
  env = await TestWorkflowEnvironment.createLocal({
    server: { executable: { type: 'existing-path', path: cli.path } },
  });
  stateDir = await mkdtemp(join(tmpdir(), 'dbmig-setup-test-'));
});

after(async () => {
  if (worker?.getState() === 'RUNNING') worker.shutdown();
  await running;
  await env?.teardown();
  await rm(stateDir, { recursive: true, force: true });
});

async function registeredInNamespace(namespace: string): Promise<Record<string, unknown>> {
  const { customAttributes } = await env.connection.operatorService.listSearchAttributes({ namespace });
  return Object.fromEntries(Object.entries(customAttributes ?? {}).filter(([n]) => ALL.includes(n)));
}

function dbmig(args: string[], extraEnv: Record<string, string>): Promise<{ code: number; out: string }> {
  return promisify(execFile)('node', [join(ROOT, 'bin', 'dbmig.js'), ...args], {
    cwd: ROOT,
    env: { ...process.env, TEMPORAL_ADDRESS: env.address, TEMPORAL_NAMESPACE: 'default', ...extraEnv },
    timeout: 120_000,
  }).then(
    ({ stdout, stderr }) => ({ code: 0, out: stdout + stderr }),
    (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, out: err.stdout + err.stderr }),
  );
}

test('dbmig start refuses while the search attributes are missing, naming them and the fix', async () => {
  assert.equal(await searchAttributeProblem(env.client), MISSING_ALL);
  const r = await dbmig(['start', '--plan', PLAN, '--id', 'sa-missing-cli'], {});
  assert.equal(r.code, 1, r.out);
  assert.match(
    r.out,
    /^dbmig: search attributes MigrationId, DatabaseName, MigrationState, Platform are not registered/m,
  );
  assert.match(r.out, /run `dbmig setup`/);
  // Nothing was started.
  await assert.rejects(env.client.workflow.getHandle('sa-missing-cli').describe(), WorkflowNotFoundError);
});

test('where dbmig may not add them, setup and the worker say what to run instead, and change nothing', async () => {
  const real = env.connection;
  // The operator API as a role without admin rights sees it: it may list, not add.
  const operatorService = Object.create(real.operatorService) as TemporalServices['operatorService'];
  operatorService.addSearchAttributes = (() =>
    Promise.reject(Object.assign(new Error('Request unauthorized.'), { code: 7 }))) as never;
  const noAdminRights: TemporalServices = { workflowService: real.workflowService, operatorService };
  const selfHosted = { namespace: 'default', address: env.address };
  const report = await setupSearchAttributes(noAdminRights, selfHosted);
  assert.deepEqual(report.registered, []);
  assert.deepEqual(report.instructions, [
    'temporal operator search-attribute create --namespace default ' +
      ALL.map((n) => `--name ${n}`).join(' ') +
      ' --type Keyword',
  ]);
  assert.equal(setupReport(report, selfHosted).ok, false);

  // Temporal Cloud: not even tried through the operator API; the tcld command and the UI path instead.
  const cloud = { namespace: 'default', address: 'default.a2b3c.tmprl.cloud:7233' };
  const onCloud = await setupSearchAttributes(env.connection, cloud);
  assert.deepEqual(onCloud.registered, []);
  assert.equal(
    onCloud.instructions[0],
    'tcld namespace search-attributes add --namespace default ' +
      ALL.map((n) => `--search-attribute ${n}=Keyword`).join(' '),
  );
  assert.match(onCloud.instructions[1], /Cloud UI .*Namespaces > default > Edit > Custom Search Attributes/);
  const printed = setupReport(onCloud, cloud);
  assert.equal(printed.ok, false);
  assert.match(
    printed.lines.join('\n'),
    /Temporal Cloud does not let a client add search attributes\. Run:\n {2}tcld /,
  );

  const config = { namespace: 'default', address: cloud.address, connection: {} } as WorkerConfig;
  await assert.rejects(workerSearchAttributes(env.nativeConnection, config), { message: MISSING_ALL });
  assert.deepEqual(await registeredInNamespace('default'), {});
});

test('status says a missing search attribute holds a running migration, and the worker registers them', async () => {
  // A migration started some other way (the UI, `temporal workflow start`) with a worker polling:
  // every workflow task fails with BadSearchAttributes until the attributes exist.
  const taskQueue = 'setup-test-sa';
  const client = env.client;
  await startMigration(client, readPlanFile(PLAN), { id: 'sa-stuck', taskQueue });
  worker = await createMigrationWorker({
    connection: env.nativeConnection,
    taskQueue,
    platforms: { local: new LocalPlatform(stateDir) },
    workflowBundle: await sharedBundle(),
  });
  running = worker.run();
  const badSearchAttributes = await waitFor(async () => {
    const { events } = await client.workflow.getHandle('sa-stuck').fetchHistory();
    const failed = events?.find((e) => e.workflowTaskFailedEventAttributes)?.workflowTaskFailedEventAttributes;
    if (!failed) throw new Error('no workflow task has failed yet');
    return failed;
  }, 60_000);
  assert.equal(badSearchAttributes.cause, WORKFLOW_TASK_FAILED_CAUSE_BAD_SEARCH_ATTRIBUTES);
  const t0 = Date.now();
  await assert.rejects(statusPreflight(client, 'sa-stuck'), (err) => {
    assert.ok(err instanceof NotReadyError);
    assert.equal(err.message, MISSING_ALL);
    return true;
  });
  assert.ok(Date.now() - t0 < 10_000, 'said at once, not after the query timeout');

  // Another namespace proves the worker's own registration (the CLI wires it into `dbmig worker`).
  await env.client.workflowService.registerNamespace({
    namespace: 'worker-ns',
    workflowExecutionRetentionPeriod: msToTs(86_400_000),
  });
  const lines: string[] = [];
  const log = console.error;
  console.error = (line: string) => lines.push(line);
  try {
    const config = { namespace: 'worker-ns', address: env.address, connection: {} } as WorkerConfig;
    await workerSearchAttributes(env.nativeConnection, config);
  } finally {
    console.error = log;
  }
  assert.deepEqual(lines, [`dbmig worker: registered search attributes ${ALL.join(', ')} in namespace worker-ns`]);
  assert.deepEqual(Object.keys(await registeredInNamespace('worker-ns')).sort(), [...ALL].sort());
  assert.deepEqual(Object.keys(await registeredInNamespace('default')), [], 'other namespaces untouched');
});

test('dbmig setup registers them in the namespace; a second run is a no-op; the stuck migration moves', async () => {
  const target = { namespace: 'default', address: env.address };
  const first = await setupSearchAttributes(env.connection, target);
  assert.deepEqual(first.registered, ALL);
  assert.deepEqual(first.missing, []);
  const listed = await registeredInNamespace('default');
  assert.deepEqual(Object.keys(listed).sort(), [...ALL].sort());
  assert.ok(
    Object.values(listed).every((t) => t === 2),
    'all Keyword (INDEXED_VALUE_TYPE_KEYWORD = 2)',
  );
  assert.deepEqual(setupReport(first, target).lines, [`registered in namespace default: ${ALL.join(', ')}`]);

  const second = await setupSearchAttributes(env.connection, target);
  assert.deepEqual(second.registered, []);
  assert.deepEqual(second.present, ALL);
  assert.deepEqual(setupReport(second, target), {
    lines: [`already registered in namespace default: ${ALL.join(', ')}`],
    ok: true,
  });
  assert.deepEqual((await checkSearchAttributes(env.connection, 'default')).missing, []);

  // The migration that was stuck on them now answers (its sources do not exist: it fails on them).
  const status = await waitFor(() => getStatus(env.client, 'sa-stuck'), 120_000);
  assert.equal(status.migrationId, 'sa-stuck');
  assert.deepEqual(
    status.databases.map((d) => d.database),
    ['orders', 'inventory'],
  );
});

test('no worker on the task queue: start warns, status says so instead of "Failed to query Workflow"', async () => {
  const taskQueue = 'setup-test-no-worker';
  const r = await dbmig(['start', '--plan', PLAN, '--id', 'no-worker'], { TEMPORAL_TASK_QUEUE: taskQueue });
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /^started migration no-worker$/m);
  assert.match(r.out, /no worker polls task queue setup-test-no-worker: start one with `dbmig worker`/);

  const noWorker = (err: unknown) => {
    assert.ok(err instanceof NotReadyError, String(err));
    assert.equal(err.message, 'no worker polls task queue setup-test-no-worker: start one with `dbmig worker`');
    return true;
  };
  const t0 = Date.now();
  await assert.rejects(statusPreflight(env.client, 'no-worker'), noWorker);
  assert.ok(Date.now() - t0 < 10_000, 'said at once');
  // The library's getStatus, without the CLI's preflight, explains the failed query the same way.
  await assert.rejects(getStatus(env.client, 'no-worker'), noWorker);
});

async function waitFor<T>(fn: () => Promise<T>, timeoutMs: number): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}
