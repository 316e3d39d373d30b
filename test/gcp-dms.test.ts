// The DMS sequence for each pair the recipe uses (MySQL → Cloud SQL, PostgreSQL → AlloyDB,
// PostgreSQL → Cloud SQL), through the real googleapis client against the fake, which holds it to
// Google's state machines: profiles as Google defines them, get-or-create without duplicates,
// demote before start, resume after stop, promote only in CDC, delete without force.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { effectiveSettings } from '../common/plan-settings';
import { validatePlan } from '../common/plan';
import { GcpPlatform } from '../activities/platforms/gcp';
import type { GcpClients } from '../activities/platforms/gcp/clients';
import {
  deleteJobAndProfiles,
  ensureJob,
  getJob,
  jobsUsingTarget,
  promoteJob,
  startOrResumeJob,
  stopJob,
  verifyJob,
  waitForPromotion,
} from '../activities/platforms/gcp/dms';
import { freshLag, lagSampleAfter } from '../activities/platforms/gcp/monitoring/lag';
import { gcpNames, ownerLabels } from '../activities/platforms/gcp/names';
import { MigrationError } from '../common/failures';
import { type DatabaseTask } from '../activities/steps';
import { createFakeGcp, fakeAuth, type FakeGcp } from './fakes/gcp';
import type { DmsBehaviour } from './fakes/gcp/routes-dms';
import { gcpPlan, PROJECT } from './helpers/gcp-plan';

const POLL = { intervalMs: 10, timeoutMs: 20_000 };
const SQL_IP = '10.20.0.5';
const ALLOY_IP = '10.30.0.7';

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
    dms: { fullDumpMs: 150, lagStartSeconds: 3, lagDecayPerSecond: 30, lagSamplePeriodMs: 200 },
  });
  fake = made.fake;
  behaviour = made.behaviour;
  // The platform registers the gcpsm: secret scheme; its clients are what the DMS functions take.
  platform = new GcpPlatform({ endpoint: await fake.start(), authClient: fakeAuth(), poll: POLL });
  c = platform.clients;
});
after(async () => {
  await platform?.close();
  await fake?.stop();
});

function task(i: number, migrationId: string): DatabaseTask {
  const plan = validatePlan(gcpPlan());
  const database = plan.databases[i];
  return {
    migrationId,
    platform: 'gcp',
    database,
    settings: effectiveSettings(plan, database),
    gcp: plan.gcp,
    requestScope: `${migrationId}-attempt-1`,
  };
}

/** The target the platform made, in the shape routes-targets.ts keeps (the DMS flow only reads it). */
function putTarget(t: DatabaseTask): void {
  const n = gcpNames(t);
  const labels = ownerLabels(t);
  if (t.database.target.kind === 'alloydb') {
    fake.resources.set(`alloydb/${n.cluster}`, {
      name: n.cluster,
      state: 'READY',
      labels,
      networkConfig: { network: t.gcp!.network },
    });
    fake.resources.set(`alloydb/${n.alloyPrimary}`, {
      name: n.alloyPrimary,
      state: 'READY',
      instanceType: 'PRIMARY',
      ipAddress: ALLOY_IP,
      labels,
    });
  } else {
    fake.resources.set(`sql/${PROJECT}/${t.database.target.instance}`, {
      name: t.database.target.instance,
      project: PROJECT,
      state: 'RUNNABLE',
      settings: { userLabels: labels, ipConfiguration: { ipv4Enabled: false, privateNetwork: t.gcp!.network } },
      ipAddresses: [{ type: 'PRIVATE', ipAddress: SQL_IP }],
    });
  }
}

const targetKey = (t: DatabaseTask) =>
  t.database.target.kind === 'alloydb'
    ? `alloydb/${gcpNames(t).cluster}`
    : `sql/${PROJECT}/${t.database.target.instance}`;

