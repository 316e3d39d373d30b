// The reserved capacity does work: the worker group's template boots Container-Optimized OS with a
// startup script that runs dbmig's worker image as `dbmig worker --data-plane` on the run's
// data-plane queue, as the plan's service account, with no secret anywhere in the template; a plan
// without the image or the Temporal address is refused before anything is sent; release deletes
// the group and with it every VM. Against the Compute fake, through the real @google-cloud/compute clients.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { effectiveSettings } from '../common/plan-settings';
import { validatePlan, type PlanInput } from '../common/plan';
import { GcpClients } from '../activities/platforms/gcp/clients';
import { describeReserve, releaseGcpCapacity, reserveGcpCapacity } from '../activities/platforms/gcp/compute/capacity';
import { workerGroupNames } from '../activities/platforms/gcp/compute/worker-group';
import {
  WORKER_BOOT_IMAGE,
  WORKER_SCOPES,
  WORKER_STARTUP_SCRIPT,
} from '../activities/platforms/gcp/compute/worker-startup';
import { MigrationError } from '../common/failures';
import { DEFAULT_TASK_QUEUE } from '../common/naming';
import { type DatabaseTask } from '../activities/steps';
import { createFakeGcp, fakeAuth, type FakeGcp } from './fakes/gcp';
import { gcpPlan, PROJECT, WORKER_IMAGE } from './helpers/gcp-plan';
import { costText, pricePlan } from '../cli/plan-cost';

const ZONE = 'us-central1-a';
const POLL = { intervalMs: 5, timeoutMs: 5_000 };
const API_KEY = 'temporal-api-key-value-7f3a9c';
const SOURCE_PASSWORD = 'source-password-value-91b2';
let fake: FakeGcp;
let c: GcpClients;

/** The shared plan's ledger database (priority low: flex-start), its gcp section changed by `gcp`. */
function task(migrationId: string, gcp: Partial<NonNullable<PlanInput['gcp']>> = {}): DatabaseTask {
  const input = gcpPlan();
  input.gcp = { ...input.gcp!, ...gcp };
  const plan = validatePlan(input);
  return {
    migrationId,
    platform: 'gcp',
    database: plan.databases[1],
    settings: effectiveSettings(plan, plan.databases[1]),
    gcp: plan.gcp,
    requestScope: `${migrationId}-attempt-1`,
  };
}

before(async () => {
  process.env.GCP_TEST_SOURCE_PASSWORD = SOURCE_PASSWORD;
  process.env.TEMPORAL_API_KEY = API_KEY; // the reserving worker's own key: it must not travel
  fake = createFakeGcp({ secrets: { 'temporal-api-key': API_KEY } }).fake;
  c = new GcpClients({ endpoint: await fake.start(), authClient: fakeAuth() });
});
after(async () => {
  delete process.env.TEMPORAL_API_KEY;
  await c?.close();
  await fake?.stop();
});

const vms = () =>
  [...fake.resources.keys()]
    .filter((k) => k.startsWith('compute:vms/'))
    .flatMap((k) => fake.resources.get(k) as string[]);
const metadataOf = (items: { key?: string | null; value?: string | null }[] | null | undefined) =>
  new Map((items ?? []).map((i) => [String(i.key), String(i.value)]));

test("the template boots COS and runs the worker image on the run's data-plane queue, with no secret", async () => {
  const t = task('workers-run', {
    workerTemporal: {
      address: 'temporal.migration.internal:7233',
      namespace: 'migrations',
      apiKeyRef: 'gcpsm:temporal-api-key',
    },
  });
  await reserveGcpCapacity(c, t, POLL);
  const { template } = workerGroupNames(t);
  const [tpl] = await c.instanceTemplates.get({ project: PROJECT, instanceTemplate: template });
  const p = tpl.properties!;
  assert.equal(p.disks?.[0]?.initializeParams?.sourceImage, WORKER_BOOT_IMAGE);
  const md = metadataOf(p.metadata?.items);
  assert.equal(md.get('dbmig-image'), WORKER_IMAGE);
  assert.equal(md.get('dbmig-temporal-address'), 'temporal.migration.internal:7233');
  assert.equal(md.get('dbmig-temporal-namespace'), 'migrations');
  // Outside an activity the queue is the environment's, as `dbmig worker` reads it; the VMs serve its data plane.
  assert.equal(md.get('dbmig-task-queue'), DEFAULT_TASK_QUEUE);
  assert.match(String(tpl.description), new RegExp(`serving ${DEFAULT_TASK_QUEUE}-data$`));
  // The key is named by its secret, never carried: the script reads it at boot with the VM's account.
  assert.equal(md.get('dbmig-temporal-api-key-secret'), `projects/${PROJECT}/secrets/temporal-api-key`);
  const script = md.get('startup-script')!;
  assert.equal(script, WORKER_STARTUP_SCRIPT);
  assert.match(script, /"\$image" worker --data-plane\n$/);
  assert.match(script, /-e TEMPORAL_API_KEY /, 'the key reaches the container by its environment, by name only');
  const everything = JSON.stringify(tpl);
  for (const secret of [API_KEY, SOURCE_PASSWORD]) assert.ok(!everything.includes(secret), 'no secret in the template');
  // The script is valid bash.
  const syntax = spawnSync('bash', ['-n'], { input: script, encoding: 'utf8' });
  assert.equal(syntax.status, 0, syntax.stderr);
});

