// What the gcp platform sends and reads about one database of a source that has several, and the
// DMS phases besides the dump and CDC, against the fake (routes-dms.ts, routes-observability.ts):
// - objectsConfig names the migration's database, so the job carries it alone;
// - the lag read is the series of the migration's database, not whichever series is newest;
// - WAITING_FOR_SOURCE_WRITES_TO_STOP / PREPARING_THE_DUMP (a MySQL source without SUPER) are the
//   dump's wait, not CDC, and the operator is told to stop the writes; READY_FOR_PROMOTE takes a
//   promote; PHASE_FAILBACK is past the point of no return.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { effectiveSettings } from '../common/plan-settings';
import { validatePlan } from '../common/plan';
import { GcpPlatform } from '../activities/platforms/gcp';
import type { GcpClients } from '../activities/platforms/gcp/clients';
import {
  describeJobCreation,
  ensureJob,
  getJob,
  jobBody,
  promoteJob,
  startOrResumeJob,
  waitForPromotion,
} from '../activities/platforms/gcp/dms';
import { stopWritesForDump } from '../activities/platforms/gcp/dms/source-writes';
import { gcpCutover, type GcpCutoverDeps } from '../activities/platforms/gcp/cutover';
import { lagSampleAfter, seriesOfDatabase } from '../activities/platforms/gcp/monitoring/lag';
import { gcpNames, ownerLabels } from '../activities/platforms/gcp/names';
import { MigrationError } from '../common/failures';
import { type DatabaseTask } from '../activities/steps';
import { createFakeGcp, fakeAuth, type FakeGcp } from './fakes/gcp';
import type { DmsBehaviour, FakeJob } from './fakes/gcp/routes-dms';
import { gcpPlan, PROJECT } from './helpers/gcp-plan';

const POLL = { intervalMs: 10, timeoutMs: 20_000 };

let fake: FakeGcp;
let behaviour: DmsBehaviour;
let c: GcpClients;
let platform: GcpPlatform;

before(async () => {
  process.env.GCP_TEST_SOURCE_PASSWORD = 'src-s3cret';
  process.env.GCP_TEST_TARGET_PASSWORD = 'dst-s3cret';
  process.env.DBMIG_ALLOWED_HOSTS = '203.0.113.0/24';
  const made = createFakeGcp({
    secrets: {
      [`projects/${PROJECT}/secrets/ledger-source-password`]: 'src-pg-s3cret',
      [`projects/${PROJECT}/secrets/ledger-target-password`]: 'dst-pg-s3cret',
    },
    dms: { fullDumpMs: 100, lagStartSeconds: 3, lagDecayPerSecond: 30, lagSamplePeriodMs: 100 },
  });
  fake = made.fake;
  behaviour = made.behaviour;
  platform = new GcpPlatform({ endpoint: await fake.start(), authClient: fakeAuth(), poll: POLL });
  c = platform.clients;
});
after(async () => {
  await platform?.close();
  await fake?.stop();
});

/** Database i of the shared plan (0: MySQL → Cloud SQL, 2: PostgreSQL → Cloud SQL), its target in the fake. */
function task(i: number, migrationId: string): DatabaseTask {
  const plan = validatePlan(gcpPlan());
  const database = plan.databases[i];
  const t: DatabaseTask = {
    migrationId,
    platform: 'gcp',
    database,
    settings: effectiveSettings(plan, database),
    gcp: plan.gcp,
    requestScope: `${migrationId}-attempt-1`,
  };
  fake.resources.set(`sql/${PROJECT}/${database.target.instance}`, {
    name: database.target.instance,
    project: PROJECT,
    state: 'RUNNABLE',
    settings: {
      userLabels: ownerLabels(t),
      ipConfiguration: { ipv4Enabled: false, privateNetwork: plan.gcp!.network },
    },
    ipAddresses: [{ type: 'PRIVATE', ipAddress: '10.20.0.5' }],
  });
  return t;
}