/** The change requests (not reads) sent since `from` that act on this task's job or profiles. */
function calls(t: DatabaseTask, from: number): string[] {
  const n = gcpNames(t);
  return fake
    .changes(from)
    .filter((r) => [n.jobName, n.sourceProfileName, n.destinationProfileName].some((x) => r.resource.endsWith(x)))
    .map((r) => r.method.split('.').slice(-2).join('.'));
}

async function rejectsWith(p: Promise<unknown>, type: string, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof MigrationError, `expected a MigrationError, got ${String(err)}`);
    assert.equal(err.type, type, err.message);
    assert.match(err.message, pattern);
    return true;
  });
}

async function untilCdc(t: DatabaseTask): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const j = await getJob(c, t);
    if (j?.state === 'RUNNING' && j.phase === 'CDC') return;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail('the job never reached CDC');
}

const PAIRS: [string, number][] = [
  ['MySQL → Cloud SQL for MySQL', 0],
  ['PostgreSQL → AlloyDB', 1],
  ['PostgreSQL → Cloud SQL for PostgreSQL', 2],
];

for (const [pair, i] of PAIRS) {
  test(`${pair}: profiles, job, verify, demote + start, stop + resume, promote, delete`, async () => {
    const t = task(i, `pair-${i}`);
    const n = gcpNames(t);
    putTarget(t);
    const mark = fake.log.length;

    // Created once, however often it runs.
    await ensureJob(c, t, POLL);
    const again = await ensureJob(c, t, POLL);
    assert.equal(again.state, 'NOT_STARTED');
    assert.deepEqual(calls(t, mark), [
      'connectionProfiles.create',
      'connectionProfiles.create',
      'migrationJobs.create',
    ]);

    // Profiles as Google defines them: the existing destination by its private IP and id, with credentials.
    const engineForm = t.database.engine === 'mysql' ? 'mysql' : 'postgresql';
    const src = fake.resources.get(`dms/${n.sourceProfileName}`);
    assert.deepEqual(src[engineForm], {
      host: t.database.source.host,
      port: t.database.source.port,
      username: 'migrator',
      password: i === 1 ? 'src-pg-s3cret' : 'src-s3cret',
    });
    const dst = fake.resources.get(`dms/${n.destinationProfileName}`);
    assert.equal(dst.alloydb, undefined, 'never the form that makes DMS create a cluster');
    assert.deepEqual(dst[engineForm], {
      host: i === 1 ? ALLOY_IP : SQL_IP,
      port: t.database.engine === 'mysql' ? 3306 : 5432,
      username: t.database.engine === 'mysql' ? 'root' : 'postgres',
      password: i === 1 ? 'dst-pg-s3cret' : 'dst-s3cret',
      ...(i === 1 ? { alloydbClusterId: 'ledger-alloy' } : { cloudSqlId: t.database.target.instance }),
    });
    assert.deepEqual(dst.labels, ownerLabels(t));
    const job = (await getJob(c, t))!;
    assert.deepEqual(job.sourceDatabase, { engine: t.database.engine === 'mysql' ? 'MYSQL' : 'POSTGRESQL' });
    assert.equal(job.destinationDatabase?.provider, i === 1 ? 'ALLOYDB' : 'CLOUDSQL');
    assert.deepEqual(job.vpcPeeringConnectivity, { vpc: t.gcp!.network });
    assert.equal(job.dumpPath, undefined);
    assert.deepEqual(job.labels, ownerLabels(t));
    // The API never returns a password.
    const read = (await c.dms.projects.locations.connectionProfiles.get({ name: n.destinationProfileName })).data;
    assert.equal((read.postgresql ?? read.mysql)?.password, undefined);

    // Promote is refused outside CDC; verify passes.
    await rejectsWith(promoteJob(c, t), 'CutoverNotReady', /NOT_STARTED; promote needs RUNNING in phase CDC/);
    assert.deepEqual(await verifyJob(c, t, POLL), []);

    // Start from NOT_STARTED: demote the existing destination, then start; a repeat does nothing.
    const beforeStart = fake.log.length;
    assert.equal(await startOrResumeJob(c, t, POLL), 'started');
    assert.equal(await startOrResumeJob(c, t, POLL), 'already running');
    assert.deepEqual(calls(t, beforeStart), ['migrationJobs.demoteDestination', 'migrationJobs.start']);
    await untilCdc(t);

    // A STOPPED job is resumed, never started again.
    await stopJob(c, t, POLL);
    assert.equal((await getJob(c, t))?.state, 'STOPPED');
    const beforeResume = fake.log.length;
    assert.equal(await startOrResumeJob(c, t, POLL), 'resumed');
    assert.deepEqual(calls(t, beforeResume), ['migrationJobs.resume']);
    assert.equal((await getJob(c, t))?.state, 'RUNNING');

    // Promote: accepted (point of no return), then waited; a repeat finds it done.
    const accepted = await promoteJob(c, t);
    assert.equal(accepted.alreadyCompleted, false);
    assert.equal((await waitForPromotion(c, t, POLL, accepted)).state, 'COMPLETED');
    assert.deepEqual(await promoteJob(c, t), { alreadyCompleted: true });

    // Delete without force: the destination instance stays; DMS took the destination profile along.
    const beforeDelete = fake.log.length;
    await deleteJobAndProfiles(c, t, POLL);
    await deleteJobAndProfiles(c, t, POLL);
    assert.deepEqual(calls(t, beforeDelete), ['migrationJobs.delete', 'connectionProfiles.delete']);
    assert.ok(!fake.log.slice(beforeDelete).some((r) => r.query.includes('force=true')), 'never force');
    assert.ok(fake.resources.has(targetKey(t)), 'the destination survives the job');
    assert.equal(await getJob(c, t), undefined);
    assert.ok(![...fake.resources.keys()].some((k) => k.includes(n.migrationJob)), 'job and profiles are gone');
  });
}