test("the VMs run as the plan's service account with the cloud-platform scope, or the derived one", async () => {
  const given = task('workers-sa', { workerServiceAccount: `migrator@${PROJECT}.iam.gserviceaccount.com` });
  await reserveGcpCapacity(c, given, POLL);
  const [tpl] = await c.instanceTemplates.get({ project: PROJECT, instanceTemplate: workerGroupNames(given).template });
  assert.deepEqual(
    (tpl.properties?.serviceAccounts ?? []).map((s) => ({ email: s.email, scopes: s.scopes })),
    [{ email: `migrator@${PROJECT}.iam.gserviceaccount.com`, scopes: WORKER_SCOPES }],
  );
  assert.deepEqual(WORKER_SCOPES, ['https://www.googleapis.com/auth/cloud-platform']);
  const derived = task('workers-sa-default');
  await reserveGcpCapacity(c, derived, POLL);
  const [d] = await c.instanceTemplates.get({ project: PROJECT, instanceTemplate: workerGroupNames(derived).template });
  assert.equal(d.properties?.serviceAccounts?.[0]?.email, `dbmig-worker@${PROJECT}.iam.gserviceaccount.com`);
});

test('capacity is refused by name without the worker image or the Temporal address, before any request', async () => {
  for (const [gcp, missing] of [
    [{ workerImage: undefined }, /gcp\.workerImage/],
    [{ workerTemporal: undefined }, /gcp\.workerTemporal\.address/],
  ] as const) {
    const t = task('workers-missing', gcp);
    const from = fake.log.length;
    await assert.rejects(reserveGcpCapacity(c, t, POLL), (err: unknown) => {
      assert.ok(err instanceof MigrationError, String(err));
      assert.equal(err.type, 'InvalidPlan');
      assert.match(err.message, missing);
      return true;
    });
    assert.deepEqual(fake.changes(from), [], 'nothing created');
    // The dry run says the same instead of describing workers that would do nothing.
    assert.match(describeReserve(t)[0].detail, new RegExp(`REFUSED: .*${missing.source}`));
  }
  assert.throws(
    () =>
      validatePlan({
        ...gcpPlan(),
        gcp: { ...gcpPlan().gcp!, workerImage: 'projects/debian-cloud/global/images/family/debian-12' },
      }),
    /must be a container image with a tag or digest/,
  );
});

test('an existing template that runs another image is not reused', async () => {
  const t = task('workers-other-image');
  await reserveGcpCapacity(c, t, POLL);
  const other = task('workers-other-image', { workerImage: `${WORKER_IMAGE.split(':')[0]}:2.0.0` });
  await assert.rejects(reserveGcpCapacity(c, other, POLL), (err: unknown) => {
    assert.ok(err instanceof MigrationError, String(err));
    assert.equal(err.type, 'AlreadyExistsMismatch');
    assert.match(err.message, /dbmig-image is ".*:1\.0\.0", the plan needs ".*:2\.0\.0"/);
    return true;
  });
});

test('the dry run names the image, the queue, the address and the service account', () => {
  const detail = describeReserve(task('workers-dry'))[0].detail;
  assert.match(detail, new RegExp(`runs ${WORKER_IMAGE.replace(/[.]/g, '\\.')} as \`dbmig worker --data-plane\``));
  assert.match(detail, new RegExp(`task queue ${DEFAULT_TASK_QUEUE}-data on temporal\\.migration\\.internal:7233`));
  assert.match(detail, new RegExp(`as dbmig-worker@${PROJECT}\\.iam\\.gserviceaccount\\.com`));
});

test('release deletes the group, and with it every worker VM, then the template', async () => {
  const t = task('workers-release');
  await reserveGcpCapacity(c, t, POLL);
  const g = workerGroupNames(t);
  const before = vms().length;
  assert.ok(before >= 2, 'the workers were created');
  const from = fake.log.length;
  await releaseGcpCapacity(c, t, POLL);
  assert.deepEqual(
    fake.changes(from).map((x) => x.method),
    [
      'compute.instanceGroupManagerResizeRequests.delete',
      'compute.instanceGroupManagers.delete',
      'compute.instanceTemplates.delete',
    ],
  );
  assert.equal(vms().length, before - 2, "the group's VMs are gone");
  await assert.rejects(
    c.instanceGroupManagers.get({ project: PROJECT, zone: ZONE, instanceGroupManager: g.group }),
    /404|not found/i,
  );
  await assert.rejects(c.instanceTemplates.get({ project: PROJECT, instanceTemplate: g.template }), /404|not found/i);
});

