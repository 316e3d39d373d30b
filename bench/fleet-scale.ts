// Issue 9, P4 and P5: a fleet of 1,000 databases at concurrency 50 on the simulated platform (every
// call returns at once, approval auto), and next to it, in the same process against the same dev
// server, the baseline: a bare sliding-window fan-out of the same shape (bench/fan-out: a parent
// starting children 50 at a time, each child 13 no-op activities). The ratio of wall times is the
// orchestration's overhead; the histories say whether the fleet stays inside Temporal's limits.
// Prints tables; asserts nothing.
//   npm run bench:fleet -- [--databases 1000] [--concurrency 50] [--rounds 1] [--poll 5ms] [--only dbmig|bare]
//
// What each row reports:
//   WALL_S         start of the parent → its result (the last child done), seconds.
//   PARENT_RUNS    runs of the parent's continue-as-new chain (followed from the first run id).
//   MAX_EVENTS     the longest parent run's history, in events (target: every run < 10,000).
//   MAX_CARRIED_KB the largest `carried` field of a continue-as-new input, as JSON (target < 512 KB);
//                  INPUT_KB is that input's whole payload (the plan travels with it).
//   CHILD_EVENTS   the longest history among the first, middle and last child.
//   PEAK_RSS_MB    this process's resident memory, sampled every 100 ms during the run (both workers
//                  and the client live here; the dev server is another process). Target ≤ 1 GB.
//                  RSS_START_MB is where the run began: memory the previous run (and its replay) left;
//                  `--only dbmig` measures one path in a fresh process.
//   REPLAY_MS      Worker.runReplayHistory of the longest parent history with the current bundle
//                  (target ≤ 5 s).
import { parseArgs } from 'node:util';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { DefaultLogger, Runtime, Worker, type WorkflowBundle } from '@temporalio/worker';
import { SimPlatform } from '../activities/platforms/sim';
import { table } from '../cli/format';
import { statusQuery } from '../common/messages';
import { childWorkflowId } from '../common/naming';
import { InvalidPlanError, validatePlan, type PlanInput } from '../common/plan';
import { MAX_DATABASES } from '../common/plan-defaults';
import { isTerminal } from '../common/states';
import { cachedWorkflowBundle } from '../test/helpers/bundle-cache';
import { MultiDatabaseMigration } from '../workflows';
import { startDevServer } from '../worker/dev-server';
import { createMigrationWorker } from '../worker/worker';
import { bundleFanOut, createFanOutWorker, FAN_OUT_TASK_QUEUE } from './fan-out/worker';
import { FanOutParent } from './fan-out/workflows';

const { values } = parseArgs({
  options: {
    databases: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '1' },
    poll: { type: 'string', default: '5ms' },
    only: { type: 'string' },
  },
});
const DATABASES = Number(values.databases);
const CONCURRENCY = Number(values.concurrency);
const ROUNDS = Number(values.rounds);
/** The bare child's activities: as many as the migration child's steps on the happy path. */
const BARE_STEPS = 13;
const TASK_QUEUE = 'bench-fleet-scale';
/** Enough for the parent and its running children twice over; finished workflows need no cache. */
const CACHE = Math.max(100, 2 * CONCURRENCY + 10);
const TARGETS = { ratio: 1.3, events: 10_000, carriedKb: 512, rssMb: 1024, replayMs: 5_000 };

type Path = 'dbmig' | 'bare';

interface ParentRun {
  runId: string;
  events: number;
  carriedBytes?: number;
  inputBytes?: number;
}

interface Result {
  path: Path;
  round: number;
  wallMs: number;
  runs: ParentRun[];
  childEvents: number;
  peakRssMb: number;
  replayMs: number;
  eventTypes: Map<string, number>;
  failedTasks: Map<string, number>;
  rssStartMb: number;
  outcome: string;
  /** What the simulated platform saw, per database. */
  simCalls?: string;
}

function database(name: string, instance: string) {
  return {
    name,
    engine: 'postgresql' as const,
    sizeGb: 10,
    source: { host: 'source.invalid', port: 5432, database: name, user: 'app', passwordRef: 'env:NEVER_READ' },
    target: { kind: 'cloudsql' as const, instance },
  };
}

/**
 * `instance`: the targets' instance, one per run: the sim, like a real platform, never reuses a
 * target another migration created (a second round on the same targets fails every database).
 */
