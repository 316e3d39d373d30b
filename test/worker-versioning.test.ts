// Worker versioning, the tool for an upgrade across a breaking change (docs/operations.md,
// Upgrading the worker): DBMIG_BUILD_ID makes the worker a Worker Deployment Version whose
// workflows are PINNED. On a real dev server with the sim platform: a fleet started on 1.0.0 keeps
// running on the 1.0.0 worker (parent and children) after 2.0.0 became the current version, while
// a fleet started after that runs on 2.0.0.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { SimPlatform } from '../activities/platforms/sim';
import { approveCutover, getStatus } from '../client/client';
import { childWorkflowId } from '../common/naming';
import type { PlanInput } from '../common/plan';
import { configFromEnv, WorkerConfigError, type WorkerDeployment } from '../worker/config';
import { startDevServer } from '../worker/dev-server';
import { findTemporalCli } from '../worker/temporal-cli';
import { createMigrationWorker } from '../worker/worker';
import { MultiDatabaseMigration } from '../workflows';
import { cachedWorkflowBundle } from './helpers/bundle-cache';
import { eventually, fakePlan } from './helpers/workflow-env';

const TASK_QUEUE = 'versioning';
const DEPLOYMENT = 'dbmig-test';
const sim = new SimPlatform();
let env: TestWorkflowEnvironment;
const workers: { worker: Worker; running: Promise<void> }[] = [];

before(async () => {
  env = await startDevServer();
});

after(async () => {
  for (const w of workers) if (w.worker.getState() === 'RUNNING') w.worker.shutdown();
  await Promise.all(workers.map((w) => w.running));
  await env?.teardown();
});

test('DBMIG_BUILD_ID makes a versioned worker; a deployment name alone is refused', () => {
  const base = { TEMPORAL_ADDRESS: 'localhost:7233' };
  assert.equal(configFromEnv(base).deployment, undefined, 'unversioned unless asked');
  assert.deepEqual(configFromEnv({ ...base, DBMIG_BUILD_ID: '1.0.0' }).deployment, {
    deploymentName: 'dbmig',
    buildId: '1.0.0',
  });
  assert.deepEqual(configFromEnv({ ...base, DBMIG_BUILD_ID: '2.1.0', DBMIG_DEPLOYMENT_NAME: 'shop' }).deployment, {
    deploymentName: 'shop',
    buildId: '2.1.0',
  });
  assert.throws(() => configFromEnv({ ...base, DBMIG_DEPLOYMENT_NAME: 'shop' }), WorkerConfigError);
  assert.throws(() => configFromEnv({ ...base, DBMIG_BUILD_ID: '1', DBMIG_DEPLOYMENT_NAME: 'a.b' }), /dot/);
});

/** A one-database sim fleet (the sim, like the real platforms, never reuses another migration's target). */
function simPlan(id: string, policy: 'auto' | 'manual'): PlanInput {
  const plan = fakePlan(['alpha']);
  const databases = plan.databases.map((d) => ({ ...d, target: { ...d.target, instance: `t-${id}` } }));
  const defaults = { lagThresholdSeconds: 5, stableWindow: '1s', noPrimaryKey: 'fail' as const };
  return { ...plan, platform: 'sim', defaults, approval: { policy, timeout: '24h' }, databases };
}

function startFleet(id: string, policy: 'auto' | 'manual') {
  return env.client.workflow.start(MultiDatabaseMigration, {
    taskQueue: TASK_QUEUE,
    workflowId: id,
    args: [{ plan: simPlan(id, policy) }],
  });
}

async function startWorker(buildId: string): Promise<void> {
  const deployment: WorkerDeployment = { deploymentName: DEPLOYMENT, buildId };
  const worker = await createMigrationWorker({
    connection: env.nativeConnection,
    taskQueue: TASK_QUEUE,
    platforms: { sim },
    workflowBundle: await cachedWorkflowBundle(),
    deployment,
  });
  workers.push({ worker, running: worker.run() });
}

/** What an operator runs: the version takes new runs once its workers poll (until then the CLI refuses). */
async function makeCurrent(buildId: string): Promise<void> {
  const args = ['worker', 'deployment', 'set-current-version', '--deployment-name', DEPLOYMENT, '--build-id'];
  await eventually(
    `${DEPLOYMENT}.${buildId} current`,
    async () => {
      const r = spawnSync(findTemporalCli().path, [...args, buildId, '--yes', '--address', env.address], {
        encoding: 'utf8',
      });
      return r.status === 0 ? true : undefined;
    },
    60_000,
  );
}

/** The build a workflow is pinned to, as the server records it. */
async function pinnedTo(workflowId: string): Promise<string> {
  const { raw } = await env.client.workflow.getHandle(workflowId).describe();
  const info = raw.workflowExecutionInfo?.versioningInfo;
  assert.equal(String(info?.behavior), '1', `${workflowId} is PINNED (VERSIONING_BEHAVIOR_PINNED = 1)`);
  return info?.deploymentVersion?.buildId ?? '';
}

test('a run stays on the build that started it; new runs go to the current version', async () => {
  await startWorker('1.0.0');
  await makeCurrent('1.0.0');
  const older = await startFleet('started-on-1', 'manual');
  await eventually('alpha awaiting approval on 1.0.0', async () =>
    (await getStatus(env.client, older.workflowId)).databases[0].state === 'AWAITING_APPROVAL' ? true : undefined,
  );

  // The upgrade: 2.0.0 workers start beside the 1.0.0 ones and become current.
  await startWorker('2.0.0');
  await makeCurrent('2.0.0');
  const newer = await startFleet('started-on-2', 'auto');
  assert.equal((await newer.result()).databases[0].state, 'COMPLETED');
  assert.equal(await pinnedTo('started-on-2'), '2.0.0');
  assert.equal(await pinnedTo(childWorkflowId('started-on-2', 'alpha')), '2.0.0');

  // The run started on 1.0.0 is decided after the upgrade and finishes where it started: 2.0.0
  // never replays it, so a breaking change between the two cannot break it.
  await approveCutover(env.client, older.workflowId, 'alpha', 'ops');
  assert.equal((await older.result()).databases[0].state, 'COMPLETED');
  assert.equal(await pinnedTo('started-on-1'), '1.0.0');
  assert.equal(await pinnedTo(childWorkflowId('started-on-1', 'alpha')), '1.0.0');
});
