// A gcp world for whole-fleet tests: a fresh fake of the Google Cloud APIs, a GcpPlatform pointed
// at it, and a worker on its own task queue of a shared Temporal dev server. Each world starts
// empty, so a test sees only its own fleet's resources and requests.
//
// Everything the shared plan (gcp-plan.ts) refers to is set up here: the env: passwords, the
// gcpsm: secrets in the fake, the notification channel the monitoring step checks. The fake's
// DMS is fast: the full dump takes 200 ms, the lag falls from 20 s to 0 in half a second, and a
// lag point is sampled every 100 ms and published 100 ms later (Google: 60 s and up to 180 s).
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowHandle } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import { GcpPlatform, type GcpPlatformOptions } from '../../activities/platforms/gcp';
import type { DatabaseTask } from '../../activities/steps';
import { effectiveSettings } from '../../common/plan-settings';
import { validatePlan, type Plan, type PlanInput } from '../../common/plan';
import { createMigrationWorker } from '../../worker/worker';
import { MultiDatabaseMigration } from '../../workflows';
import { createFakeGcp, fakeAuth, type FakeGcp } from '../fakes/gcp';
import type { DmsBehaviour } from '../fakes/gcp/routes-dms';
import { sharedBundle } from './harness';
import { gcpPlan, PROJECT } from './gcp-plan';

export const CHANNEL = `projects/${PROJECT}/notificationChannels/dbmig-oncall`;

/** What the shared plan's passwordRefs name: env: on the worker, gcpsm: in the fake's Secret Manager. */
const ENV_SECRETS = { GCP_TEST_SOURCE_PASSWORD: 's3cret-source', GCP_TEST_TARGET_PASSWORD: 's3cret-target' };
const SM_SECRETS = {
  [`projects/${PROJECT}/secrets/ledger-source-password`]: 's3cret-ledger-source',
  [`projects/${PROJECT}/secrets/ledger-target-password`]: 's3cret-ledger-target',
};

/** The fake's DMS, fast: see the file comment. */
export const FAST_DMS: Partial<DmsBehaviour> = {
  fullDumpMs: 200,
  lagStartSeconds: 20,
  lagDecayPerSecond: 40,
  lagSamplePeriodMs: 100,
  lagPublishDelayMs: 100,
};

/** The shared plan with the monitoring step notifying CHANNEL and short waits; `extra` on top. */
export function fleetPlan(migrationId: string, extra: Partial<PlanInput> = {}): Plan {
  const base = gcpPlan();
  return validatePlan({
    ...base,
    migrationId,
    gcp: { ...base.gcp!, monitoring: { notificationChannels: [CHANNEL] } },
    defaults: { lagThresholdSeconds: 5, stableWindow: '1s', noPrimaryKey: 'fail' },
    ...extra,
  });
}

/** The task the fleet gives the platform for one database (as cli/plan-report.ts builds it). */
export function taskOf(plan: Plan, name: string): DatabaseTask {
  const database = plan.databases.find((d) => d.name === name)!;
  return {
    migrationId: plan.migrationId!,
    platform: 'gcp',
    database,
    settings: effectiveSettings(plan, database),
    gcp: plan.gcp,
  };
}

export interface GcpWorld {
  fake: FakeGcp;
  behaviour: DmsBehaviour;
  platform: GcpPlatform;
  taskQueue: string;
  startFleet(plan: Plan): Promise<WorkflowHandle<typeof MultiDatabaseMigration>>;
  close(): Promise<void>;
}

export async function createGcpWorld(
  env: TestWorkflowEnvironment,
  name: string,
  opts: { platform?: Partial<GcpPlatformOptions> } = {},
): Promise<GcpWorld> {
  Object.assign(process.env, ENV_SECRETS);
  // The sources are documentation addresses (RFC 5737): the worker's secret policy must allow them.
  process.env.DBMIG_ALLOWED_HOSTS = '203.0.113.0/24';
  const { fake, behaviour } = createFakeGcp({ secrets: SM_SECRETS, notificationChannels: [CHANNEL], dms: FAST_DMS });
  // The platform registers the gcpsm: scheme on construction: the newest world's fake answers it.
  const platform = new GcpPlatform({
    endpoint: await fake.start(),
    authClient: fakeAuth(),
    poll: { intervalMs: 20 },
    ...opts.platform,
  });
  // The platform makes its clients on first use, synchronously: the compute clients alone take
  // seconds, during which the worker answers nothing (queries time out). Made now, the timings are
  // the fleet's. Making a client sends nothing.
  const c = platform.clients;
  void [c.sqlInstances, c.sqlOperations, c.alloydb, c.instanceTemplates, c.instanceGroupManagers];
  void [c.resizeRequests, c.globalOperations, c.zoneOperations, c.monitoring, c.secrets, c.dms];
  const taskQueue = `gcp-fleet-${name}`;
  const worker: Worker = await createMigrationWorker({
    connection: env.nativeConnection,
    taskQueue,
    platforms: { gcp: platform },
    workflowBundle: await sharedBundle(),
  });
  const running = worker.run();
  return {
    fake,
    behaviour,
    platform,
    taskQueue,
    startFleet: (plan) =>
      env.client.workflow.start(MultiDatabaseMigration, {
        taskQueue,
        workflowId: plan.migrationId!,
        args: [{ plan }],
      }),
    async close() {
      worker.shutdown();
      await running;
      await platform.close();
      await fake.stop();
    },
  };
}
