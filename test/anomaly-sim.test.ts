// Anomaly detection end to end on the simulated platform and a real dev server: a fleet of three
// waiting for their approvals, one whose lag starts rising, one whose target fails to apply for a
// while, one healthy with a wandering small lag. Each anomaly reaches the webhook as an `anomaly`
// event and the status as a line; the one that ends clears (a `cleared` event, no line); the healthy
// database gets none. The detector runs inside the watch: the history does not grow per poll.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { SimPlatform } from '../activities/platforms/sim';
import { getStatus } from '../client/client';
import type { PlanInput } from '../common/plan';
import { MultiDatabaseMigration } from '../workflows';
import { startDevServer } from '../worker/dev-server';
import { createMigrationWorker } from '../worker/worker';
import { cachedWorkflowBundle } from './helpers/bundle-cache';
import { eventually } from './helpers/harness';
import { startWebhookChannel, TEST_HOOK_CHANNEL, type WebhookReceiver } from './helpers/receivers';
import { WANDERING_LAG } from './helpers/sim-lag';
import { fakePlan } from './helpers/workflow-env';

const TASK_QUEUE = 'anomaly-sim';
const HOOK_SECRET = 'whsec-anomaly-0123456789';
let env: TestWorkflowEnvironment;
let worker: Worker;
let running: Promise<void>;
let hook: WebhookReceiver;

before(async () => {
  [env, hook] = await Promise.all([startDevServer(), startWebhookChannel(HOOK_SECRET)]);
  worker = await createMigrationWorker({
    connection: env.nativeConnection,
    taskQueue: TASK_QUEUE,
    platforms: { sim: new SimPlatform() },
    workflowBundle: await cachedWorkflowBundle(),
  });
  running = worker.run();
});

after(async () => {
  worker?.shutdown();
  await running;
  await env?.teardown();
  await hook?.close();
});

/**
 * Times are since each database's CDC began. Everyone is under the 5 s cutover threshold for the
 * first 20 s, so all three reach their approval wait (and its watch) before anything goes wrong.
 */
function plan(): PlanInput {
  const base = fakePlan(['rising', 'failing', 'healthy']);
  return {
    ...base,
    platform: 'sim',
    concurrency: 3,
    approval: { policy: 'manual', timeout: '24h' },
    defaults: { lagThresholdSeconds: 5, stableWindow: '1s', noPrimaryKey: 'fail' },
    databases: base.databases.map((d) => ({ ...d, target: { ...d.target, instance: 'anomaly-t' } })),
    notifications: {
      channels: { hook: TEST_HOOK_CHANNEL },
      routes: [{ events: ['anomaly'], channels: ['hook'] }],
      // The sim runs in seconds what production runs in minutes: a 4 s window, a 5 s rise.
      anomalies: { window: '4s', lagRiseSeconds: 5 },
    },
    sim: {
      pollInterval: '100ms',
      byDatabase: {
        // Flat at 1 s, then +10 s of lag per second from 20 s on (a source writing faster than the target applies).
        rising: {
          lag: [
            { after: '0s', seconds: 1 },
            { after: '20s', seconds: 1 },
            { after: '300s', seconds: 2801 },
          ],
        },
        // The target fails to apply from 20 s to 24 s (an error every 300 ms), then recovers.
        failing: { applyErrors: { after: '20s', every: '300ms', until: '24s' } },
        // A small lag that wanders up and down by a few seconds: noise, not a trend.
        healthy: { lag: WANDERING_LAG },
      },
    },
  };
}

const anomalyEvents = (id: string) =>
  [...hook.deliveries.values()]
    .filter((d) => d.event === 'anomaly' && d.body.migrationId === id)
    .map((d) => {
      const f = d.body.facts as { anomaly: string; cleared?: boolean };
      return `${String(d.body.database)}:${f.anomaly}:${f.cleared ? 'cleared' : 'detected'}`;
    });

test('each anomaly kind fires on a sim fleet and the failing one clears; the healthy database fires none', async () => {
  const id = 'anomaly-fleet';
  const handle = await env.client.workflow.start(MultiDatabaseMigration, {
    taskQueue: TASK_QUEUE,
    workflowId: id,
    args: [{ plan: plan() }],
  });
  try {
    await eventually(
      'lag-trend detected on rising, apply-errors detected and cleared on failing',
      async () => {
        const e = anomalyEvents(id);
        return e.includes('rising:lag-trend:detected') &&
          e.includes('failing:apply-errors:detected') &&
          e.includes('failing:apply-errors:cleared')
          ? e
          : undefined;
      },
      180_000,
    );
    // The status says what is active now: a line for rising's trend, none for the others.
    const status = await eventually('the status shows the lag trend', async () => {
      const s = await getStatus(env.client, id);
      const rising = s.databases.find((d) => d.database === 'rising')!;
      return rising.anomalies?.some((l) => l.startsWith('lag-trend since ')) ? s : undefined;
    });
    const rising = status.databases.find((d) => d.database === 'rising')!;
    assert.match(rising.anomalies![0], /lag grows \d+(\.\d)? s per minute/);
    assert.equal(rising.state, 'AWAITING_APPROVAL', 'an anomaly tells people and holds nothing back');
    const failing = status.databases.find((d) => d.database === 'failing')!;
    assert.equal(failing.anomalies, undefined, 'cleared: no line left');
    // The healthy database, watched all along (through its wandering lag), fired nothing.
    const healthy = status.databases.find((d) => d.database === 'healthy')!;
    assert.equal(healthy.state, 'AWAITING_APPROVAL');
    assert.equal(healthy.anomalies, undefined);
    const events = anomalyEvents(id);
    assert.deepEqual(
      events.filter((e) => e.startsWith('healthy:')),
      [],
    );
    // Each change is told once: no flapping.
    assert.equal(events.filter((e) => e === 'rising:lag-trend:detected').length, 1);
    assert.equal(events.filter((e) => e === 'failing:apply-errors:detected').length, 1);
  } finally {
    await handle.terminate('test over');
  }
});