function fleetPlan(instance: string, databases = DATABASES): PlanInput {
  return {
    platform: 'sim',
    concurrency: CONCURRENCY,
    approval: { policy: 'auto', timeout: '1h' },
    defaults: { stableWindow: '0s' },
    sim: { pollInterval: values.poll },
    databases: Array.from({ length: databases }, (_, i) => database(`db${String(i).padStart(5, '0')}`, instance)),
  };
}

/** A 10,000-database plan must be refused by validation (what `dbmig start` runs), before any workflow exists. */
function refusal(): string {
  const t = Date.now();
  try {
    validatePlan(fleetPlan('refused', 10_000));
    return `NOT REFUSED: a plan of 10,000 databases validated (MAX_DATABASES ${MAX_DATABASES})`;
  } catch (err) {
    if (!(err instanceof InvalidPlanError)) throw err;
    return `refused in ${Date.now() - t} ms: ${err.message}`;
  }
}

/** Samples this process's RSS until stopped; returns the peak in MB. */
function rssSampler(): () => number {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 100);
  return () => {
    clearInterval(timer);
    return Math.round(Math.max(peak, process.memoryUsage().rss) / 2 ** 20);
  };
}

type History = Awaited<ReturnType<ReturnType<Client['workflow']['getHandle']>['fetchHistory']>>;

/** Follows the parent's continue-as-new chain from its first run. */
async function parentChain(client: Client, workflowId: string, firstRunId: string) {
  const runs: ParentRun[] = [];
  const eventTypes = new Map<string, number>();
  /** Why the parent's workflow tasks failed (UnhandledCommand: new events arrived as it tried to finish). */
  const failedTasks = new Map<string, number>();
  let largest: History | undefined;
  for (let runId: string | undefined = firstRunId; runId;) {
    const history: History = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    const events = history.events ?? [];
    for (const e of events) {
      const kind = Object.keys(e).find((k) => k.endsWith('EventAttributes') && (e as Record<string, unknown>)[k]);
      const name = (kind ?? 'unknown').replace(/EventAttributes$/, '');
      eventTypes.set(name, (eventTypes.get(name) ?? 0) + 1);
      const failed = e.workflowTaskFailedEventAttributes;
      if (failed) {
        const cause = temporal.api.enums.v1.WorkflowTaskFailedCause[failed.cause ?? 0] ?? String(failed.cause);
        const why = `${cause.replace('WORKFLOW_TASK_FAILED_CAUSE_', '')}: ${failed.failure?.message ?? ''}`;
        failedTasks.set(why, (failedTasks.get(why) ?? 0) + 1);
      }
    }
    const can = events[events.length - 1]?.workflowExecutionContinuedAsNewEventAttributes;
    const payload = can?.input?.payloads?.[0];
    const input = payload ? (defaultPayloadConverter.fromPayload(payload) as { carried?: unknown }) : undefined;
    runs.push({
      runId,
      events: events.length,
      ...(payload ? { inputBytes: payload.data?.length ?? 0 } : {}),
      ...(input?.carried !== undefined ? { carriedBytes: Buffer.byteLength(JSON.stringify(input.carried)) } : {}),
    });
    if (!largest || events.length > (largest.events?.length ?? 0)) largest = history;
    runId = can?.newExecutionRunId ?? undefined;
  }
  return { runs, eventTypes, failedTasks, largest: largest! };
}

async function longestChild(client: Client, ids: string[]): Promise<number> {
  const lengths = await Promise.all(
    ids.map(async (id) => (await client.workflow.getHandle(id).fetchHistory()).events?.length ?? 0),
  );
  return Math.max(...lengths);
}

/**
 * A FAILED database waits for an operator (retry or cancel), so a fleet with one never ends: once
 * nothing runs and something failed, the run is terminated and reported, not waited on forever.
 */
async function stuck(handle: WorkflowHandle<typeof MultiDatabaseMigration>, ended: () => boolean): Promise<never> {
  // Stops once the result is in: a query of a closed parent replays its whole history.
  for (;;) {
    await new Promise((r) => setTimeout(r, 5_000));
    if (ended()) return new Promise<never>(() => undefined);
    const dbs = (await handle.query(statusQuery)).databases;
    const failed = dbs.filter((d) => d.state === 'FAILED');
    if (!failed.length || dbs.some((d) => !isTerminal(d.state))) continue;
    await handle.terminate('bench: databases failed');
    throw new Error(`${failed.length} database(s) FAILED, the first: ${failed[0].lastError}`);
  }
}

