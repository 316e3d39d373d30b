// One real Temporal dev server, one worker and one source cluster per test file, each file in
// its own state directory so files cannot see each other's clusters.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowHandle } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import { MultiDatabaseMigration } from '../../workflows';
import { getStatus, waitForState } from '../../client/client';
import type { MigrationState } from '../../common/states';
import type { DatabaseSummary } from '../../common/status';
import { LocalPlatform } from '../../activities/platforms/local';
import type { ClusterInfo } from '../../activities/platforms/local/clusters';
import { startDevServer } from '../../worker/dev-server';
import { createMigrationWorker, inFlightOf } from '../../worker/worker';
import { reportSlowShutdown } from '../../worker/in-flight';
import { cachedWorkflowBundle } from './bundle-cache';
import { compareRowForRow, createSourceDatabase, type SourceDb, type TableComparison } from '../fixtures/fleet';
import type { ConnectionParams } from '../../activities/engines/postgres/sessions';

export const sharedBundle = cachedWorkflowBundle;

export const SOURCE_PASSWORD_ENV = 'DBMIG_TEST_SOURCE_PASSWORD';

export interface Harness {
  env: TestWorkflowEnvironment;
  platform: LocalPlatform;
  source: ClusterInfo;
  stateDir: string;
  taskQueue: string;
  /** Starts a fleet migration of `plan` on this harness's task queue. */
  startFleet(workflowId: string, plan: unknown): Promise<WorkflowHandle<typeof MultiDatabaseMigration>>;
  /** One database's summary as `getStatus` (the client operators use) shows it. */
  statusOf(migrationId: string, database: string): Promise<DatabaseSummary>;
  /** Waits (polling `getStatus`, 250 ms) until the database is in one of `states`. */
  reach(
    migrationId: string,
    database: string,
    states: MigrationState | MigrationState[],
    timeoutMs?: number,
  ): Promise<DatabaseSummary>;
  startWorker(): Promise<void>;
  stopWorker(): Promise<void>;
  close(): Promise<void>;
}

export async function createHarness(
  name: string,
  opts: { worker?: boolean; databases?: SourceDb[]; sourceVersion?: number } = {},
): Promise<Harness> {
  const stateDir = resolve('.local-platform', `test-${name}`);
  await rm(stateDir, { recursive: true, force: true });
  const platform = new LocalPlatform(stateDir);
  const [env, source] = await Promise.all([
    startDevServer(),
    platform.clusters.ensure('source', { version: opts.sourceVersion }),
  ]);
  process.env[SOURCE_PASSWORD_ENV] = source.password;
  for (const db of opts.databases ?? []) await createSourceDatabase(source, db);
  const taskQueue = `test-${name}`;
  let worker: Worker | undefined;
  let running: Promise<void> | undefined;
  const h: Harness = {
    env,
    platform,
    source,
    stateDir,
    taskQueue,
    startFleet: (workflowId, plan) =>
      env.client.workflow.start(MultiDatabaseMigration, { taskQueue, workflowId, args: [{ plan }] }),
    async statusOf(migrationId, database) {
      const s = (await getStatus(env.client, migrationId)).databases.find((d) => d.database === database);
      assert.ok(s, `${database} is not in ${migrationId}`);
      return s;
    },
    reach: (migrationId, database, states, timeoutMs = 180_000) =>
      waitForState(env.client, migrationId, database, states, { timeoutMs, pollMs: 250 }),
    async startWorker() {
      worker = await createMigrationWorker({
        connection: env.nativeConnection,
        taskQueue,
        platforms: { local: platform },
        workflowBundle: await sharedBundle(),
      });
      running = worker.run();
    },
    async stopWorker() {
      if (worker && worker.getState() === 'RUNNING') worker.shutdown();
      // A shutdown waits for every activity to stop: say which ones do not.
      const tracker = worker && inFlightOf(worker);
      const stopWatch =
        worker && tracker
          ? reportSlowShutdown(worker, tracker, (what) => console.error(`[${name}] ${what}`), 20_000)
          : () => undefined;
      await running?.finally(stopWatch);
      worker = undefined;
    },
    async close() {
      await h.stopWorker();
      await env.teardown();
      for (const c of ['source', 'fleet-target']) await platform.clusters.destroy(c).catch(() => undefined);
      await rm(stateDir, { recursive: true, force: true });
    },
  };
  if (opts.worker !== false) await h.startWorker();
  return h;
}

export async function eventually<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs = 120_000,
  everyMs = 250,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Waits until the target equals the source row for row (dbmig's own schema aside), then asserts it per table. */
export async function awaitRowForRow(
  source: ConnectionParams,
  target: ConnectionParams,
  timeoutMs = 120_000,
): Promise<TableComparison[]> {
  const compare = () => compareRowForRow(source, target, ['dbmig']);
  await eventually(
    'the target equal to the source',
    async () => (await compare()).every((t) => t.equal) || undefined,
    timeoutMs,
  );
  const tables = await compare();
  for (const t of tables) assert.ok(t.equal, `${t.table}: source ${t.sourceRows} rows, target ${t.targetRows}`);
  return tables;
}
