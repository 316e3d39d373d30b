// Rate anomalies end to end on the simulated platform and a real dev server. `dbmig start` (a
// process of its own) reads a passed rehearsal of the plan and hands its measured rates to the
// fleet; a database whose copy falls to a fifth of the rehearsal's rate gets copy-slow, cleared when
// the copy speeds up again; its apply rate falls to a fifth while there is lag, apply-slow fires
// and clears. A database with the same slow curves that no rehearsal measured gets no rate verdict,
// and its status says nothing is expected. A fleet without rehearsals expects, for a database
// started later (by a run continued as new), the median rate of the copies measured before it.
// Detection delays are measured from when the sim's rate changed to when the webhook had the event.
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { stringify } from 'yaml';
import { SimPlatform } from '../activities/platforms/sim';
import { copyMsOf } from '../activities/platforms/sim/settings';
import { approveCutover, getStatus } from '../client/client';
import { loadPlan } from '../client/plan-file';
import { planHash } from '../cli/rehearsal-record';
import { REHEARSAL_MB } from '../common/expected-rates';
import type { PlanInput } from '../common/plan';
import { eventually } from './helpers/harness';
import { recordHistory } from './helpers/histories';
import { startWebhookChannel, TEST_HOOK_CHANNEL, type WebhookReceiver } from './helpers/receivers';
import { runDbmig } from './helpers/run-dbmig';
import { WANDERING_LAG } from './helpers/sim-lag';
import { startSimWorker, type SimWorker } from './helpers/sim-worker';
import { fakePlan } from './helpers/workflow-env';

const taskQueue = 'anomaly-rates-sim';
const HOOK_SECRET = 'whsec-rates-0123456789';
const stateDir = mkdtempSync(join(tmpdir(), 'anomaly-rates-'));
const simPlatform = new SimPlatform();
let sim: SimWorker;
let hook: WebhookReceiver;

before(async () => {
  hook = await startWebhookChannel(HOOK_SECRET);
  sim = await startSimWorker(taskQueue, simPlatform);
});

after(async () => {
  await sim?.stop();
  await hook?.close();
  rmSync(stateDir, { recursive: true, force: true });
});

const notifications = {
  channels: { hook: TEST_HOOK_CHANNEL },
  routes: [{ events: ['anomaly' as const], channels: ['hook'] }],
  // The sim runs in seconds what production runs in minutes: a 4 s window (and rate window), a 5 s rise.
  anomalies: { window: '4s', lagRiseSeconds: 5 },
};

/** Copy at 100 MB/s, 20 from 4 s to 14 s, then 100 again: 2 GB take about 28.5 s. */
const SLOW_COPY = [
  { after: '0s', mbPerSecond: 100 },
  { after: '4s', mbPerSecond: 20 },
  { after: '14s', mbPerSecond: 100 },
];
/** Since CDC: applies 10 MB/s, 2 from 20 s to 32 s, then 10 again. */
const SLOW_APPLY = [
  { after: '0s', mbPerSecond: 10 },
  { after: '20s', mbPerSecond: 2 },
  { after: '32s', mbPerSecond: 10 },
];
/** Since CDC: 1 s (under the 5 s cutover threshold, so each reaches its approval wait), 10 s from 21 s to 45 s. */
const LAG_TO_APPLY = [
  { after: '0s', seconds: 1 },
  { after: '20s', seconds: 1 },
  { after: '21s', seconds: 10 },
  { after: '45s', seconds: 10 },
  { after: '46s', seconds: 1 },
];

/**
 * Since CDC: 20 s of lag caught up in 4 s, over the 5 s threshold for about 3 s, and under the
 * cutover's 1 s by the time the (auto-approved) cutover starts, so it is not refused and retried.
 */
const CATCH_UP = [
  { after: '0s', seconds: 20 },
  { after: '4s', seconds: 0.5 },
];

