// Issue 19, points 5 and 8: the replica-lag limit (maxReplicaLagSeconds) on a real streaming
// physical standby of the source (helpers/standby.ts), as a non-superuser migration user (it sees
// the standby's lag through pg_read_all_stats), through the workflows and a `dbmig worker` process.
//   - The standby's replay is paused (pg_wal_replay_pause() on it) while an application writes to
//     the source: the standby goes on receiving and writing the WAL and replays none of it, so its
//     replay_lag grows. The copy is held before its first range (no range done over ten readings),
//     `dbmig status` says "throttled: standby replica-a is … s behind" on the copy's line with a lag
//     that keeps growing, and dbmig_throttled{step="copy",reason="replica-lag"} is 1. Replay
//     resumed, the copy goes on by itself and the run reaches approval with the target row for row
//     equal.
//   - The live validation is held the same way before its first chunk, and compares once replay resumes.
//   - A source that is itself a standby (replica-a) is read the same way: its own cascaded standby
//     (replica-b) holds the gate while behind.
//   - On an idle source, the gate goes on as soon as the standby reports it replayed everything,
//     though the source still shows the stale lag PostgreSQL measured on that reply.
//
// Why writes must go on while replay is paused: the source computes a standby's lag from the
// standby's replies (walsender.c, LagTrackerRead): the time since it sent the WAL the standby says
// it has replayed up to. Only WAL sent after the pause gives a replay position to wait for; with
// none the lag stays where it was (or NULL, once caught up), and with no new WAL it moves only at
// the standby's status replies (wal_receiver_status_interval, 10 s). The standby replies whenever
// it writes WAL it received, so the writer's commits both make the lag and keep its reading fresh. The test
// checks so on pg_stat_replication before relying on it: replay_lsn stays put while sent_lsn moves
// on, and replay_lag passes the limit while write_lag does not.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { resourceNames } from '../common/naming';
import { Throttle } from '../activities/engines/postgres/throttle';
import { compareLive, type LiveCheckpoint } from '../activities/engines/postgres/validate-live';
import { planFor, Writer, type SourceDb } from './fixtures/fleet';
import { awaitRowForRow, createHarness, eventually, type Harness } from './helpers/harness';
import { endRunAndWorkers, spawnWorker, workerAt, type WorkerProcess } from './helpers/worker-process';
import { as, createMigrationUser, createRole, handOver, type MigrationUser, type Role } from './helpers/migration-user';
import { freeAddress } from './helpers/metrics-scrape';
import { startStandby, type Standby, type StandbyLag } from './helpers/standby';
import { rangesDone, throttledGauge } from './helpers/throttle-probes';

const DB: SourceDb = { name: 'ledger', rows: 60_000, priority: 'high', sizeGb: 60 };
/** The plan's limit, in seconds: small, so the test waits little for the lag to pass it. */
const LIMIT = 3;
const STANDBY = 'replica-a';

let h: Harness;
let app: Role;
let migrator: MigrationUser;
let standby: Standby;
let metrics: string;
let migrationId: string | undefined;
let worker: WorkerProcess | undefined;
before(async () => {
  h = await createHarness('throttle-standby', { databases: [DB], worker: false, sourceVersion: 16 });
  migrator = await createMigrationUser(h.source, 'thr_migrator', 'DBMIG_THR_MIGRATOR_PASSWORD');
  app = await createRole(h.source, 'thr_app');
  await handOver(h.source, DB.name, { owner: 'thr_owner', apps: [app.user], migrator: migrator.user });
  standby = await startStandby(h.platform, h.source, STANDBY);
  metrics = await freeAddress();
  worker = spawnWorker(workerAt(h), { DBMIG_METRICS_ADDRESS: metrics });
});
after(async () => {
  if (process.env.THROTTLE_TEST_LOG) console.error(worker?.lines.slice(-80).join('\n'));
  await endRunAndWorkers(h, migrationId);
  await standby?.close();
  await h?.close();
});