test('the cost estimate says what each worker runs next to machine type x count x hours', async () => {
  const plan = validatePlan(gcpPlan());
  const text = costText(await pricePlan(plan));
  assert.match(text, /flex-start 2 x e2-standard-4, 7d/, 'ledger: machine type x count x hours');
  assert.match(
    text,
    new RegExp(
      `each worker runs: ${WORKER_IMAGE.replace(/[.]/g, '\\.')} as \`dbmig worker --data-plane\` on ` +
        `Container-Optimized OS, serving the run's data-plane task queue on temporal\\.migration\\.internal:7233, ` +
        `as dbmig-worker@${PROJECT}\\.iam\\.gserviceaccount\\.com`,
    ),
  );
  const bare = validatePlan({ ...gcpPlan(), gcp: { ...gcpPlan().gcp!, workerImage: undefined } });
  assert.match(costText(await pricePlan(bare)), /each worker runs: none: the plan sets no gcp\.workerImage/);
});

test('the startup script reads the key from Secret Manager and hands it to the container by environment only', () => {
  // The VM's commands stubbed on PATH: the metadata server and Secret Manager (curl), Docker.
  const dir = mkdtempSync(join(tmpdir(), 'dbmig-startup-'));
  const md: Record<string, string> = {
    'dbmig-image': WORKER_IMAGE,
    'dbmig-temporal-address': 'temporal.migration.internal:7233',
    'dbmig-temporal-namespace': 'migrations',
    'dbmig-task-queue': 'db-migrations',
    'dbmig-allowed-hosts': '203.0.113.20',
    'dbmig-temporal-api-key-secret': `projects/${PROJECT}/secrets/temporal-api-key`,
  };
  for (const [k, v] of Object.entries(md)) writeFileSync(join(dir, `md-${k}`), v);
  const data = Buffer.from(API_KEY).toString('base64');
  const stub = (name: string, body: string) => {
    writeFileSync(join(dir, name), `#!/bin/bash\n${body}\n`);
    chmodSync(join(dir, name), 0o755);
  };
  stub(
    'curl',
    [
      `url="\${@: -1}"; echo "$*" >> ${dir}/curl-args`,
      'case "$url" in',
      `  */instance/attributes/*) f="${dir}/md-\${url##*/}"; [ -f "$f" ] && cat "$f" || exit 22 ;;`,
      `  */project/project-id) echo ${PROJECT} ;;`,
      '  */service-accounts/default/token) echo \'{"access_token":"tok-123","expires_in":3599}\' ;;',
      `  https://secretmanager.googleapis.com/v1/projects/${PROJECT}/secrets/temporal-api-key/versions/latest:access)`,
      '    grep -q "^Authorization: Bearer tok-123$" || exit 22',
      `    printf '{\\n  "name": "x",\\n  "payload": {\\n    "data": "${data}"\\n  }\\n}\\n' ;;`,
      '  *) exit 22 ;;',
      'esac',
    ].join('\n'),
  );
  stub(
    'docker',
    `echo "$*" >> ${dir}/docker-args; [ "$1" = run ] && env | grep -E '^(TEMPORAL|DBMIG)_' | sort > ${dir}/env`,
  );
  stub('docker-credential-gcr', `echo "$*" > ${dir}/cred-args`);
  stub('mkdir', 'true');
  const run = spawnSync('bash', ['-c', WORKER_STARTUP_SCRIPT], {
    env: { PATH: `${dir}:/usr/bin:/bin` },
    encoding: 'utf8',
  });
  try {
    assert.equal(run.status, 0, run.stderr);
    const env = readFileSync(join(dir, 'env'), 'utf8');
    assert.match(env, new RegExp(`^TEMPORAL_API_KEY=${API_KEY}$`, 'm'));
    assert.match(env, /^TEMPORAL_TLS=true$/m);
    assert.match(env, /^TEMPORAL_TASK_QUEUE=db-migrations$/m);
    assert.match(env, /^DBMIG_ALLOWED_HOSTS=203\.0\.113\.20$/m);
    const args = readFileSync(join(dir, 'docker-args'), 'utf8') + readFileSync(join(dir, 'curl-args'), 'utf8');
    assert.match(args, new RegExp(`${WORKER_IMAGE.replace(/[.]/g, '\\.')} worker --data-plane`));
    assert.ok(!args.includes(API_KEY) && !args.includes('tok-123'), 'neither key nor token in any argument');
    assert.equal(
      readFileSync(join(dir, 'cred-args'), 'utf8').trim(),
      'configure-docker --registries=us-central1-docker.pkg.dev',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
