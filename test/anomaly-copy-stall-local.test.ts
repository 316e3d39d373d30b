// copy-slow on the local platform, on real clusters, as the non-superuser migration user: the
// sim's tests script the copy's rate, this one stops a real copy. The source's backend serving the
// copy's COPY ... TO STDOUT is stopped (SIGSTOP) as soon as it runs one, as a stalled disk or a
// frozen network would stop it, and continued (SIGCONT) once the status says copy-slow.
//   - The expected rate is 1 KB/s, which any copy that moves beats: only a copy that stopped falls
//     under half of it, however fast this machine is. The rate is over the plan's anomaly window
//     (4 s here; 30 s at most), so the verdict comes once a window has passed without bytes.
//   - The anomaly is in the status while it lasts, told once when it fires and once when it
//     clears (counted from the webhook's deliveries, not from history), and the copy, continued,
//     ends with the target equal to the source row for row.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { withClient } from '../activities/engines/postgres/sessions';
import type { FleetExpectations } from '../common/expected-rates';
import { MultiDatabaseMigration } from '../workflows';
import { planFor, type SourceDb } from './fixtures/fleet';
import { awaitRowForRow, createHarness, eventually, type Harness } from './helpers/harness';
import { createMigrationUser, createRole, handOver, type MigrationUser } from './helpers/migration-user';
import { startWebhookChannel, TEST_HOOK_CHANNEL, type WebhookReceiver } from './helpers/receivers';

const DB: SourceDb = { name: 'stall', rows: 300_000, priority: 'high', sizeGb: 1 };
const ID = 'copy-stall-local';
const HOOK_SECRET = 'whsec-stall-0123456789';

let h: Harness;
let migrator: MigrationUser;
let hook: WebhookReceiver;
before(async () => {
  // The worker runs in this process: it reads the hook's secrets and the migration user's password.
  hook = await startWebhookChannel(HOOK_SECRET);
  h = await createHarness('copy-stall', { databases: [DB], sourceVersion: 16 });
  migrator = await createMigrationUser(h.source, 'stall_migrator', 'DBMIG_TEST_STALL_MIGRATOR_PASSWORD');
  const app = await createRole(h.source, 'stall_app');
  await handOver(h.source, DB.name, { owner: 'stall_owner', apps: [app.user], migrator: migrator.user });
});
after(async () => {
  await h?.env.client.workflow
    .getHandle(ID)
    .terminate('test over')
    .catch(() => undefined);
  await h?.close();
  await hook?.close();
});

/** The source backend running the copy's COPY ... TO STDOUT for DB, once there is one. */
async function copyBackend(): Promise<number | undefined> {
  return withClient({ ...h.source, database: 'postgres' }, async (c) => {
    const { rows } = await c.query<{ pid: number }>(
      `select pid from pg_stat_activity
        where datname = $1 and application_name like 'dbmig copy %' and state = 'active'
          and query ilike 'copy (%) to stdout%'`,
      [DB.name],
    );
    return rows[0]?.pid;
  });
}

/** The webhook's anomaly deliveries for DB: `copy-slow:detected`, `copy-slow:cleared`, ... */
function anomalyDeliveries(): string[] {
  return [...hook.deliveries.values()].flatMap((d) => {
    if (d.event !== 'anomaly' || d.body.migrationId !== ID || d.body.database !== DB.name) return [];
    const f = d.body.facts as { anomaly: string; cleared?: boolean };
    return [`${f.anomaly}:${f.cleared ? 'cleared' : 'detected'}`];
  });
}

test('a real copy that stops moving is copy-slow; continued, it clears and ends row for row equal', async (t) => {
  const plan = planFor({ ...h.source, user: migrator.user }, [DB], `env:${migrator.env}`, {
    // One stream over 1 MB ranges: one source backend runs every range, one after the other.
    copy: { streams: 1, rangeMb: 1 },
    notifications: {
      channels: { hook: TEST_HOOK_CHANNEL },
      routes: [{ events: ['anomaly'], channels: ['hook'] }],
      anomalies: { window: '4s' },
    },
  });
  const expected: FleetExpectations = { [DB.name]: { copyBytesPerSecond: 1_000, source: 'this test' } };
  await h.env.client.workflow.start(MultiDatabaseMigration, {
    taskQueue: h.taskQueue,
    workflowId: ID,
    args: [{ plan: { ...plan, migrationId: ID }, expected }],
  });

  // Caught within 5 ms of its first COPY: the copy has hundreds of ranges' worth of rows left.
  const pid = await eventually('the copy to run a COPY on the source', copyBackend, 180_000, 5);
  const stoppedAt = Date.now();
  process.kill(pid, 'SIGSTOP');
  let continued = false;
  try {
    const slow = await eventually(
      'copy-slow in the status',
      async () => (await h.statusOf(ID, DB.name)).anomalies?.find((a) => a.startsWith('copy-slow since ')),
      120_000,
      250,
    );
    const stalledMs = Date.now() - stoppedAt;
    // A window without bytes, then 3 progress reports (1 s apart) to confirm, then the signal and the status poll.
    assert.ok(stalledMs >= 4_000, `not before a window had passed (${stalledMs} ms)`);
    assert.equal((await h.statusOf(ID, DB.name)).state, 'FULL_DUMP', 'the copy had not ended');
    assert.match(slow, /copies 0\.00 MB\/s, 0% of the expected 0\.00 MB\/s/);
    t.diagnostic(`stopped for ${stalledMs} ms before the status said: ${slow}`);
    process.kill(pid, 'SIGCONT');
    continued = true;
  } finally {
    if (!continued) process.kill(pid, 'SIGCONT');
  }

  await h.reach(ID, DB.name, 'AWAITING_APPROVAL');
  assert.deepEqual((await h.statusOf(ID, DB.name)).anomalies ?? [], [], 'cleared once the copy moved again');
  const target = { ...(await h.platform.clusters.ensure('fleet-target')), database: DB.name };
  await awaitRowForRow({ ...h.source, database: DB.name }, target);
  await eventually('the clearing delivered', async () => anomalyDeliveries().includes('copy-slow:cleared'), 30_000);
  assert.deepEqual(anomalyDeliveries().sort(), ['copy-slow:cleared', 'copy-slow:detected'], 'each told once');
});