/**
 * Pauses the standby's replay (writes running) and waits until the source sees it more than the
 * limit behind; asserts it is behind for the reason the test means: nothing replayed, all received.
 */
async function pauseUntilBehind(sb = standby): Promise<{ behind: StandbyLag; ms: number }> {
  const since = Date.now();
  await sb.pauseReplay();
  const behind = await eventually(
    `standby ${sb.info.name} more than ${LIMIT} s behind`,
    async () => {
      const l = await sb.lag();
      // Behind in WAL too: not a stale measure left over from before the pause (see the first test).
      return l?.replayLag !== undefined && l.replayLag > LIMIT && l.replayLsn !== l.sentLsn ? l : undefined;
    },
    120_000,
  );
  const ms = Date.now() - since;
  assert.equal(behind.state, 'streaming');
  assert.ok((behind.writeLag ?? 0) < LIMIT, `it is replay, not receipt, that is behind (${behind.writeLag} s)`);
  // The standby still receives what the source writes, and replays none of it.
  const then = await eventually('more WAL sent to the standby', async () => {
    const l = await sb.lag();
    return l && lsn(l.sentLsn) > lsn(behind.sentLsn) ? l : undefined;
  });
  assert.equal(then.replayLsn, behind.replayLsn, 'nothing replayed while paused');
  assert.ok(then.replayLag! >= behind.replayLag!, `the lag grows (${behind.replayLag} s, then ${then.replayLag} s)`);
  return { behind, ms };
}

const lsn = (s: string) => {
  const [hi, lo] = s.split('/');
  return (BigInt(`0x${hi}`) << 32n) + BigInt(`0x${lo}`);
};

/** The seconds behind a "standby … is N s behind" message says. */
const secondsBehind = (s: string) => Number(/is (\d+(?:\.\d+)?) s behind/.exec(s)?.[1]);

test('on an idle source, a standby that has replayed all there is goes on at once, its last lag aside', async (t) => {
  // The source's measure is stale here: the first reply after replay resumes says replay_lag = the
  // time since the last write, and only the next one, wal_receiver_status_interval (10 s) later,
  // clears it. The gate goes on at the first. Shown when the source still reports the stale lag
  // after the gate went on; a machine so slow that the second reply came first shows nothing, and
  // the round is made again (at most three).
  const source = as({ ...h.source, database: DB.name }, migrator);
  for (let round = 1; ; round++) {
    const writer = new Writer(as({ ...h.source, database: DB.name }, app), false);
    await pauseUntilBehind().finally(() => writer.stop());
    const idleSince = Date.now();
    const gate = Throttle.for(source, { maxReplicaLagSeconds: LIMIT, pollIntervalMs: 200 })!;
    try {
      let wentAt = 0;
      const waiting = gate.wait().then(() => (wentAt = Date.now()));
      const held = await eventually('the gate held', async () => gate.state);
      assert.equal(held.reason, 'replica-lag');
      // The last write is more than the limit ago by the time replay resumes: the stale lag passes it.
      await eventually(
        'the limit passed since the last write',
        async () => Date.now() - idleSince > LIMIT * 1000 + 2000,
      );
      const resumed = Date.now();
      await standby.resumeReplay();
      const stale = await eventually(
        'the standby reporting all replayed',
        async () => {
          const l = await standby.lag();
          return l && l.replayLsn === l.sentLsn ? { ...l, at: Date.now() } : undefined;
        },
        60_000,
      );
      await waiting;
      const after = await standby.lag();
      const shown = stale.replayLag !== undefined && stale.replayLag > LIMIT && (after?.replayLag ?? 0) > LIMIT;
      t.diagnostic(
        `round ${round}: replayed all ${Date.now() - resumed} ms after the resume; the source said ` +
          `${stale.replayLag ?? 'NULL'} s, then ${after?.replayLag ?? 'NULL'} s once the gate went on, ` +
          `${wentAt - stale.at} ms after`,
      );
      if (shown) break;
      assert.ok(round < 3, 'three rounds without seeing the stale lag outlast the gate');
    } finally {
      await gate.close();
    }
  }
});

