// A gcp target that took over is never touched by a later run (issue 17, point 3): the cutover
// labels the Cloud SQL instance or AlloyDB cluster dbmig-took-over before it asks DMS to promote,
// and provisioning, demotion (migrationJobs.demoteDestination), job creation and deletion refuse a
// labelled target. Driven through GcpPlatform as the runbook calls it, against the fake of Google's
// APIs (which holds the label requests to the Cloud SQL and AlloyDB protos and Google's label rules).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { GcpPlatform } from '../activities/platforms/gcp';
import { ensureJob, getJob } from '../activities/platforms/gcp/dms';
import { gcpNames } from '../activities/platforms/gcp/names';
import { TOOK_OVER_LABEL } from '../activities/platforms/gcp/sql/took-over';
import { MigrationError } from '../common/failures';
import { type DatabaseTask } from '../activities/steps';
import { effectiveSettings } from '../common/plan-settings';
import { validatePlan } from '../common/plan';
import { createFakeGcp, fakeAuth, type FakeGcp } from './fakes/gcp';
import { FAST_DMS } from './helpers/gcp-world';
import { gcpPlan, PROJECT } from './helpers/gcp-plan';

const JOBS = 'datamigration.projects.locations.migrationJobs';
let fake: FakeGcp;
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
    dms: FAST_DMS,
  });
  fake = made.fake;
  platform = new GcpPlatform({
    endpoint: await fake.start(),
    authClient: fakeAuth(),
    poll: { intervalMs: 20, timeoutMs: 30_000 },
  });
});
after(async () => {
  await platform?.close();
  await fake?.stop();
});

/**
 * Database `name` of the shared plan (dms-only sources) under `migrationId`, onto target `instance`;
 * `run` names the run (a new run sends new request ids, as the activity layer's requestScope does).
 */
function task(name: string, migrationId: string, instance: string, run = 1): DatabaseTask {
  const plan = validatePlan(gcpPlan());
  const planned = plan.databases.find((d) => d.name === name)!;
  const database = { ...planned, target: { ...planned.target, instance } };
  return {
    migrationId,
    platform: 'gcp',
    database,
    settings: effectiveSettings(plan, database),
    gcp: plan.gcp,
    requestScope: `${migrationId}-run-${run}`,
  };
}

const targetKey = (t: DatabaseTask) =>
  t.database.target.kind === 'alloydb'
    ? `alloydb/${gcpNames(t).cluster}`
    : `sql/${PROJECT}/${t.database.target.instance}`;
const labelsOf = (t: DatabaseTask): Record<string, string> | undefined => {
  const r = fake.resources.get(targetKey(t));
  return t.database.target.kind === 'alloydb' ? r?.labels : r?.settings?.userLabels;
};
/** Answered requests of `rpc` (a suffix of the method id) on this task's job or target, since `from`. */
const sent = (t: DatabaseTask, rpc: string, from = 0) =>
  fake.log
    .slice(from)
    .filter((r) => r.rpc?.endsWith(rpc) && (r.status ?? 500) < 300 && !r.deduplicated)
    .filter((r) =>
      [gcpNames(t).jobName, gcpNames(t).cluster, t.database.target.instance].some((x) => r.path.includes(x)),
    ).length;

async function refused(p: Promise<unknown>, doing: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof MigrationError, `expected a MigrationError, got ${String(err)}`);
    assert.equal(err.type, 'TargetTookOver', err.message);
    assert.match(err.message, new RegExp(`${TOOK_OVER_LABEL}=`));
    assert.match(err.message, doing);
    assert.match(err.message, /new migration id onto a new target instance/);
    return true;
  });
}

/** The runbook's steps up to CDC: provision, create, verify, demote + start. */
async function toCdc(t: DatabaseTask): Promise<void> {
  await platform.provisionTarget(t);
  await platform.createMigrationJob(t);
  assert.deepEqual(await platform.verifyMigrationJob(t), []);
  await platform.startMigrationJob(t);
  for (const until = Date.now() + 30_000; ; await new Promise((r) => setTimeout(r, 20))) {
    const j = await getJob(platform.clients, t);
    if (j?.state === 'RUNNING' && j.phase === 'CDC') return;
    assert.ok(Date.now() < until, 'the job never reached CDC');
  }
}