/** Status reads per database: the waits' and the watcher's polls, which go on until a cancel reaches them. */
function perDatabase(sim: SimPlatform, migrationId: string, names: string[]): string {
  const reads = names.map((n) => sim.calls(migrationId, n, 'getReplicationStatus')).sort((a, b) => a - b);
  const mean = reads.reduce((a, b) => a + b, 0) / reads.length;
  const p50 = reads[Math.floor(reads.length / 2)];
  return `getReplicationStatus per database: mean ${mean.toFixed(0)}, p50 ${p50}, max ${reads[reads.length - 1]}`;
}

async function timedReplay(bundle: WorkflowBundle, history: History, workflowId: string): Promise<number> {
  const t = Date.now();
  await Worker.runReplayHistory({ workflowBundle: bundle, replayName: `replay-${workflowId}` }, history, workflowId);
  return Date.now() - t;
}

interface Env {
  client: Client;
  sim: SimPlatform;
  dbmigBundle: WorkflowBundle;
  bareBundle: WorkflowBundle;
  stamp: string;
}

async function run(env: Env, path: Path, round: number): Promise<Result> {
  const id = `scale-${path}-${env.stamp}-${round}`;
  const rssStartMb = Math.round(process.memoryUsage().rss / 2 ** 20);
  const stopRss = rssSampler();
  const t = Date.now();
  let firstRunId: string;
  let outcome: string;
  let children: string[];
  let simCalls: string | undefined;
  if (path === 'dbmig') {
    const plan = fleetPlan(`t-${env.stamp}-${round}`);
    const handle = await env.client.workflow.start(MultiDatabaseMigration, {
      taskQueue: TASK_QUEUE,
      workflowId: id,
      args: [{ plan }],
    });
    firstRunId = handle.firstExecutionRunId;
    let ended = false;
    const result = handle.result().finally(() => (ended = true));
    const report = await Promise.race([result, stuck(handle, () => ended)]);
    outcome = `${report.completed} completed, ${report.failed} failed, ${report.needsAttention} need attention`;
    const names = plan.databases.map((d) => d.name);
    simCalls = perDatabase(env.sim, id, names);
    children = [names[0], names[Math.floor(names.length / 2)], names[names.length - 1]].map((n) =>
      childWorkflowId(id, n),
    );
  } else {
    const handle = await env.client.workflow.start(FanOutParent, {
      taskQueue: FAN_OUT_TASK_QUEUE,
      workflowId: id,
      args: [{ children: DATABASES, concurrency: CONCURRENCY, steps: BARE_STEPS }],
    });
    firstRunId = handle.firstExecutionRunId;
    outcome = `${await handle.result()} completed`;
    children = [0, Math.floor(DATABASES / 2), DATABASES - 1].map((i) => `${id}/${i}`);
  }
  const wallMs = Date.now() - t;
  const peakRssMb = stopRss();
  const chain = await parentChain(env.client, id, firstRunId);
  const bundle = path === 'dbmig' ? env.dbmigBundle : env.bareBundle;
  return {
    path,
    round,
    wallMs,
    runs: chain.runs,
    childEvents: await longestChild(env.client, children),
    peakRssMb,
    replayMs: await timedReplay(bundle, chain.largest, id),
    eventTypes: chain.eventTypes,
    failedTasks: chain.failedTasks,
    rssStartMb,
    outcome,
    ...(simCalls ? { simCalls } : {}),
  };
}

const kb = (bytes: number | undefined) => (bytes === undefined ? '-' : (bytes / 1024).toFixed(1));
const verdict = (ok: boolean) => (ok ? 'ok' : 'OVER');

const HEADERS = ['PATH', 'ROUND', 'WALL_S', 'PARENT_RUNS', 'MAX_EVENTS', 'MAX_CARRIED_KB', 'INPUT_KB'].concat([
  'CHILD_EVENTS',
  'RSS_START_MB',
  'PEAK_RSS_MB',
  'REPLAY_MS',
  'OUTCOME',
]);