test('a standby replaying further behind than the limit holds the copy; resumed, the copy goes on', async (t) => {
  const writer = new Writer(as({ ...h.source, database: DB.name }, app), false);
  t.after(() => writer.stop());
  const { behind, ms } = await pauseUntilBehind();
  t.diagnostic(
    `replay paused: ${behind.replayLag!.toFixed(1)} s behind after ${ms} ms (write lag ${behind.writeLag} s)`,
  );

  const plan = planFor({ ...h.source, user: migrator.user }, [DB], `env:${migrator.env}`, {
    approval: { policy: 'manual', timeout: '1h' },
    defaults: {
      stableWindow: '3s',
      lagThresholdSeconds: 5,
      throttle: { maxReplicaLagSeconds: LIMIT, pollInterval: '300ms' },
    },
    copy: { method: 'snapshot', streams: 2, rangeMb: 1 },
  });
  const started = Date.now();
  const handle = await h.startFleet('throttle-standby', plan);
  migrationId = handle.workflowId;
  const names = resourceNames(handle.workflowId, DB.name);
  let lastSeen = '';
  t.after(() => t.diagnostic(`last status: ${lastSeen}`));
  const shown = await eventually(
    'dbmig status showing the copy throttled',
    async () => {
      const d = await h.statusOf(handle.workflowId, DB.name);
      lastSeen = `${d.state} copy: ${d.copy ?? '-'} error: ${d.lastError ?? '-'}`;
      return d.copy && /throttled/.test(d.copy) ? d : undefined;
    },
    240_000,
  );
  const msToHold = Date.now() - started;
  const held = shown.copy!;
  // The line is made of the copy's heartbeat details, which the Temporal UI shows under the workflow's.
  const beat = shown.progress?.copy?.throttled;
  assert.equal(beat?.reason, 'replica-lag');
  assert.ok(held.includes(`throttled: ${beat.why} (for `), `${held} shows ${beat.why}`);
  assert.match(
    held,
    new RegExp(
      `^copy, 0% \\(0/\\d+ ranges, .*throttled: standby ${STANDBY} is \\d+\\.\\d s behind \\(limit ${LIMIT} s\\)`,
    ),
  );
  assert.ok(secondsBehind(held) > LIMIT, held);
  const target = { ...(await h.platform.clusters.ensure('fleet-target')), database: DB.name };
  const planned = await rangesDone(target, names.job);
  assert.ok(planned.ranges >= 2, `the tables were split into ranges (${planned.ranges})`);
  for (let i = 0; i < 10; i++) {
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await rangesDone(target, names.job)).done, 0, 'no range is copied while the standby is behind');
  }
  // The lag shown is read afresh: it grows while replay stays paused (about a second a second).
  const later = await eventually('the status showing a larger lag', async () => {
    const copy = (await h.statusOf(handle.workflowId, DB.name)).copy ?? '';
    return secondsBehind(copy) > secondsBehind(held) + 1 ? copy : undefined;
  });
  assert.equal(await eventually('the gauge', () => throttledGauge(metrics, 'copy', 'replica-lag', DB.name)), 1);
  const tripped = Date.parse(beat.since) - started;
  t.diagnostic(`tripped ${tripped} ms after the start, shown by dbmig status ${msToHold - tripped} ms later: ${held}`);
  t.diagnostic(`still held, 0/${planned.ranges} ranges after 10 readings: ${later}`);

  const resumed = Date.now();
  await standby.resumeReplay();
  const caughtUp = await eventually(`standby ${STANDBY} back under the limit`, async () => {
    const l = await standby.lag();
    return l && (l.replayLag ?? 0) < LIMIT ? { l, ms: Date.now() - resumed } : undefined;
  });
  await eventually('a range copied', async () => (await rangesDone(target, names.job)).done > 0, 120_000);
  const msToGo = Date.now() - resumed;
  const ready = await h.reach(handle.workflowId, DB.name, 'AWAITING_APPROVAL', 300_000);
  const copied = await rangesDone(target, names.job);
  assert.equal(copied.done, copied.ranges, 'every range copied once the standby caught up');
  assert.equal(await throttledGauge(metrics, 'copy', 'replica-lag', DB.name), 0, 'the copy is no longer throttled');
  assert.match(ready.validation ?? '', /tables identical at a consistent point/);
  t.diagnostic(
    `resumed: ${caughtUp.l.replayLag ?? 0} s behind after ${caughtUp.ms} ms, first range done after ${msToGo} ms; ` +
      `${copied.ranges} ranges; ${ready.validation}`,
  );

  writer.pause();
  await awaitRowForRow({ ...h.source, database: DB.name }, target);
  assert.ok(writer.writes > 0, 'writes ran during the copy');
});