function ratesPlan(id: string): PlanInput {
  const base = fakePlan(['slow', 'unexpected', 'healthy']);
  return {
    ...base,
    migrationId: id,
    platform: 'sim',
    concurrency: 3,
    approval: { policy: 'manual', timeout: '24h' },
    defaults: { lagThresholdSeconds: 5, stableWindow: '1s', noPrimaryKey: 'fail' },
    databases: base.databases.map((d) => ({
      ...d,
      sizeGb: d.name === 'healthy' ? 1 : 2,
      target: { ...d.target, instance: 'rates-t' },
    })),
    notifications,
    sim: {
      pollInterval: '100ms',
      byDatabase: {
        slow: { copyMbPerSecond: SLOW_COPY, applyMbPerSecond: SLOW_APPLY, lag: LAG_TO_APPLY },
        // The same slowdowns, but nothing measured it before: nothing to compare with.
        unexpected: { copyMbPerSecond: SLOW_COPY, applyMbPerSecond: SLOW_APPLY, lag: LAG_TO_APPLY },
        // Copies at 95% and applies at 90% of what was rehearsed, with a small wandering lag.
        healthy: {
          copyMbPerSecond: [{ after: '0s', mbPerSecond: 95 }],
          applyMbPerSecond: [{ after: '0s', mbPerSecond: 9 }],
          lag: WANDERING_LAG,
        },
      },
    },
  };
}

/** When the test first saw each `database:kind:detected|cleared` webhook delivery of `id` (ms since the epoch). */
function watchEvents(id: string): { seen: Map<string, number>; stop: () => void } {
  const seen = new Map<string, number>();
  const timer = setInterval(() => {
    for (const d of hook.deliveries.values()) {
      if (d.event !== 'anomaly' || d.body.migrationId !== id) continue;
      const f = d.body.facts as { anomaly: string; cleared?: boolean };
      const key = `${String(d.body.database)}:${f.anomaly}:${f.cleared ? 'cleared' : 'detected'}`;
      if (!seen.has(key)) seen.set(key, Date.now());
    }
  }, 50);
  return { seen, stop: () => clearInterval(timer) };
}

const count = (id: string, key: string) =>
  [...hook.deliveries.values()].filter((d) => {
    const f = d.body.facts as { anomaly?: string; cleared?: boolean } | undefined;
    return (
      d.event === 'anomaly' &&
      d.body.migrationId === id &&
      `${String(d.body.database)}:${f?.anomaly}:${f?.cleared ? 'cleared' : 'detected'}` === key
    );
  }).length;