function summaryRow(r: Result): string[] {
  const maxEvents = Math.max(...r.runs.map((x) => x.events));
  const carried = r.runs.map((x) => x.carriedBytes ?? 0);
  const maxCarried = carried.some((c) => c > 0) ? Math.max(...carried) : undefined;
  const input = r.runs.map((x) => x.inputBytes ?? 0);
  return [
    r.path,
    String(r.round),
    (r.wallMs / 1000).toFixed(1),
    String(r.runs.length),
    `${maxEvents} ${verdict(maxEvents < TARGETS.events)}`,
    maxCarried === undefined ? '-' : `${kb(maxCarried)} ${verdict(maxCarried < TARGETS.carriedKb * 1024)}`,
    input.some((c) => c > 0) ? kb(Math.max(...input)) : '-',
    String(r.childEvents),
    String(r.rssStartMb),
    `${r.peakRssMb} ${verdict(r.peakRssMb <= TARGETS.rssMb)}`,
    `${r.replayMs} ${verdict(r.replayMs <= TARGETS.replayMs)}`,
    r.outcome,
  ];
}

function eventTable(results: Result[]): string {
  const paths: Path[] = ['dbmig', 'bare'];
  const types = new Map<string, number[]>();
  for (const r of results) {
    for (const [name, n] of r.eventTypes) {
      const row = types.get(name) ?? [0, 0];
      row[paths.indexOf(r.path)] += n;
      types.set(name, row);
    }
  }
  const rows = [...types.entries()]
    .sort((a, b) => b[1][0] + b[1][1] - (a[1][0] + a[1][1]))
    .map(([name, [d, b]]) => [name, String(d), String(b)]);
  return table(['PARENT_EVENT (all runs, all rounds)', 'DBMIG', 'BARE'], rows);
}

async function main(): Promise<void> {
  console.log(`P4/P5: ${DATABASES} databases, concurrency ${CONCURRENCY}, sim poll ${values.poll}, ${ROUNDS} round(s)`);
  console.log(`10,000-database plan: ${refusal()}`);
  Runtime.install({
    logger: new DefaultLogger('ERROR'),
    telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' } } },
  });
  const [server, dbmigBundle, bareBundle] = await Promise.all([
    startDevServer(),
    cachedWorkflowBundle(),
    bundleFanOut(),
  ]);
  const sim = new SimPlatform();
  const workers = await Promise.all([
    createMigrationWorker({
      connection: server.nativeConnection,
      taskQueue: TASK_QUEUE,
      platforms: { sim },
      workflowBundle: dbmigBundle,
      maxCachedWorkflows: CACHE,
    }),
    createFanOutWorker(server.nativeConnection, bareBundle, CACHE),
  ]);
  const running = workers.map((w) => w.run());
  // What the process holds before any fleet runs: both workers, their bundles, every platform's libraries.
  console.log(`RSS with both workers idle: ${Math.round(process.memoryUsage().rss / 2 ** 20)} MB`);
  const env: Env = { client: server.client, sim, dbmigBundle, bareBundle, stamp: Date.now().toString(36) };
  const results: Result[] = [];
  console.log(HEADERS.join('  '));
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      // Alternate which goes first, so neither always runs on a warmer server.
      const order: Path[] = round % 2 ? ['dbmig', 'bare'] : ['bare', 'dbmig'];
      for (const path of order) {
        if (values.only && values.only !== path) continue;
        const r = await run(env, path, round);
        results.push(r);
        // Printed as it comes, so an interrupted benchmark keeps what it measured.
        console.log(summaryRow(r).join('  '));
      }
    }
  } finally {
    for (const w of workers) w.shutdown();
    await Promise.all(running);
    await server.teardown();
  }
  console.log();
  console.log(table(HEADERS, results.map(summaryRow)));
  console.log();
  const wall = (p: Path) => results.filter((r) => r.path === p).reduce((s, r) => s + r.wallMs, 0);
  if (wall('dbmig') && wall('bare')) {
    const ratio = wall('dbmig') / wall('bare');
    console.log(
      `wall time dbmig / bare: ${ratio.toFixed(2)} (target ≤ ${TARGETS.ratio}: ${verdict(ratio <= TARGETS.ratio)})`,
    );
  }
  console.log();
  const runRows = results.flatMap((r) =>
    r.runs.map((x, i) => [
      r.path,
      String(r.round),
      String(i + 1),
      String(x.events),
      kb(x.carriedBytes),
      kb(x.inputBytes),
    ]),
  );
  console.log(table(['PATH', 'ROUND', 'PARENT_RUN', 'EVENTS', 'CARRIED_KB', 'INPUT_KB'], runRows));
  console.log();
  console.log(eventTable(results));
  for (const r of results) {
    if (r.simCalls) console.log(`${r.path} round ${r.round}: ${r.simCalls}`);
    for (const [why, n] of r.failedTasks) console.log(`${r.path} round ${r.round}: ${n} failed parent task(s), ${why}`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