for (const name of ['billing', 'ledger']) {
  test(`${name}: a second run after the promote refuses to reuse, demote or delete the target`, async (t) => {
    const first = task(name, `took-over-${name}`, `${name}-second-run`);
    await toCdc(first);
    const steps: string[] = [];
    await platform.cutover(first, (s) => steps.push(s));
    assert.equal((await getJob(platform.clients, first))?.state, 'COMPLETED');
    assert.equal(labelsOf(first)?.[TOOK_OVER_LABEL], gcpNames(first).ownerLabel, 'the target carries the mark');
    await platform.deleteMigrationJob(first); // the runbook, once the final validation passed

    // The second run: same migration id, same target, as `dbmig retry` or a restarted parent starts it.
    const second = task(name, `took-over-${name}`, `${name}-second-run`, 2);
    const from = fake.log.length;
    await refused(platform.provisionTarget(second), /reusing it as a target/);
    await refused(platform.createMigrationJob(second), /creating a migration job into it/);
    // Even a job created behind the platform's back is never started into it: the demote is refused.
    await ensureJob(platform.clients, second, { intervalMs: 20, timeoutMs: 30_000 });
    await refused(platform.startMigrationJob(second), /demoting it/);
    // Its compensation: the undo steps in the runbook's order.
    await platform.stopMigrationJob(second);
    await platform.deleteMigrationJob(second);
    await platform.releaseCapacity(second);
    await refused(platform.deleteTarget(second), /deleting it/);
    assert.ok(fake.resources.has(targetKey(second)), 'the promoted target still exists');
    assert.equal(sent(second, `${JOBS}.demoteDestination`, from), 0, 'no demote was sent to it');
    assert.equal(sent(second, '.delete', from) - sent(second, `${JOBS}.delete`, from), 0, 'no delete of the target');
    t.diagnostic(`mark written before the promote; second run refused at provision, create, demote and delete`);
  });
}

test('a crash between the mark and the promote: resumed, it promotes once; a later run keeps the target', async (t) => {
  const first = task('billing', 'took-over-crash', 'billing-crash');
  await toCdc(first);
  // The dms-only cutover reports "promoting" after the mark and before the request: a worker that
  // dies there has written the mark and sent no promote.
  const crashed = await platform
    .cutover(first, (s) => {
      if (s.includes('promoting (the point of no return)')) throw new Error('worker died before the promote');
    })
    .then(
      () => false,
      () => true,
    );
  assert.ok(crashed);
  assert.equal(labelsOf(first)?.[TOOK_OVER_LABEL], gcpNames(first).ownerLabel, 'the mark was written');
  assert.equal(sent(first, `${JOBS}.promote`), 0, 'no promote was sent');
  assert.equal((await getJob(platform.clients, first))?.phase, 'CDC', 'the job still replicates');

  // The run gives up instead (its compensation, as the runbook runs it for a failed cutover and for
  // a later run): the mark without a promote still keeps the target.
  await refused(platform.deleteTarget(first), /deleting it/);
  assert.ok(fake.resources.has(targetKey(first)));

  // The resumed attempt of the same cutover sees its own mark and goes on: one promote, one mark.
  await platform.cutover(first, () => undefined);
  assert.equal(sent(first, `${JOBS}.promote`), 1, 'promoted once');
  assert.equal(sent(first, 'instances.patch'), 1, 'marked once');
  assert.equal((await getJob(platform.clients, first))?.state, 'COMPLETED');
  await refused(platform.provisionTarget(task('billing', 'took-over-crash', 'billing-crash', 2)), /reusing/);
  t.diagnostic('mark without a promote: kept by deleteTarget; the resumed cutover promoted once and marked once');
});

test("the fake holds label requests to Google's rules", async () => {
  const other = task('orders', 'took-over-rules', 'orders-rules');
  await platform.provisionTarget(other);
  const c = platform.clients;
  const body = (labels: Record<string, string>) => ({ settings: { userLabels: labels } });
  const bad: Record<string, string>[] = [{ 'Upper-Key': 'x' }, { k: 'Not Allowed' }, { k: 'x'.repeat(64) }];
  for (const labels of bad)
    await assert.rejects(
      c.sqlInstances.patch({ project: PROJECT, instance: other.database.target.instance, body: body(labels) }),
      /label (key|value)/,
    );
  assert.equal(labelsOf(other)?.[TOOK_OVER_LABEL], undefined);
});
