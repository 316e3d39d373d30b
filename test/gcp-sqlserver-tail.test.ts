// The SQL Server cutover where the worker takes the tail-log backup (cutover/sqlserver-tail.ts),
// against the scripted SQL Server (test/helpers/scripted-sqlserver.ts: there is none on this
// machine) and stub DMS answers. Each test reads the SERVER's state afterwards (RESTORING or
// ONLINE, the reopen job there or gone) and the DMS calls made, not the cutover's own report. A
// worker that died is what it leaves on the server: the close (and the disarm) run by hand, then
// the retry runs the cutover.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MigrationError } from '../common/failures';
import type { DatabaseTask } from '../activities/steps';
import { sqlServerCutover } from '../activities/platforms/gcp/cutover/sqlserver';
import { settleTailLogClose } from '../activities/platforms/gcp/cutover/sqlserver-tail';
import { sqlServerBackups } from '../activities/platforms/gcp/sqlserver/plan';
import { disarmBeforePromote, takeTailLogBackup } from '../activities/platforms/gcp/sqlserver/tail-log';
import { HEALTHY_DB, scriptedSqlServer, SERVER_2022, type Script } from './helpers/scripted-sqlserver';

/** cutover.timeout 121 s holds Agent's slack (60 s), the restore (30 s), the promote (1 s) and a reopen (30 s). */
const TIMEOUT_MS = 121_000;

function task(): DatabaseTask {
  return {
    migrationId: 'm-tail',
    platform: 'gcp',
    database: {
      name: 'sales',
      engine: 'sqlserver',
      source: {
        host: '203.0.113.40',
        port: 1433,
        database: 'sales',
        user: 'migrator',
        passwordRef: 'env:MSSQL_TEST_PASSWORD',
        access: 'direct',
      },
      target: { kind: 'cloudsql', instance: 'sales-mssql' },
      backups: { bucket: 'mssql-backups', prefix: 'sales/', tailLog: 'worker' },
    },
    settings: { cutoverTimeoutMs: TIMEOUT_MS },
    gcp: { project: 'p', region: 'us-central1', promoteTimeout: '1s' },
  } as unknown as DatabaseTask;
}

interface WorldOptions {
  script?: Partial<Script>;
  /** DMS restores the tail 100 ms after its upload ('ok'), or never. */
  restore?: 'ok' | 'never';
  promote?: 'ok' | 'refused' | 'answer-lost';
  /** DMS shows the job promoted from the start (an earlier attempt's, or a person's promote). */
  promotedAlready?: boolean;
  /** The job as DMS shows it while not promoted (default RUNNING/CDC). */
  job?: { state: string; phase?: string };
  /** Called on each read of the database's object (the test's hand in DMS's timing). */
  onRead?: (n: number) => void;
}

function world(o: WorldOptions = {}) {
  let uploaded: { name: string; at: number } | undefined;
  const server = scriptedSqlServer({
    server: SERVER_2022,
    database: HEALTHY_DB,
    // BACKUP TO URL writes into the bucket: the object is there once the backup finished.
    onBackup: (to, at) => {
      if (to.kind === 'url') uploaded = { name: to.url.split('/mssql-backups/')[1], at };
    },
    ...o.script,
  });
  const calls: string[] = [];
  let promoted = !!o.promotedAlready;
  let reads = 0;
  const deps = {
    jobState: async () =>
      promoted ? { state: 'RUNNING', phase: 'PROMOTE_IN_PROGRESS' } : (o.job ?? { state: 'RUNNING', phase: 'CDC' }),
    freshLag: async () => undefined,
    // The promote must find the reopen job gone (rule 1): a promote asked while it is armed is logged as such.
    promote: async () => {
      calls.push(server.job() ? 'promote-while-armed' : 'promote');
      if (o.promote === 'refused') throw new Error('FAILED_PRECONDITION: the job cannot be promoted');
      promoted = true;
      if (o.promote === 'answer-lost') throw new Error('DEADLINE_EXCEEDED: the answer was lost');
    },
    waitPromoted: async () => void calls.push('waitPromoted'),
    markTookOver: async () => void calls.push('mark'),
    promoteOperation: async () => (promoted ? ('succeeded' as const) : ('none' as const)),
    databaseObject: async () => {
      o.onRead?.(++reads);
      const restored = uploaded && o.restore !== 'never' && Date.now() >= uploaded.at + 100;
      return restored
        ? { state: 'RUNNING', phase: 'READY_FOR_PROMOTE', updateTime: new Date(uploaded!.at + 100).toISOString() }
        : { state: 'RUNNING', phase: 'CDC', updateTime: new Date().toISOString() };
    },
    jobPollMs: 20,
    tailLog: {
      open: async () => server,
      uploadedAt: async (name: string) => (uploaded?.name === name ? new Date(uploaded.at) : undefined),
    },
  };
  return { server, deps, calls, count: (k: string) => server.sent.filter((s) => s === k).length };
}