const fakeJob = (t: DatabaseTask): FakeJob => fake.resources.get(`dms/${gcpNames(t).jobName}`);

async function until(what: string, cond: () => Promise<boolean>): Promise<void> {
  for (const end = Date.now() + 20_000; Date.now() < end; await new Promise((r) => setTimeout(r, 20)))
    if (await cond()) return;
  assert.fail(`never: ${what}`);
}

/** The cutover's DMS side over the platform's own calls (no target mark: the fake target has no labels API here). */
function deps(t: DatabaseTask): GcpCutoverDeps {
  let accepted: Awaited<ReturnType<typeof promoteJob>> | undefined;
  return {
    jobState: async () => {
      const j = await getJob(c, t);
      return { state: j?.state ?? 'NOT_FOUND', phase: j?.phase ?? undefined };
    },
    freshLag: (since) => lagSampleAfter(c, t, since),
    promote: async () => {
      accepted = await promoteJob(c, t);
    },
    waitPromoted: async () => {
      await waitForPromotion(c, t, POLL, accepted);
    },
    lagPollMs: 20,
    freshSampleWaitMs: 5_000,
  };
}

const isType = (type: string, pattern: RegExp) => (err: unknown) => {
  assert.ok(err instanceof MigrationError, String(err));
  assert.equal(err.type, type, err.message);
  assert.match(err.message, pattern);
  return true;
};

test('objectsConfig names the migration database: the job carries it alone, as the dry run says', async () => {
  const t = task(2, 'objects');
  const host = t.database.source.host;
  behaviour.sourceDatabases = new Map([[host, ['billing', 'crm', 'audit']]]);
  await ensureJob(c, t, POLL);
  assert.deepEqual(fakeJob(t).objectsConfig, {
    sourceObjectsConfig: {
      objectsSelectionType: 'SPECIFIED_OBJECTS',
      objectConfigs: [{ objectIdentifier: { type: 'DATABASE', database: 'billing' } }],
    },
  });
  assert.deepEqual(fakeJob(t).objectsConfig, jobBody(t).objectsConfig, 'the request is the body the dry run reads');
  assert.match(describeJobCreation(t).at(-1)!.detail!, /database billing only/);
  await startOrResumeJob(c, t, POLL);
  assert.deepEqual(fakeJob(t)._databases, ['billing'], 'crm and audit stay on the source');
});

test('lag is read from the series of the migration database, not from the newest of any', async () => {
  const t = task(2, 'lagdb');
  behaviour.sourceDatabases = new Map([[t.database.source.host, ['aaa-drained', 'billing']]]);
  // Another database of the instance is drained; ours lags 900 s and does not move.
  behaviour.lagByDatabase = new Map([
    ['aaa-drained', { startSeconds: 0, decayPerSecond: 0 }],
    ['billing', { startSeconds: 900, decayPerSecond: 0 }],
  ]);
  try {
    await ensureJob(c, t, POLL);
    // A job at instance level (as created before objectsConfig): it carries both databases.
    delete fakeJob(t).objectsConfig;
    await startOrResumeJob(c, t, POLL);
    await until('CDC', async () => (await platform.getReplicationStatus(t)).phase === 'CDC');
    const since = new Date();
    let status = await platform.getReplicationStatus(t);
    await until('a lag sample', async () => {
      status = await platform.getReplicationStatus(t);
      return status.lagSeconds !== null;
    });
    assert.equal(status.lagSeconds, 900, "billing's lag, not the drained database's");
    assert.equal(status.lagBytes, 900 * 4096);
    await until('a fresh sample', async () => (await lagSampleAfter(c, t, since))?.seconds === 900);
    // The gate reads it too: nothing passes on another database's lag.
    await assert.rejects(
      gcpCutover(t, { ...deps(t), freshSampleWaitMs: 400 }, () => {}),
      isType('CutoverNotReady', /reads 900 s/),
    );
  } finally {
    behaviour.lagByDatabase = undefined;
  }
});

