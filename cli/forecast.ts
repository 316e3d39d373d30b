// `dbmig forecast --plan FILE`: when the fleet will finish, before it starts. The plan's own
// workflows (MultiDatabaseMigration and its DatabaseMigration children: waves, concurrency and
// priorities as a real run has them) run on the simulated platform, on a private time-skipping test
// server and an in-process worker, each database calibrated from the latest rehearsal's measured
// rates, else from named defaults (common/forecast-calibration.ts). Manual approvals are given after
// the expected approval wait, and a windowed plan's cutovers when its window next opens on the
// forecast's calendar (forecast-window.ts). The simulated durations are divided by a speedup so the run takes
// seconds: the server holds its clock while an activity runs (the copy and catch-up are activities),
// so only a uniform speedup, multiplied back on the history's timestamps, keeps every phase to scale.
import type { Client } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { SimPlatform } from '../activities/platforms/sim';
import { approveCutover, getStatus, startMigration } from '../client/client';
import { loadPlan } from '../client/plan-file';
import { calibrate, FORECAST_DEFAULTS, simFor, type Calibration } from '../common/forecast-calibration';
import { parseDuration } from '../common/durations';
import { childWorkflowId } from '../common/naming';
import { effectiveSettings } from '../common/plan-settings';
import { type Plan, type PlanInput } from '../common/plan';
import { createMigrationWorker } from '../worker/worker';
import { startTimeSkippingServer } from '../worker/time-skipping-server';
import { databaseTimeline, type DatabaseTimeline } from './forecast-timeline';
import { fleetForecast, type Forecast } from './forecast-report';
import { cutoverDueMs, longestWindowWaitMs, splitWindowWait } from './forecast-window';
import { eventMs } from './history-spans';
import { planHash, readRehearsals } from './rehearsal-record';

export interface ForecastOptions {
  /** How long a human takes to approve a manual cutover (default FORECAST_DEFAULTS.approvalWaitMs). */
  approvalWaitMs?: number;
  /** When the fleet starts (default now). */
  start?: Date;
  /** The most real time the run may take (default 10 min); the speedup follows. */
  maxRealMs?: number;
  rehearsalsDir?: string;
  log?: (line: string) => void;
}

const TASK_QUEUE = 'dbmig-forecast';
/** How often the simulated waits poll, in real milliseconds: small against a phase of seconds. */
const POLL_MS = 20;
const ENDED = ['COMPLETED', 'FINALIZED', 'FAILED', 'CANCELLED', 'NEEDS_ATTENTION'];
const ms = (n: number) => `${Math.max(1, Math.round(n))}ms`;

/**
 * How much faster than real time the forecast runs. Each activity costs the run some real
 * milliseconds of its own (scheduling, polling) that the speedup multiplies too: the shortest phase
 * keeps at least `MIN_PHASE_REAL_MS` of real time so that cost stays a few percent of it, unless the
 * whole fleet would then take longer than `maxRealMs`.
 */
export function speedupFor(
  plan: Plan,
  cal: Calibration[],
  approvalWaitMs: number,
  maxRealMs: number,
  windowWaitMs = 0,
): number {
  const stable = (c: Calibration) =>
    effectiveSettings(
      plan,
      plan.databases.find((x) => x.name === c.database)!,
    ).stableWindowMs;
  const chain = (c: Calibration) =>
    c.copyMs +
    c.catchUpMs +
    stable(c) +
    2 * c.validationMs +
    approvalWaitMs +
    windowWaitMs +
    c.cutoverMs +
    Object.values(c.stepsMs).reduce((a, t) => a + (t ?? 0), 0);
  const phases = cal.flatMap((c) => [c.copyMs, c.catchUpMs + stable(c), c.validationMs]).filter((x) => x > 0);
  const waves = Math.ceil(plan.databases.length / Math.max(1, plan.concurrency));
  const fits = (Math.max(...cal.map(chain)) * waves) / maxRealMs;
  return Math.max(1, Math.min(...phases, Infinity) / MIN_PHASE_REAL_MS, fits);
}

/** The shortest phase's real time at the speedup chosen. */
const MIN_PHASE_REAL_MS = 2_000;

