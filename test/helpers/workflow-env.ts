// What a workflow test needs: the time-skipping server, the real workflow bundle and one
// worker whose activities are mocks, plus a plan whose databases exist nowhere (no activity
// touches them). Time passes at wall-clock pace except while a test awaits a result.
//
// One server can serve many tests, but not every test: the Java test server stops skipping
// time for good once a child closes after its parent (it holds a time lock until it has told
// the parent, and a closed parent is never told). Our parent closes on its children's last
// signal, before they close, so a test that needs time skipped gets a server of its own.
//
// `server: 'dev'` runs the same worker on the CLI's dev server instead, for what the Java test
// server does not do like a real one: it cannot list workflows, and around a continue-as-new
// whose workflow task it refused twice (new events arrived), the new run can start from a
// state that misses a signal the old run received (about 1 run in 10 of the continue-as-new
// test hangs there; none in 40 on the dev server).
import assert from 'node:assert/strict';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { withDataPlane } from '../../worker/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { effectiveSettings } from '../../common/plan-settings';
import { validatePlan, type PlanInput } from '../../common/plan';
import { MultiDatabaseMigration } from '../../workflows';
import type { DatabaseMigrationInput } from '../../workflows/database-migration';
import { startDevServer } from '../../worker/dev-server';
import { cachedWorkflowBundle } from './bundle-cache';
import { MockActivities } from './mock-activities';
import { startTimeSkippingServer } from './time-skipping';

/** Test options: a workflow test that hangs fails within a minute, not at the suite's limit. */
export const FAST = { timeout: 60_000 };

export interface WorkflowEnv {
  env: TestWorkflowEnvironment;
  mocks: MockActivities;
  taskQueue: string;
  /** Starts a fleet migration of `plan` on this env's task queue. */
  startFleet(
    workflowId: string,
    plan: PlanInput,
  ): Promise<WorkflowHandleWithFirstExecutionRunId<typeof MultiDatabaseMigration>>;
  close(): Promise<void>;
}

let quiet = false;

export async function createWorkflowEnv(
  name: string,
  opts: { server?: 'time-skipping' | 'dev' } = {},
): Promise<WorkflowEnv> {
  if (!quiet) {
    // Failing workflows and activities are what these tests are about; the SDK warns about each.
    Runtime.install({
      logger: new DefaultLogger('ERROR'),
      telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' } } },
    });
    quiet = true;
  }
  const [env, workflowBundle] = await Promise.all([
    opts.server === 'dev' ? startDevServer() : startTimeSkippingServer(),
    cachedWorkflowBundle(),
  ]);
  const mocks = new MockActivities(() => env.currentTimeMs());
  const taskQueue = `wf-${name}`;
  const worker = await withDataPlane({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle,
    activities: mocks.activities(),
  });
  const running = worker.run();
  return {
    env,
    mocks,
    taskQueue,
    startFleet: (workflowId, plan) =>
      env.client.workflow.start(MultiDatabaseMigration, { taskQueue, workflowId, args: [{ plan }] }),
    async close() {
      worker.shutdown();
      await running;
      await env.teardown();
    },
  };
}

/** A server of its own for a test that needs time skipped (see above), closed when it ends. */
export async function withOwnServer(name: string, fn: (w: WorkflowEnv) => Promise<void>): Promise<void> {
  const w = await createWorkflowEnv(name);
  try {
    await fn(w);
  } finally {
    await w.close();
  }
}

export type Priority = 'high' | 'medium' | 'low';

/** A valid local plan for databases named in priority order; `extra` overrides fleet settings. */
export function fakePlan(
  databases: (string | { name: string; priority: Priority })[],
  extra: Partial<PlanInput> = {},
): PlanInput {
  return {
    platform: 'local',
    concurrency: 2,
    approval: { policy: 'auto', timeout: '1h' },
    ...extra,
    databases: databases.map((d) => {
      const { name, priority } = typeof d === 'string' ? { name: d, priority: 'medium' as const } : d;
      return {
        name,
        engine: 'postgresql' as const,
        priority,
        sizeGb: 10,
        source: { host: 'source.invalid', port: 5432, database: name, user: 'app', passwordRef: 'env:NEVER_READ' },
        target: { kind: 'cloudsql' as const, instance: 'fleet-target' },
      };
    }),
  };
}

/** The input the parent would give the child for the first database of `plan`, run on its own. */
export function databaseInput(
  migrationId: string,
  plan: PlanInput,
  approval: DatabaseMigrationInput['approval'],
): DatabaseMigrationInput {
  const valid = validatePlan(plan);
  const database = valid.databases[0];
  return { migrationId, platform: 'local', database, settings: effectiveSettings(valid, database), approval };
}

/** Polls `fn` (a query, usually) until it returns something; wall-clock time, not server time. */
export async function eventually<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Asserts that `p` is an Update the workflow's validator refused, with a message matching `pattern`. */
export async function refused(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof WorkflowUpdateFailedError, `expected an update rejection, got ${err}`);
    assert.match(String((err.cause as Error)?.message), pattern);
    return true;
  });
}