test('a standby behind the limit holds the live validation until its replay resumes', async (t) => {
  assert.ok(migrationId, 'the first test left a migration in CDC');
  const names = resourceNames(migrationId, DB.name);
  const source = as({ ...h.source, database: DB.name }, migrator);
  const target = { ...(await h.platform.clusters.ensure('fleet-target')), database: DB.name };
  const writer = new Writer(as({ ...h.source, database: DB.name }, app), false);
  t.after(() => writer.stop());
  await pauseUntilBehind();
  const gate = Throttle.for(source, { maxReplicaLagSeconds: LIMIT, pollIntervalMs: 300 })!;
  let last: LiveCheckpoint | undefined;
  let chunks = 0;
  try {
    const running = compareLive({ source, target, job: names.job }, ['public.items'], {
      throttle: gate,
      save: (c) => (last = c),
      onChunk: () => chunks++,
    });
    const paused = await eventually('the validation throttled', async () => last?.throttled);
    assert.equal(paused.reason, 'replica-lag');
    assert.match(paused.why, new RegExp(`^standby ${STANDBY} is \\d+\\.\\d s behind \\(limit ${LIMIT} s\\)$`));
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(chunks, 0, 'no chunk compared while the standby is behind');
      assert.ok(last?.throttled, 'still throttled');
    }
    t.diagnostic(`held: ${paused.why}, 0 chunks after 10 readings`);
    const resumed = Date.now();
    await standby.resumeReplay();
    const r = await running;
    assert.equal(r.ok, true, r.summary);
    assert.ok(chunks > 0, 'the chunks were compared once replay resumed');
    assert.equal(last?.throttled, undefined, 'the last heartbeat is not throttled');
    t.diagnostic(`resumed: compared ${chunks} chunks ${Date.now() - resumed} ms after replay resumed: ${r.summary}`);
  } finally {
    await gate.close();
  }
});

test('a source that is itself a standby: its cascaded standby behind the limit holds the gate', async (t) => {
  // What a migration from a hot standby meets (logical decoding on a standby, PostgreSQL 16+):
  // replica-b streams from replica-a, which replays what the primary writes.
  const cascaded = await startStandby(h.platform, standby.info, 'replica-b');
  t.after(() => cascaded.close());
  const writer = new Writer(as({ ...h.source, database: DB.name }, app), false);
  t.after(() => writer.stop());
  const { behind } = await pauseUntilBehind(cascaded);
  const source = as({ ...standby.info, database: DB.name }, migrator);
  const gate = Throttle.for(source, { maxReplicaLagSeconds: LIMIT, pollIntervalMs: 200 })!;
  try {
    const waiting = gate.wait();
    const held = await eventually('the gate held', async () => gate.state);
    assert.equal(held.reason, 'replica-lag');
    assert.match(held.why, new RegExp(`^standby replica-b is \\d+\\.\\d s behind \\(limit ${LIMIT} s\\)$`));
    const resumed = Date.now();
    await cascaded.resumeReplay();
    await waiting;
    assert.equal(gate.state, undefined);
    t.diagnostic(
      `replica-b ${behind.replayLag!.toFixed(1)} s behind replica-a: ${held.why}; ` +
        `went on ${Date.now() - resumed} ms after its replay resumed`,
    );
  } finally {
    await gate.close();
  }
});