/** The plan the forecast runs: the same databases, order and waves, on the simulated platform. */
function forecastPlan(plan: Plan, id: string, speedup: number, held: boolean): PlanInput {
  const scaled = (d: string | undefined) => (d === undefined ? undefined : ms(parseMs(d) / speedup));
  return {
    migrationId: id,
    platform: 'sim',
    concurrency: plan.concurrency,
    // Held by the forecast's approvals: a manual plan's, and a windowed plan's until its window (forecast-window.ts).
    approval: held ? { policy: 'manual', timeout: plan.approval.timeout, onTimeout: 'escalate' } : { policy: 'auto' },
    defaults: { ...plan.defaults, stableWindow: scaled(plan.defaults.stableWindow)! },
    cutover: { reverseReplicationFor: '0s' },
    // What decides order and timing, and nothing platform-specific (connectivity, throttles, copy helpers).
    databases: plan.databases.map((d) => ({
      name: d.name,
      engine: d.engine,
      sizeGb: d.sizeGb,
      priority: d.priority,
      source: d.source,
      target: {
        kind: 'cloudsql' as const,
        instance: d.target.instance,
        ...(d.target.database ? { database: d.target.database } : {}),
      },
      ...(d.lagThresholdSeconds !== undefined ? { lagThresholdSeconds: d.lagThresholdSeconds } : {}),
      ...(d.stableWindow ? { stableWindow: scaled(d.stableWindow) } : {}),
      ...(d.dependsOn ? { dependsOn: d.dependsOn } : {}),
    })),
  };
}

const parseMs = (d: string): number => parseDuration(d) ?? 0;

async function firstEventMs(client: Client, workflowId: string): Promise<number> {
  const { events } = await client.workflow.getHandle(workflowId).fetchHistory();
  return eventMs(events![0]);
}

export async function forecast(file: string, opts: ForecastOptions = {}): Promise<Forecast> {
  const say = opts.log ?? ((line: string) => console.error(line));
  const { plan } = loadPlan(file);
  const hash = planHash(plan);
  const cal = calibrate(
    plan,
    hash,
    readRehearsals(opts.rehearsalsDir),
    (d) => effectiveSettings(plan, d).stableWindowMs,
  );
  const manual = plan.approval.policy === 'manual';
  const approvalWaitMs = manual ? (opts.approvalWaitMs ?? FORECAST_DEFAULTS.approvalWaitMs) : 0;
  const window = plan.cutoverWindow;
  const start = opts.start ?? new Date();
  const windowWaitMs = window ? longestWindowWaitMs(window, start) : 0;
  const speedup = speedupFor(plan, cal, approvalWaitMs, opts.maxRealMs ?? 600_000, windowWaitMs);
  const held = manual || window !== undefined;
  const byName = new Map(cal.map((c) => [c.database, c]));
  const platform = new SimPlatform((task) => {
    const c = byName.get(task.database.name);
    return c && simFor(c, task.settings.lagThresholdSeconds, speedup, POLL_MS);
  });
  const id = `forecast-${plan.migrationId ?? 'plan'}`;
  // Quiet, unless a caller (a benchmark that also runs workers) installed the runtime already: it is a singleton.
  if (Runtime._instance === undefined)
    Runtime.install({
      logger: new DefaultLogger('ERROR'),
      telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' } } },
    });
  say(`running the plan's workflows on the simulated platform, ${speedup.toFixed(0)}x faster than real time`);
  const env = await startTimeSkippingServer();
  const worker = await createMigrationWorker({
    connection: env.nativeConnection,
    taskQueue: TASK_QUEUE,
    platforms: { sim: platform },
  });
  const running = worker.run();
  try {
    await startMigration(env.client, forecastPlan(plan, id, speedup, held), { taskQueue: TASK_QUEUE });
    // The fleet's start on the server's clock (its first event), which the timeline counts from:
    // the approvals below are timed from it too (nothing skips the clock while activities run).
    const realStart = await firstEventMs(env.client, id);
    /** Per database held: when (real ms) the forecast gives its approval. */
    const due = new Map<string, number>();
    const approved = new Set<string>();
    let status = await getStatus(env.client, id);
    while (!status.databases.every((s) => ENDED.includes(s.state))) {
      for (const s of status.databases) {
        if (!held || s.state !== 'AWAITING_APPROVAL' || approved.has(s.database)) continue;
        const awaitingMs = (Date.now() - realStart) * speedup;
        const at = due.get(s.database) ?? realStart + cutoverDueMs(start, awaitingMs, approvalWaitMs, window) / speedup;
        due.set(s.database, at);
        if (Date.now() < at) continue;
        const why = window
          ? 'the expected approval wait passed and the window opened'
          : 'the expected approval wait passed';
        await approveCutover(env.client, id, s.database, 'dbmig-forecast', why);
        approved.add(s.database);
      }
      await new Promise((r) => setTimeout(r, 5));
      status = await getStatus(env.client, id);
    }
    const timelines: DatabaseTimeline[] = [];
    for (const d of plan.databases) {
      const h = await env.client.workflow.getHandle(childWorkflowId(id, d.name)).fetchHistory();
      const t = databaseTimeline(d.name, h.events ?? [], realStart, speedup);
      timelines.push(window ? splitWindowWait(t, approvalWaitMs) : t);
    }
    const states = new Map(status.databases.map((s) => [s.database, s.state]));
    return fleetForecast(plan, cal, timelines, states, { start, speedup, approvalWaitMs, window });
  } finally {
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await running.catch(() => undefined);
    await env.teardown().catch(() => undefined);
  }
}