test('the fake deletes a running job without force, as DMS does (Running: Stop, Promote, Delete)', async () => {
  const t = task(2, 'running-raw-delete');
  putTarget(t);
  await ensureJob(c, t, POLL);
  await startOrResumeJob(c, t, POLL);
  await untilCdc(t);
  const op = (await c.dms.projects.locations.migrationJobs.delete({ name: gcpNames(t).jobName })).data;
  while (!(await c.dms.projects.locations.operations.get({ name: op.name! })).data.done);
  assert.equal(await getJob(c, t), undefined);
  assert.ok(fake.resources.has(targetKey(t)), 'without force the destination stays');
  await deleteJobAndProfiles(c, t, POLL);
});

test('a running job is stopped before its delete, and the delete is never forced', async () => {
  const t = task(2, 'running-delete');
  putTarget(t);
  await ensureJob(c, t, POLL);
  await startOrResumeJob(c, t, POLL);
  await untilCdc(t);
  const mark = fake.log.length;
  await deleteJobAndProfiles(c, t, POLL);
  assert.deepEqual(calls(t, mark), ['migrationJobs.stop', 'migrationJobs.delete', 'connectionProfiles.delete']);
  assert.ok(fake.resources.has(targetKey(t)));
});

test('lost answers: create, demote and start each take effect exactly once', async () => {
  const t = task(1, 'lost');
  putTarget(t);
  const mark = fake.log.length;
  fake.loseResponse('datamigration.projects.locations.connectionProfiles.create');
  fake.loseResponse('datamigration.projects.locations.migrationJobs.create');
  await ensureJob(c, t, POLL);
  const created = [...fake.resources.keys()].filter((k) => k.includes(gcpNames(t).migrationJob));
  assert.equal(created.length, 3, 'two profiles and one job');
  const lost = (rpc: string) => fake.log.slice(mark).filter((r) => r.lost && r.rpc?.endsWith(rpc)).length;
  assert.equal(lost('migrationJobs.create'), 1, 'the first create took effect, its answer was lost');
  assert.equal(lost('connectionProfiles.create'), 1);

  fake.loseResponse('datamigration.projects.locations.migrationJobs.demoteDestination');
  fake.loseResponse('datamigration.projects.locations.migrationJobs.start');
  const beforeStart = fake.log.length;
  assert.equal(await startOrResumeJob(c, t, POLL), 'started');
  const sent = calls(t, beforeStart);
  assert.equal(lost('migrationJobs.demoteDestination'), 1);
  assert.equal(lost('migrationJobs.start'), 1);
  assert.equal(
    sent.filter((m) => m === 'migrationJobs.demoteDestination').length,
    1,
    'the lost demote is found, not resent',
  );
  assert.ok(['RUNNING', 'STARTING'].includes((await getJob(c, t))!.state!));
  await deleteJobAndProfiles(c, t, POLL);
});

