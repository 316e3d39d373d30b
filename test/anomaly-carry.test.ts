// The anomalies a database's run believes active, and how many anomaly notifications it sent, cross
// continue-as-new (carried-run.ts): a run continued while lag-trend was active tells its clearing
// when the watch reports it gone (occurrence 2, after the first run's 1), and does not tell it again
// when the watch still finds it. With mocked activities on a dev server: the watch of the continued
// run reports at once.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { databaseStatusQuery, type ReplicationHealth } from '../common/messages';
import { effectiveSettings } from '../common/plan-settings';
import { validatePlan } from '../common/plan';
import { newDatabaseSummary } from '../common/status';
import { DatabaseMigration } from '../workflows';
import type { DatabaseMigrationInput } from '../workflows/database-input';
import { FAST, createWorkflowEnv, eventually, fakePlan, type WorkflowEnv } from './helpers/workflow-env';

let w: WorkflowEnv;
before(async () => {
  w = await createWorkflowEnv('anomaly-carry', { server: 'dev' });
});
after(async () => w?.close());

const since = '2026-12-01T10:00:00.000Z';
const trend = { kind: 'lag-trend' as const, detail: 'lag grows 12.0 s per minute', since };

/** A run continued as new at its approval wait, with the watch running and lag-trend active (1 notification sent). */
function continued(migrationId: string): DatabaseMigrationInput {
  const plan = validatePlan(
    fakePlan(['alpha'], {
      approval: { policy: 'manual', timeout: '24h' },
      notifications: {
        channels: { hook: { type: 'webhook', urlRef: 'env:NEVER_READ', secretRef: 'env:NEVER_READ' } },
        routes: [{ events: ['anomaly'], channels: ['hook'] }],
      },
    }),
  );
  const database = plan.databases[0];
  const summary = {
    ...newDatabaseSummary(migrationId, database, since),
    state: 'AWAITING_APPROVAL' as const,
    anomalies: [`lag-trend since ${since}: ${trend.detail}`],
  };
  return {
    migrationId,
    platform: 'local',
    database,
    settings: effectiveSettings(plan, database),
    approval: { policy: 'manual', timeoutMs: 86_400_000, onTimeout: 'escalate' },
    notifications: plan.notifications!,
    carried: {
      at: 'awaiting-approval',
      summary,
      left: { job: true, capacity: true, target: true },
      attempts: 0,
      watching: true,
      anomalies: { active: [trend], events: 1 },
    },
  };
}

const anomalyNotes = (migrationId: string) =>
  w.mocks.notified
    .filter((n) => n.migrationId === migrationId && n.event === 'anomaly')
    .map((n) => ({ occurrence: n.occurrence, ...(n.facts as { anomaly: string; cleared: boolean }) }));

async function run(migrationId: string, health: ReplicationHealth) {
  w.mocks.tells('watchReplication', { migrationId }, health);
  return w.env.client.workflow.start(DatabaseMigration, {
    taskQueue: w.taskQueue,
    workflowId: `${migrationId}/alpha`,
    args: [continued(migrationId)],
  });
}

test('a continued run tells the clearing of an anomaly the run before it told', FAST, async () => {
  const handle = await run('carry-clear', { ok: true, lagging: false, anomalies: [], at: new Date().toISOString() });
  try {
    const notes = await eventually('the clearing told', async () => {
      const n = anomalyNotes('carry-clear');
      return n.length ? n : undefined;
    });
    assert.deepEqual(
      notes.map((n) => [n.anomaly, n.cleared, n.occurrence]),
      [['lag-trend', true, 2]],
      'cleared, numbered after the first run',
    );
    const s = await handle.query(databaseStatusQuery);
    assert.equal(s.anomalies, undefined, 'no line left in the status');
  } finally {
    await handle.terminate('test over');
  }
});

test('a continued run does not tell again an anomaly the run before it told', FAST, async () => {
  const handle = await run('carry-same', {
    ok: true,
    lagging: false,
    anomalies: [{ ...trend, detail: 'lag grows 14.0 s per minute' }],
    at: new Date().toISOString(),
  });
  try {
    // The watch's report has landed once the watch is running (it signals first); give the workflow its task.
    await eventually('the watch ran', async () => (w.mocks.watches('carry-same') ? true : undefined));
    await new Promise((r) => setTimeout(r, 1_500));
    assert.deepEqual(anomalyNotes('carry-same'), [], 'lag-trend was told by the run before: not again');
    const s = await handle.query(databaseStatusQuery);
    assert.deepEqual(s.anomalies, [`lag-trend since ${since}: ${trend.detail}`]);
  } finally {
    await handle.terminate('test over');
  }
});