const fails = (type: string, re: RegExp) => (e: unknown) => {
  assert.ok(e instanceof MigrationError, String(e));
  assert.equal(e.type, type, e.message);
  assert.match(e.message, re);
  return true;
};

describe("the worker's tail-log cutover", () => {
  test('arms, closes, waits for the restore, disarms, promotes; the source stays closed, no job left', async () => {
    const w = world();
    const blockMs = await sqlServerCutover(task(), w.deps, () => undefined);
    assert.deepEqual(w.server.sent.slice(0, 5), ['server', 'database', 'arm', 'backup', 'tail-record']);
    // The lock held from before the disarm until DMS answered; the promote after the disarm.
    assert.deepEqual(w.server.sent.slice(-4), ['hold-lock', 'disarm', 'database', 'release-lock']);
    assert.deepEqual(w.calls, ['mark', 'promote', 'mark', 'waitPromoted']);
    assert.equal(w.server.state(), 'RESTORING');
    assert.equal(w.server.job(), undefined, 'no reopen job is left to reopen a source the target took over');
    assert.ok(blockMs >= 100, `closed ${blockMs} ms: at least DMS's restore of the tail`);
  });

  test('DMS does not restore the tail in time: reopened before the deadline, nothing promoted', async () => {
    // The server schedules the job 28 s earlier than asked: the promote must be decided 2 s from now.
    const w = world({ restore: 'never', script: { scheduleOffset: -28 } });
    await assert.rejects(
      sqlServerCutover(task(), w.deps, () => undefined),
      fails('CutoverNotReady', /did not show database sales READY_FOR_PROMOTE.*not asked.*was reopened/),
    );
    assert.deepEqual(w.calls, []);
    assert.equal(w.server.state(), 'ONLINE');
    assert.equal(w.server.job(), undefined);
    assert.ok(w.server.sent.includes('reopen-if-armed'), 'reopened in one batch with the check that the job is there');
    assert.ok(!w.server.sent.includes('disarm'), 'no disarm: the promote was never in reach');
  });

  test('Agent reaches the deadline before the disarm: the promote is not asked for', async () => {
    const w = world();
    // Agent fires the job just as DMS shows the tail restored.
    w.deps.databaseObject = ((read) => async () => {
      const o = await read();
      if (o.phase === 'READY_FOR_PROMOTE') w.server.fireJob();
      return o;
    })(w.deps.databaseObject);
    await assert.rejects(
      sqlServerCutover(task(), w.deps, () => undefined),
      fails('CutoverNotReady', /Agent reopened sales at the deadline before the promote/),
    );
    assert.deepEqual(w.calls, ['mark'], 'marked as taken over, never promoted');
    assert.equal(w.server.state(), 'ONLINE');
  });

  test('DMS refuses the promote: the source is reopened, the cutover fails retryably', async () => {
    const w = world({ promote: 'refused' });
    await assert.rejects(
      sqlServerCutover(task(), w.deps, () => undefined),
      fails('CutoverNotReady', /FAILED_PRECONDITION.*DMS refused.*was reopened/),
    );
    assert.deepEqual(w.calls, ['mark', 'promote']);
    assert.equal(w.server.state(), 'ONLINE');
    assert.equal(w.server.job(), undefined);
  });

  test('DMS accepted the promote but its answer was lost: read from the job, the source stays closed', async () => {
    const w = world({ promote: 'answer-lost' });
    await sqlServerCutover(task(), w.deps, () => undefined);
    assert.deepEqual(w.calls, ['mark', 'promote', 'mark', 'waitPromoted']);
    assert.equal(w.server.state(), 'RESTORING');
    assert.equal(w.count('reopen') + w.count('reopen-if-armed'), 0);
  });

  test('a reopen that fails leaves the job armed: the deadline still holds', async () => {
    const w = world({ restore: 'never', script: { scheduleOffset: -28, reopenFails: true } });
    await assert.rejects(
      sqlServerCutover(task(), w.deps, () => undefined),
      fails('CutoverInterrupted', /WITH RECOVERY failed.*still armed and reopens it at the deadline/),
    );
    assert.equal(w.server.state(), 'RESTORING');
    assert.ok(w.server.job()?.enabled, 'the reopen job is still there');
    w.server.fireJob();
    assert.equal(w.server.state(), 'ONLINE', 'and Agent reopens the source at its time');
  });

  test('a cutover.timeout that cannot hold the budget is refused before the source is reached', async () => {
    const w = world();
    const t = task();
    await assert.rejects(
      sqlServerCutover({ ...t, settings: { ...t.settings, cutoverTimeoutMs: 120_000 } }, w.deps, () => undefined),
      fails('InvalidPlan', /cutover\.timeout 2m0s cannot hold.*nothing was closed.*at least 2m1s/),
    );
    assert.deepEqual(w.server.sent, []);
  });
});