test('an existing job or profile with another configuration is refused, naming the difference', async () => {
  const t = task(2, 'conflict');
  putTarget(t);
  await ensureJob(c, t, POLL);
  const otherNetwork = { ...t, gcp: { ...t.gcp!, network: `projects/${PROJECT}/global/networks/elsewhere` } };
  await rejectsWith(
    ensureJob(c, otherNetwork, POLL),
    'AlreadyExistsMismatch',
    /vpcPeeringConnectivity\.vpc is projects\/dbmig-contract\/global\/networks\/migration-network, plan needs .*else/,
  );
  await deleteJobAndProfiles(c, t, POLL);

  // A leftover source profile pointing elsewhere (a new attempt: new request ids, so it creates again).
  const retry = { ...t, requestScope: 'conflict-attempt-2' };
  await ensureJob(c, retry, POLL);
  const n = gcpNames(t);
  const job = fake.resources.get(`dms/${n.jobName}`);
  fake.resources.delete(`dms/${n.jobName}`);
  fake.resources.get(`dms/${n.sourceProfileName}`).postgresql.host = '203.0.113.99';
  await rejectsWith(
    ensureJob(c, retry, POLL),
    'AlreadyExistsMismatch',
    /host is 203\.0\.113\.99, plan needs 203\.0\.113\.30/,
  );
  fake.resources.set(`dms/${n.jobName}`, job);
  await deleteJobAndProfiles(c, retry, POLL);
});

test('a job owned by another database is never used, stopped or deleted; jobsUsingTarget finds it', async () => {
  const mine = task(0, 'owner');
  const other = task(2, 'owner'); // same migration, another database
  putTarget(mine);
  await ensureJob(c, mine, POLL);
  const n = gcpNames(mine);
  // The same job name, created for another database.
  const foreign = fake.resources.get(`dms/${n.jobName}`);
  foreign.labels = ownerLabels(other);
  await rejectsWith(ensureJob(c, mine, POLL), 'AlreadyExistsMismatch', /not created for orders of migration owner/);
  const mark = fake.log.length;
  await stopJob(c, mine, POLL);
  await deleteJobAndProfiles(c, mine, POLL);
  assert.deepEqual(calls(mine, mark), [], 'nothing sent');
  assert.ok(fake.resources.has(`dms/${n.jobName}`));

  // Another database's job that uses this target.
  const third = { ...task(0, 'someone-else') };
  const users = async () => (await jobsUsingTarget(c, third)).map((j) => j.name);
  assert.ok((await users()).includes(n.jobName));
  foreign.labels = ownerLabels(mine);
  await deleteJobAndProfiles(c, mine, POLL);
  assert.ok(!(await users()).includes(n.jobName));
});

