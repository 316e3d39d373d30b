// The worker guards its secrets: a plan may name only the references and source hosts the worker
// allows (never the worker's own: Temporal's credentials, its clusters' superuser passwords), a
// password goes to a source only through SCRAM-SHA-256, no PostgreSQL log quotes one, and the
// local platform's state is readable by its owner only.
import assert from 'node:assert/strict';
import { lstat, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import pg from 'pg';
import { LocalPlatform } from '../activities/platforms/local';
import { connect, withClient } from '../activities/engines/postgres/sessions';
import { type ClusterInfo } from '../activities/platforms/local/clusters';
import { JobRecords } from '../activities/platforms/local/job-record-file';
import { acquireLock } from '../activities/platforms/local/lockfile';
import { ensureSubscription } from '../activities/engines/postgres/replication';
import { dumpSchema } from '../activities/engines/postgres/schema';
import type { DatabaseTask } from '../activities/steps';
import { hostAllowed, resolveSecret, secretPolicy, sourcePassword } from '../activities/secrets';
import { MigrationError } from '../common/failures';
import { effectiveSettings } from '../common/plan-settings';
import { validatePlan } from '../common/plan';
import { planFor } from './fixtures/fleet';
import { fakeAuthServer, type FakeAuthServer } from './helpers/fake-pg-auth';

// Its parent is made by the platform too: postgres must still reach the clusters through it.
const stateParent = resolve('.local-platform', 'test-secrets');
const stateDir = join(stateParent, 'state');
const TARGET = 'secrets-target';
const PASSWORD_ENV = 'DBMIG_SECRETS_TEST_PASSWORD';
const POLICY_VARS = ['DBMIG_ALLOWED_SECRETS', 'DBMIG_ALLOWED_HOSTS', 'TEMPORAL_API_KEY'];
const saved = Object.fromEntries(POLICY_VARS.map((v) => [v, process.env[v]]));
let platform: LocalPlatform;
let target: ClusterInfo;
const servers: FakeAuthServer[] = [];

before(async () => {
  await rm(stateParent, { recursive: true, force: true });
  platform = new LocalPlatform(stateDir);
  target = await platform.clusters.ensure(TARGET);
  process.env[PASSWORD_ENV] = 'the-source-password';
});
afterEach(() => {
  for (const v of POLICY_VARS)
    if (saved[v] === undefined) delete process.env[v];
    else process.env[v] = saved[v];
});
after(async () => {
  for (const s of servers) await s.close();
  await platform?.clusters.destroy(TARGET);
  await rm(stateParent, { recursive: true, force: true });
});

async function server(method: 'password' | 'md5' | 'sasl-unknown'): Promise<FakeAuthServer> {
  const s = await fakeAuthServer(method);
  servers.push(s);
  return s;
}

function task(host: string, port: number, passwordRef: string): DatabaseTask {
  const cluster = { ...target, host, port, user: 'app' };
  const plan = validatePlan(planFor(cluster, [{ name: 'shop', rows: 0, priority: 'high', sizeGb: 1 }], passwordRef));
  const database = { ...plan.databases[0], target: { ...plan.databases[0].target, instance: TARGET } };
  return { migrationId: 'secrets', platform: 'local', database, settings: effectiveSettings(plan, database) };
}

const refused = (pattern: RegExp) => (err: unknown) =>
  err instanceof MigrationError && err.type === 'SecretUnavailable' && pattern.test(err.message);

test('the defaults: *_PASSWORD variables, /run/secrets, Secret Manager; loopback sources only', () => {
  delete process.env.DBMIG_ALLOWED_SECRETS;
  delete process.env.DBMIG_ALLOWED_HOSTS;
  assert.deepEqual(secretPolicy(), {
    secrets: ['env:*_PASSWORD', 'file:/run/secrets/*', 'gcpsm:*'],
    hosts: ['localhost', '127.0.0.1', '::1'],
  });
  assert.ok(hostAllowed('LOCALHOST') && hostAllowed('127.0.0.1') && hostAllowed('[::1]'));
  assert.ok(!hostAllowed('10.0.0.5') && !hostAllowed('db.example.com') && !hostAllowed('127.0.0.1.evil.example'));
  const hosts = ['*.db.internal', '10.20.0.0/16', 'fd00::/8', 'orders.example.com'];
  assert.ok(hostAllowed('Pg1.DB.internal', hosts) && hostAllowed('10.20.3.4', hosts) && hostAllowed('fd00::5', hosts));
  assert.ok(hostAllowed('orders.example.com', hosts));
  assert.ok(!hostAllowed('db.internal.evil.example', hosts) && !hostAllowed('10.21.0.1', hosts));
  // A CIDR matches addresses, never names (which whoever connects resolves again).
  assert.ok(!hostAllowed('ten-twenty.example', ['10.20.0.0/16']));
  process.env.DBMIG_ALLOWED_HOSTS = '10.0.0.0/33';
  assert.throws(() => secretPolicy(), /DBMIG_ALLOWED_HOSTS: "10.0.0.0\/33" is not a CIDR/);
});

test("a reference the worker does not allow, or one of the worker's own, is refused before it is read", async () => {
  delete process.env.DBMIG_ALLOWED_SECRETS;
  assert.equal(await resolveSecret(`env:${PASSWORD_ENV}`), 'the-source-password');
  process.env.DBMIG_SECRETS_TEST_TOKEN = 'not-a-source-password';
  await assert.rejects(
    resolveSecret('env:DBMIG_SECRETS_TEST_TOKEN'),
    refused(/env:DBMIG_SECRETS_TEST_TOKEN .*no pattern of DBMIG_ALLOWED_SECRETS matches it.*add one/),
  );
  await assert.rejects(resolveSecret('file:/etc/hostname'), refused(/file:\/etc\/hostname .*DBMIG_ALLOWED_SECRETS/));

  // Allowing everything still never hands out the worker's own secrets.
  process.env.DBMIG_ALLOWED_SECRETS = 'env:*,file:*';
  process.env.TEMPORAL_API_KEY = 'temporal-cloud-key';
  await assert.rejects(resolveSecret('env:TEMPORAL_API_KEY'), refused(/worker's own configuration/));
  const meta = join(stateDir, 'clusters', TARGET, 'meta.json');
  assert.match(await readFile(meta, 'utf8'), new RegExp(target.password), 'the superuser password is in that file');
  await assert.rejects(resolveSecret(`file:${meta}`), refused(/the file is the worker's own/));
  await assert.rejects(resolveSecret(`file:${stateDir}/../state/clusters/${TARGET}/meta.json`), refused(/own/));
  await assert.rejects(resolveSecret('file:/proc/self/environ'), refused(/own/));
  // Nor through a link from an allowed directory.
  const dir = resolve('.dbmig-test-secrets');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir);
  try {
    await symlink(meta, join(dir, 'innocent'));
    await writeFile(join(dir, 'orders'), 'orders-password\n', { mode: 0o600 });
    process.env.DBMIG_ALLOWED_SECRETS = `file:${dir}/*`;
    assert.equal(await resolveSecret(`file:${dir}/orders`), 'orders-password');
    await assert.rejects(resolveSecret(`file:${dir}/innocent`), refused(/the file is the worker's own/));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the local platform refuses such a plan before it connects to the source', async () => {
  const fake = await server('password');
  process.env.DBMIG_ALLOWED_SECRETS = 'env:*,file:*';
  process.env.TEMPORAL_API_KEY = 'temporal-cloud-key';
  const meta = join(stateDir, 'clusters', TARGET, 'meta.json');
  for (const ref of [`file:${meta}`, 'env:TEMPORAL_API_KEY'])
    await assert.rejects(platform.assessSource(task('127.0.0.1', fake.port, ref)), refused(/refused on this worker/));
  assert.equal(fake.connections, 0, 'nothing reached the source');
});

test('a source host the worker does not allow gets no password', async () => {
  delete process.env.DBMIG_ALLOWED_HOSTS;
  const source = { host: '192.0.2.10', passwordRef: `env:${PASSWORD_ENV}` };
  await assert.rejects(
    sourcePassword(source),
    refused(/source host 192\.0\.2\.10 is not allowed.*DBMIG_ALLOWED_HOSTS/),
  );
  process.env.DBMIG_ALLOWED_HOSTS = '192.0.2.0/24';
  assert.equal(await sourcePassword(source), 'the-source-password');
  // Through the platform (needs LocalPlatform.source() to resolve with sourcePassword): refused at once,
  // where a connection to this unroutable address would only time out.
  delete process.env.DBMIG_ALLOWED_HOSTS;
  const started = Date.now();
  await assert.rejects(
    platform.assessSource(task('192.0.2.10', 5432, `env:${PASSWORD_ENV}`)),
    refused(/source host 192\.0\.2\.10 is not allowed/),
  );
  // Under the 10 s connect timeout (activities/engines/postgres/sessions.ts) a connection would wait:
  // the bound is that timeout's, not the machine's speed.
  assert.ok(Date.now() - started < 9_500, `refused after ${Date.now() - started} ms`);
});

test('a source that asks for the password in clear text or as MD5 never receives it', async () => {
  // The fake is real enough: node-postgres as it comes sends it the password.
  const control = await server('password');
  const plain = new pg.Client({ host: '127.0.0.1', port: control.port, user: 'app', password: 'sent-in-clear' });
  await assert.rejects(plain.connect(), /password authentication failed/);
  assert.deepEqual(control.passwords, ['sent-in-clear']);

  for (const method of ['password', 'md5', 'sasl-unknown'] as const) {
    const fake = await server(method);
    const t = task('127.0.0.1', fake.port, `env:${PASSWORD_ENV}`);
    await assert.rejects(platform.assessSource(t), refused(/asked user app for .*only through SCRAM-SHA-256/));
    // pg_dump 15 would answer in clear text: the schema copy asks through node-postgres first.
    const params = { host: '127.0.0.1', port: fake.port, user: 'app', password: 'x', database: 'shop' };
    await assert.rejects(dumpSchema(params), refused(/SCRAM-SHA-256/));
    assert.equal(fake.connections, 2, `${method}: both steps reached the source`);
    assert.deepEqual(fake.passwords, [], `${method}: no password (nor a hash of it) was sent`);
  }
});

test("a failed CREATE SUBSCRIPTION leaves the password out of the target's log", async () => {
  const log = join(stateDir, 'clusters', TARGET, 'postgres.log');
  const closed = await server('password');
  await closed.close(); // a port nothing listens on: the subscription cannot reach its publisher
  const source = (password: string) => ({ host: '127.0.0.1', port: closed.port, user: 'app', password, database: 'x' });
  await withClient({ ...target, database: 'postgres' }, async (c) => {
    // By default PostgreSQL logs a failed statement with its text, connection string included.
    await assert.rejects(
      c.query(`create subscription control connection 'host=127.0.0.1 port=${closed.port} password=control-canary'
               publication p with (connect = true)`),
      /could not connect to the publisher/,
    );
    const names = { job: 'j', publication: 'p', slot: 's', subscription: 'leaky' };
    await assert.rejects(ensureSubscription(c, names, source('hidden-canary')), /could not connect to the publisher/);
    assert.equal((await c.query('show log_min_error_statement')).rows[0].log_min_error_statement, 'error');
  });
  const text = await readFile(log, 'utf8');
  assert.match(text, /control-canary/, 'the server logs failed statements');
  assert.equal(text.match(/could not connect to the publisher/g)?.length, 2, 'both failures are logged');
  assert.doesNotMatch(text, /hidden-canary/);
});

test('the local state is readable by its owner only', async () => {
  await new JobRecords(join(stateDir, 'jobs', 'j.json')).write({ phase: 'blocked' });
  const release = await acquireLock(join(stateDir, 'clusters', TARGET, 'lock'));
  const wide: string[] = [];
  const walk = async (path: string): Promise<void> => {
    const st = await lstat(path);
    // Directories on the way to a data directory let group postgres pass (x), nothing more.
    const allowed = st.isDirectory() ? 0o010 : 0;
    if (st.mode & 0o077 & ~allowed) wide.push(`${path} ${(st.mode & 0o777).toString(8)}`);
    if (st.isDirectory()) for (const e of await readdir(path)) await walk(join(path, e));
  };
  try {
    await walk(stateDir);
  } finally {
    await release();
  }
  assert.deepEqual(wide, []);
  // The clusters still work under those modes.
  const c = await connect({ ...target, database: 'postgres' });
  assert.equal((await c.query('select 1 as one')).rows[0].one, 1);
  await c.end();
});