test('rehearsal rates via dbmig start: copy-slow, apply-slow fire and clear; none expected: no verdict', async () => {
  const id = 'rates-fleet';
  const planInput = ratesPlan(id);
  const file = join(stateDir, 'rates.yaml');
  writeFileSync(file, stringify(planInput));
  // A passed rehearsal of this very plan measured slow and healthy (not unexpected); an older one is
  // superseded, a failed newer one does not count.
  const hash = planHash(loadPlan(file).plan);
  const results = join(stateDir, 'rehearsal-results');
  mkdirSync(results, { recursive: true });
  const record = (name: string, passed: boolean, finishedAt: string, mb: number) =>
    writeFileSync(
      join(results, `${name}.json`),
      JSON.stringify({
        planHash: hash,
        passed,
        finishedAt,
        databases: [],
        rates: [
          { name: 'slow', sizeGb: 2, rows: 1, copyBytes: 1, sourceBytes: 1, mbPerSecond: mb, applyMbPerSecond: 10 },
          { name: 'healthy', sizeGb: 1, rows: 1, copyBytes: 1, sourceBytes: 1, mbPerSecond: mb, applyMbPerSecond: 10 },
        ],
      }),
    );
  record('old', true, new Date(Date.now() - 86_400_000).toISOString(), 1000);
  record('failed', false, new Date(Date.now() - 1_000).toISOString(), 1);
  record('latest', true, new Date(Date.now() - 60_000).toISOString(), 100);

  const events = watchEvents(id);
  const started = await runDbmig(sim.env.address, ['start', '--plan', file], {
    TEMPORAL_TASK_QUEUE: taskQueue,
    DBMIG_STATE_DIR: stateDir,
  });
  assert.equal(started.code, 0, started.stderr);
  assert.match(started.stdout, /expected rates: 2 of 3 database\(s\) from a passed rehearsal of this plan/);
  try {
    const all = [
      'slow:copy-slow:detected',
      'slow:copy-slow:cleared',
      'slow:apply-slow:detected',
      'slow:apply-slow:cleared',
    ];
    await eventually(
      'copy-slow and apply-slow fired and cleared on slow',
      async () => (all.every((k) => events.seen.has(k)) ? true : undefined),
      180_000,
    );
    const status = await getStatus(sim.env.client, id);
    const of = (name: string) => status.databases.find((d) => d.database === name)!;
    assert.match(of('slow').expectedRates!, /^copy 104\.86 MB\/s, apply 10\.49 MB\/s \(from the rehearsal of /);
    assert.match(of('unexpected').expectedRates!, /^none \(no rehearsal measured it/);
    assert.equal(of('slow').state, 'AWAITING_APPROVAL', 'an anomaly tells people and holds nothing back');

    // The delays, from the sim's own clock: when its rate changed, and when the webhook had the event.
    const job = simPlatform.world.record(id, 'slow').job!;
    const copyStart = job.startedAt!;
    const cdcStart = copyStart + copyMsOf(validSim(planInput), 'slow', 2);
    const delays = {
      copySlow: events.seen.get('slow:copy-slow:detected')! - (copyStart + 4_000),
      copyRecovered: events.seen.get('slow:copy-slow:cleared')! - (copyStart + 14_000),
      applySlow: events.seen.get('slow:apply-slow:detected')! - (cdcStart + 20_000),
      applyRecovered: events.seen.get('slow:apply-slow:cleared')! - (cdcStart + 32_000),
    };
    console.log(`detection delays (ms, 4 s window, 100 ms polls): ${JSON.stringify(delays)}`);
    // Under the 4 s window from the change (a rate is over a window; 3 polls confirm), plus delivery.
    for (const [k, ms] of Object.entries(delays)) assert.ok(ms > 0 && ms < 6_000, `${k}: ${ms} ms`);

    // Each change was told once; nothing at all for the database nothing was expected of, nor the healthy one.
    for (const k of all) assert.equal(count(id, k), 1, k);
    const stray = [...events.seen.keys()].filter((k) => /^(unexpected|healthy):(copy|apply)-slow/.test(k));
    assert.deepEqual(stray, []);

    // Approved, each finishes; the slow one's history (copy-slow and apply-slow fired and cleared)
    // is the replay fixture (DBMIG_RECORD_HISTORIES=1).
    for (const name of ['slow', 'unexpected', 'healthy']) await approveCutover(sim.env.client, id, name, 'tester');
    await recordHistory(sim.env.client, `${id}/slow`);
  } finally {
    events.stop();
    await sim.env.client.workflow
      .getHandle(id)
      .terminate('test over')
      .catch(() => undefined);
  }
});

function validSim(plan: PlanInput) {
  const file = join(stateDir, 'valid.json');
  writeFileSync(file, JSON.stringify(plan));
  return loadPlan(file).plan.sim!;
}

test('without a rehearsal, a database started later expects the median rate of the copies before it', async () => {
  const id = 'rates-median';
  // f1..f6 copy at once (the sim's default): too short to measure, they add no rate, only the
  // parent's events, so that it continues as new before c starts.
  const names = ['a', 'b', 'f1', 'f2', 'f3', 'f4', 'f5', 'f6', 'c'];
  const base = fakePlan(names);
  const plan: PlanInput = {
    ...base,
    platform: 'sim',
    concurrency: 1,
    approval: { policy: 'auto', timeout: '1h' },
    // The parent continues as new between the children: the measured rates travel in its summaries.
    continueAsNewAfterEvents: 100,
    defaults: { lagThresholdSeconds: 5, stableWindow: '1s', noPrimaryKey: 'fail' },
    databases: base.databases.map((d, i) => ({
      ...d,
      sizeGb: [1, 2, 1, 1, 1, 1, 1, 1, 2][i],
      target: { ...d.target, instance: 'med-t' },
    })),
    notifications,
    sim: {
      pollInterval: '100ms',
      byDatabase: {
        // Copies at 100 and 400 MB/s (of 1 and 2 GB: a rate does not grow with size), a median of
        // 250. Each catches up 20 s of lag after its copy, applying 10 and 40 MB/s: a median of 25.
        a: {
          copyMbPerSecond: [{ after: '0s', mbPerSecond: 100 }],
          applyMbPerSecond: [{ after: '0s', mbPerSecond: 10 }],
          lag: CATCH_UP,
        },
        b: {
          copyMbPerSecond: [{ after: '0s', mbPerSecond: 400 }],
          applyMbPerSecond: [{ after: '0s', mbPerSecond: 40 }],
          lag: CATCH_UP,
        },
        // c expects 250 MB/s and copies at 100: copy-slow from the fleet's own median.
        c: { copyMbPerSecond: [{ after: '0s', mbPerSecond: 100 }] },
      },
    },
  };
  const events = watchEvents(id);
  const handle = await sim.env.client.workflow.start('MultiDatabaseMigration', {
    taskQueue,
    workflowId: id,
    args: [{ plan }],
  });
  try {
    const c = await eventually(
      'c has an expectation',
      async () => {
        const s = (await getStatus(sim.env.client, id)).databases.find((d) => d.database === 'c')!;
        return s.expectedRates ? s : undefined;
      },
      120_000,
    );
    const m = /^copy ([\d.]+) MB\/s, apply ([\d.]+) MB\/s \(from the fleet median of 2 database/.exec(c.expectedRates!);
    assert.ok(m, c.expectedRates);
    // Copy: the median of 100 and 400, 250 MB of 1,048,576 bytes; apply: of 10 and 40, 25. Within 5%
    // (the rates are measured by polls).
    const near = (got: string, mb: number) => {
      const want = (mb * REHEARSAL_MB) / 1e6;
      assert.ok(Math.abs(Number(got) - want) / want < 0.05, `${got} MB/s, not about ${want.toFixed(2)}`);
    };
    near(m[1], 250);
    near(m[2], 25);
    const status = await getStatus(sim.env.client, id);
    const of = (name: string) => status.databases.find((d) => d.database === name)!.expectedRates!;
    assert.match(of('a'), /^none \(/, 'the first database has nothing to compare with');
    // b expects a's 100 MB/s (104.86 of 1e6 bytes) and copies at 400 (nothing slow); a's apply, 10.
    assert.match(of('b'), /^copy 10\d\.\d\d MB\/s, apply 1\d\.\d\d MB\/s .*fleet median of 1 database/);
    await eventually('c copies slower than the fleet median: copy-slow', async () =>
      events.seen.has('c:copy-slow:detected') ? true : undefined,
    );
    await handle.result();
    // c's copy ended slow: copy-slow is cleared with it (the copy is over).
    assert.ok(events.seen.has('c:copy-slow:cleared'));
    assert.deepEqual(
      [...events.seen.keys()].filter((k) => !k.startsWith('c:')),
      [],
    );
    // c was started by a run continued as new: its median came through the carried summaries.
    const first = await sim.env.client.workflow.getHandle(id, handle.firstExecutionRunId).describe();
    assert.equal(first.status.name, 'CONTINUED_AS_NEW');
    // Which run started c: a continued one, whose only source of a and b's rates was what it carried.
    let startedBy: string | undefined;
    for await (const run of sim.env.client.workflow.list({ query: `WorkflowId = "${id}"` })) {
      const history = await sim.env.client.workflow.getHandle(id, run.runId).fetchHistory();
      const startsC = history.events?.some(
        (e) => e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId === `${id}/c`,
      );
      if (startsC) startedBy = run.runId;
    }
    console.log(`first run: ${first.historyLength} events; c started by run ${startedBy}`);
    assert.ok(startedBy && startedBy !== handle.firstExecutionRunId, 'c was started by a continued run');
    // Replay fixtures (DBMIG_RECORD_HISTORIES=1): b reported its copy and catch-up rates to the
    // parent; the parent's last run started c with the median from what it carried.
    await recordHistory(sim.env.client, `${id}/b`);
    await recordHistory(sim.env.client, id);
  } finally {
    events.stop();
    await handle.terminate('test over').catch(() => undefined);
  }
});