test('fresh lag: a sample taken after an instant, waited for while its publication is delayed', async () => {
  const t = task(2, 'lag');
  putTarget(t);
  await ensureJob(c, t, POLL);
  await startOrResumeJob(c, t, POLL);
  await untilCdc(t);
  await lagSampleAfter(c, t, new Date()); // the Monitoring client's first call loads it
  behaviour.lagPublishDelayMs = 1_500;
  try {
    const since = new Date();
    assert.equal(await lagSampleAfter(c, t, since), undefined, 'nothing newer is published yet');
    const fresh = await freshLag(c, t, since, { intervalMs: 50, timeoutMs: 10_000 });
    assert.ok(fresh.at.getTime() > since.getTime());
    assert.ok(Date.now() - since.getTime() >= 1_500, 'it waited for the publication delay');
    assert.equal(fresh.value, 0, 'the fake lag has drained');
    await assert.rejects(
      freshLag(c, t, new Date(Date.now() + 60_000), { intervalMs: 50, timeoutMs: 300 }),
      /retryable/,
    );
  } finally {
    behaviour.lagPublishDelayMs = 0;
  }
  await deleteJobAndProfiles(c, t, POLL);
});

test('the fake holds requests to Google: bad provider, start before demote, validateOnly, forced delete', async () => {
  const t = task(2, 'rules');
  putTarget(t);
  await ensureJob(c, t, POLL);
  const n = gcpNames(t);
  const jobs = c.dms.projects.locations.migrationJobs;
  const status = async (p: Promise<unknown>) => {
    try {
      await p;
      return 200;
    } catch (err) {
      return (err as { response?: { status?: number } }).response?.status;
    }
  };
  // The old body: 'DATABASE_ENGINE' is no DatabaseProvider.
  assert.equal(
    await status(
      jobs.create({
        parent: n.parent,
        migrationJobId: 'bad-provider',
        requestBody: {
          type: 'CONTINUOUS',
          source: n.sourceProfileName,
          destination: n.destinationProfileName,
          sourceDatabase: { engine: 'POSTGRESQL', provider: 'DATABASE_ENGINE' },
        },
      }),
    ),
    400,
  );
  // Start before the existing destination is demoted: FAILED_PRECONDITION, as google.rpc.Status names it.
  assert.equal(await status(jobs.start({ name: n.jobName, requestBody: {} })), 400);
  type Answer = { status?: string; details?: { '@type': string; violations?: { subject?: string }[] }[] };
  const answer = await jobs.promote({ name: n.jobName, requestBody: {} }).then(
    () => undefined,
    (err: { response?: { data?: { error?: Answer } } }) => err.response?.data?.error,
  );
  assert.equal(answer?.status, 'FAILED_PRECONDITION', 'a state refusal is no INVALID_ARGUMENT');
  const failure = answer?.details?.find((d) => d['@type'] === 'type.googleapis.com/google.rpc.PreconditionFailure');
  assert.equal(failure?.violations?.[0]?.subject, n.jobName, 'google.rpc.PreconditionFailure names the job');
  // validateOnly is for Oracle profiles only.
  assert.equal(
    await status(
      c.dms.projects.locations.connectionProfiles.create({
        parent: n.parent,
        connectionProfileId: 'validate-pg',
        validateOnly: true,
        requestBody: { postgresql: { host: '203.0.113.30', port: 5432, username: 'u', password: 'p' } },
      }),
    ),
    400,
  );
  // A profile in use by a job cannot be deleted.
  assert.equal(await status(c.dms.projects.locations.connectionProfiles.delete({ name: n.sourceProfileName })), 400);
  // Resume only from STOPPED.
  assert.equal(await status(jobs.resume({ name: n.jobName, requestBody: {} })), 400);
  // An unreachable source fails verify with its problems.
  behaviour.unreachableHosts.add('203.0.113.30');
  try {
    const problems = await verifyJob(c, t, POLL);
    assert.equal(problems.length, 1);
    assert.match(problems[0], /203\.0\.113\.30 is not reachable/);
  } finally {
    behaviour.unreachableHosts.clear();
  }
  // Forced delete of a running job also deletes the destination replica: the fake models it.
  await startOrResumeJob(c, t, POLL);
  await untilCdc(t);
  const op = (await jobs.delete({ name: n.jobName, force: true })).data;
  while (!(await c.dms.projects.locations.operations.get({ name: op.name! })).data.done);
  assert.ok(!fake.resources.has(targetKey(t)), 'force took the destination with it');
  await deleteJobAndProfiles(c, t, POLL);
});