describe('a retry after the worker died (what it left on the server)', () => {
  const close = async (w: ReturnType<typeof world>) =>
    takeTailLogBackup(w.server, task(), sqlServerBackups(task()), { deadline: Date.now() + TIMEOUT_MS });

  test('died after the close, the job armed: resumes forward without a second backup', async () => {
    const w = world();
    await close(w);
    w.server.sent.length = 0;
    await sqlServerCutover(task(), w.deps, () => undefined);
    assert.equal(w.count('backup'), 0, 'the tail-log backup is not taken twice');
    assert.deepEqual(w.server.sent.slice(0, 5), ['server', 'database', 'newest-log', 'job-state', 'tail-record']);
    assert.deepEqual(w.calls, ['mark', 'promote', 'mark', 'waitPromoted']);
    assert.equal(w.server.state(), 'RESTORING');
  });

  test('died after the close, then DMS stopped the job: the close is settled before the refusal', async () => {
    const w = world({ job: { state: 'STOPPED' } });
    const rec = await close(w);
    assert.equal(await disarmBeforePromote(w.server, rec), 'closed');
    await assert.rejects(
      sqlServerCutover(task(), w.deps, () => undefined),
      fails('CutoverNotReady', /is STOPPED, not RUNNING\/CDC; an earlier attempt had closed sales.*it was reopened/),
    );
    assert.deepEqual(w.calls, []);
    assert.equal(w.server.state(), 'ONLINE', 'not left closed behind a refusal that says nothing was done');
  });

  test('died after the close, Agent stopped since: the deadline no longer holds, reopened at once', async () => {
    const w = world();
    await close(w);
    w.server.setAgent('Stopped');
    await assert.rejects(
      sqlServerCutover(task(), w.deps, () => undefined),
      fails('CutoverNotReady', /no longer holds \(SQL Server Agent is Stopped.*not asked.*was reopened/),
    );
    assert.deepEqual(w.calls, []);
    assert.equal(w.server.state(), 'ONLINE');
  });

  test('died between the disarm and the promote, DMS never promoted: reopened once its answer is known', async () => {
    const w = world();
    const rec = await close(w);
    assert.equal(await disarmBeforePromote(w.server, rec), 'closed');
    const t0 = Date.now();
    await assert.rejects(
      sqlServerCutover(task(), w.deps, () => undefined),
      fails('CutoverNotReady', /disarmed its reopen job but DMS did not promote: the source was reopened/),
    );
    assert.ok(Date.now() - t0 >= 1_000, 'DMS was given gcp.promoteTimeout to show a promote first');
    assert.deepEqual(w.calls, []);
    assert.equal(w.server.state(), 'ONLINE');
  });

  test('died after DMS accepted the promote: finishes forward, the source stays closed', async () => {
    const w = world({ promotedAlready: true });
    const rec = await close(w);
    assert.equal(await disarmBeforePromote(w.server, rec), 'closed');
    await sqlServerCutover(task(), w.deps, () => undefined);
    assert.deepEqual(w.calls, ['mark', 'waitPromoted']);
    assert.equal(w.server.state(), 'RESTORING');
    assert.equal(w.count('reopen'), 0);
  });

  test('a promote by hand while the source was ONLINE: a failure naming the gap, and no reopen job left', async () => {
    const w = world({ promotedAlready: true });
    await assert.rejects(
      sqlServerCutover(task(), w.deps, () => undefined),
      fails('TargetVerificationFailed', /DMS promoted while sales was ONLINE.*on the source only/),
    );
    assert.equal(w.server.job(), undefined);
  });
});

describe('the compensation (rollbackCutover) of a tail-log close', () => {
  test('the job still armed: the promote was never asked, so the source is reopened', async () => {
    const w = world();
    await takeTailLogBackup(w.server, task(), sqlServerBackups(task()), { deadline: Date.now() + TIMEOUT_MS });
    assert.equal(await settleTailLogClose(task(), w.deps, w.server, () => undefined), 'reopened');
    assert.equal(w.server.state(), 'ONLINE');
    assert.equal(w.server.job(), undefined);
  });

  test('the job disarmed and DMS promoted: past the point of no return, the source stays closed', async () => {
    const w = world({ promotedAlready: true });
    const rec = await takeTailLogBackup(w.server, task(), sqlServerBackups(task()), {
      deadline: Date.now() + TIMEOUT_MS,
    });
    await disarmBeforePromote(w.server, rec);
    assert.equal(await settleTailLogClose(task(), w.deps, w.server, () => undefined), 'promoted');
    assert.equal(w.server.state(), 'RESTORING');
    assert.equal(w.count('reopen'), 0);
  });

  test('a source no tail-log backup of ours closed is left as it is', async () => {
    const w = world();
    assert.equal(await settleTailLogClose(task(), w.deps, w.server, () => undefined), 'none');
    assert.equal(w.count('reopen') + w.count('reopen-if-armed'), 0);
    assert.equal(w.count('disarm'), 1, 'a reopen job of ours left over is deleted all the same');
    assert.equal(w.server.state(), 'ONLINE');
  });
});