test('seriesOfDatabase: a job publishing no database label has one series, its own', () => {
  const plain = [{ metric: { labels: {} } }];
  assert.deepEqual(seriesOfDatabase(plain, 'x'), plain);
  const two = [{ metric: { labels: { database: 'a' } } }, { metric: { labels: { database: 'b' } } }];
  assert.deepEqual(seriesOfDatabase(two, 'b'), [two[1]]);
  assert.deepEqual(seriesOfDatabase(two, 'c'), [], 'a database no series names has no lag');
});

test('a MySQL source without SUPER: the dump waits for writes to stop, the operator is told, no CDC', async () => {
  const t = task(0, 'nosuper');
  const host = t.database.source.host;
  behaviour.noSuperHosts = new Set([host]);
  behaviour.writesStopped = new Set();
  try {
    await ensureJob(c, t, POLL);
    assert.equal(await startOrResumeJob(c, t, POLL), 'started');
    const job = (await getJob(c, t))!;
    assert.equal(`${job.state}/${job.phase}`, 'STARTING/WAITING_FOR_SOURCE_WRITES_TO_STOP');
    const status = await platform.getReplicationStatus(t);
    assert.equal(status.phase, 'FULL_DUMP', 'not read as CDC');
    assert.match(status.detail!, /stop every write to the source now/);
    assert.match(status.detail!, /rds-no-superuser/);
    assert.equal(status.lagSeconds, null);
    // source.access dms-only: the worker cannot stop them; it says it is the operator's.
    assert.equal(await stopWritesForDump(c, t, POLL), 'operator');
    const progress: string[] = [];
    await assert.rejects(
      gcpCutover(t, deps(t), (s) => progress.push(s)),
      isType('CutoverNotReady', /before its initial dump.*stop every write/),
    );
    // The operator stops the writes: DMS prepares the dump, then runs it; CDC follows.
    behaviour.writesStopped.add(host);
    await until(
      'PREPARING_THE_DUMP or later',
      async () => (await getJob(c, t))?.phase !== 'WAITING_FOR_SOURCE_WRITES_TO_STOP',
    );
    await until('CDC', async () => (await platform.getReplicationStatus(t)).phase === 'CDC');
    assert.equal((await getJob(c, t))?.state, 'RUNNING');
  } finally {
    behaviour.noSuperHosts = undefined;
    behaviour.writesStopped = undefined;
  }
});

test('READY_FOR_PROMOTE takes a promote without lag; PHASE_FAILBACK is past the point of no return', async () => {
  const t = task(2, 'phases');
  behaviour.sourceDatabases = undefined;
  await ensureJob(c, t, POLL);
  await startOrResumeJob(c, t, POLL);
  await until('CDC', async () => (await getJob(c, t))?.phase === 'CDC');
  Object.assign(fakeJob(t), { phase: 'READY_FOR_PROMOTE' });
  assert.equal((await platform.getReplicationStatus(t)).phase, 'CDC');
  const progress: string[] = [];
  const result = await gcpCutover(t, { ...deps(t), freshLag: async () => assert.fail('no lag is read') }, (s) =>
    progress.push(s),
  );
  assert.equal(result.writeBlockMs, 0);
  assert.equal((await getJob(c, t))?.state, 'COMPLETED');
  assert.ok(
    progress.some((s) => /READY_FOR_PROMOTE: promoting/.test(s)),
    progress.join('\n'),
  );

  const back = task(2, 'failback');
  await ensureJob(c, back, POLL);
  await startOrResumeJob(c, back, POLL);
  await until('CDC', async () => (await getJob(c, back))?.phase === 'CDC');
  Object.assign(fakeJob(back), { phase: 'PHASE_FAILBACK' });
  const status = await platform.getReplicationStatus(back);
  assert.equal(status.phase, 'STOPPED', 'not CDC to promote');
  assert.match(status.detail!, /took over/);
  assert.deepEqual(await platform.rollbackCutover(back), { pastPointOfNoReturn: true });
});
