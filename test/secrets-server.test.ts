// No password in any server's statistics or logs (issue 17, point 6). Both clusters run with
// pg_stat_statements loaded (shared_preload_libraries, the extension created) and log_statement =
// all; two databases move through a real migration on the local platform, called as the runbook
// calls it: one as the source's superuser, one as a non-superuser migration user (PostgreSQL 16:
// pg_create_subscription, REPLICATION, owner of its database). The cutover makes the reverse
// subscription on the source (the target's password), the job the forward one on the target (the
// source user's). Afterwards no password is in pg_stat_statements, in any pg_stat_activity
// snapshot taken throughout, or in either server's log file. A server that would record it anyway
// (pg_stat_statements.track = all, which the non-superuser may not change) is refused by the
// assessment, by name, before any statement.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { LocalPlatform } from '../activities/platforms/local';
import { withClient } from '../activities/engines/postgres/sessions';
import { type ClusterInfo } from '../activities/platforms/local/clusters';
import { createSubscriptionSecretly } from '../activities/engines/postgres/subscription-secret';
import type { DatabaseTask } from '../activities/steps';
import { effectiveSettings } from '../common/plan-settings';
import { validatePlan } from '../common/plan';
import { createSourceDatabase, planFor } from './fixtures/fleet';

const VERSION = Number(process.env.SECRETS_SERVER_VERSION ?? 16);
const TARGET = 'secrets-target';
const SUPER_ENV = 'DBMIG_SECRETS_SUPER_PASSWORD';
const MIGRATOR_ENV = 'DBMIG_SECRETS_MIGRATOR_PASSWORD';
const MIGRATOR = { user: 'migrator', password: `mig-${randomBytes(12).toString('base64url')}` };
const stateDir = resolve('.local-platform', 'test-secrets-server');
const platform = new LocalPlatform(stateDir);
let source: ClusterInfo;
let target: ClusterInfo;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** pg_stat_statements loaded and every statement logged; restarted so the library is loaded. */
async function recordEverything(name: string, info: ClusterInfo): Promise<ClusterInfo> {
  await withClient({ ...info, database: 'postgres' }, async (c) => {
    await c.query(`alter system set shared_preload_libraries = 'pg_stat_statements'`);
    await c.query(`alter system set log_statement = 'all'`);
  });
  await platform.clusters.stop(name);
  const up = await platform.clusters.ensure(name, { version: VERSION });
  await withClient({ ...up, database: 'postgres' }, (c) => c.query('create extension pg_stat_statements'));
  return up;
}

before(async () => {
  await rm(stateDir, { recursive: true, force: true });
  const [s, t] = await Promise.all([
    platform.clusters.ensure('source', { version: VERSION }),
    platform.clusters.ensure(TARGET, { version: VERSION }),
  ]);
  // Made before anything records: the role's own password is in this statement's text.
  await withClient({ ...s, database: 'postgres' }, async (c) => {
    await c.query(`create role ${MIGRATOR.user} login replication password ${pg.escapeLiteral(MIGRATOR.password)}`);
    await c.query(`grant pg_signal_backend, pg_read_all_stats to ${MIGRATOR.user}`);
    if (VERSION >= 16) await c.query(`grant pg_create_subscription to ${MIGRATOR.user}`);
  });
  [source, target] = [await recordEverything('source', s), await recordEverything(TARGET, t)];
  process.env[SUPER_ENV] = source.password;
  process.env[MIGRATOR_ENV] = MIGRATOR.password;
});

after(async () => {
  for (const c of ['source', TARGET]) await platform.clusters.destroy(c).catch(() => undefined);
  await rm(stateDir, { recursive: true, force: true });
});

function taskFor(name: string, user: string, passwordEnv: string): DatabaseTask {
  const plan = validatePlan(
    planFor(source, [{ name, rows: 0, priority: 'medium', sizeGb: 1 }], `env:${passwordEnv}`, {
      cutover: { reverseReplicationFor: '1h' },
    }),
  );
  const d = plan.databases[0];
  const database = { ...d, source: { ...d.source, user }, target: { ...d.target, instance: TARGET } };
  return { migrationId: `sec-${name}`, platform: 'local', database, settings: effectiveSettings(plan, database) };
}

/** Every query text pg_stat_activity shows on both clusters, sampled until stopped. */
class ActivitySampler {
  readonly seen = new Set<string>();
  private stopped = false;
  private readonly done: Promise<void>;

  constructor(clusters: ClusterInfo[]) {
    this.done = Promise.all(clusters.map((c) => this.sample(c))).then(() => undefined);
  }

  private async sample(info: ClusterInfo): Promise<void> {
    const c = new pg.Client({ ...info, database: 'postgres' });
    c.on('error', () => undefined);
    await c.connect();
    while (!this.stopped) {
      const { rows } = await c.query<{ q: string }>(`select query as q from pg_stat_activity where query <> ''`);
      for (const r of rows) this.seen.add(r.q);
      await sleep(2);
    }
    await c.end();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}

/** provision, job, CDC, cutover (the reverse subscription), as the runbook calls them. */
async function migrate(task: DatabaseTask): Promise<void> {
  const a = await platform.assessSource(task);
  assert.equal(a.blocked, false, `${task.database.name} assessed without a blocking finding: ${JSON.stringify(a)}`);
  await platform.provisionTarget(task);
  await platform.createMigrationJob(task);
  await platform.startMigrationJob(task);
  await platform.copyInitialData?.(task, () => undefined); // as waitForFullDump does
  const until = Date.now() + 120_000;
  for (;;) {
    const s = await platform.getReplicationStatus(task);
    if (s.phase === 'CDC' && s.lagSeconds !== null && s.lagSeconds < 1) break;
    assert.ok(Date.now() < until, `${task.database.name} not in CDC after 120 s: ${JSON.stringify(s)}`);
    await sleep(100);
  }
  const result = await platform.cutover(task, () => undefined);
  assert.ok(result.reverseReplication, 'the cutover set up reverse replication (a subscription on the source)');
}

/** Where each password shows: pg_stat_statements, pg_stat_activity samples, log lines. */
async function findPasswords(passwords: Record<string, string>, activity: Set<string>) {
  const found: string[] = [];
  for (const info of [source, target]) {
    const { rows } = await withClient({ ...info, database: 'postgres' }, (c) =>
      c.query<{ query: string }>('select query from pg_stat_statements'),
    );
    const log = await readFile(join(dirname(info.dataDir), 'postgres.log'), 'utf8');
    for (const [whose, pw] of Object.entries(passwords)) {
      const n = rows.filter((r) => r.query.includes(pw)).length;
      if (n) found.push(`${info.name} pg_stat_statements: ${n} statements hold the ${whose} password`);
      const lines = log.split('\n').filter((l) => l.includes(pw)).length;
      if (lines) found.push(`${info.name} log: ${lines} lines hold the ${whose} password`);
    }
  }
  for (const [whose, pw] of Object.entries(passwords)) {
    const n = [...activity].filter((q) => q.includes(pw)).length;
    if (n) found.push(`pg_stat_activity: ${n} sampled queries hold the ${whose} password`);
  }
  return found;
}

test(`PostgreSQL ${VERSION}, pg_stat_statements and log_statement = all: no password recorded`, async () => {
  for (const name of ['supershop', 'plainshop'])
    await createSourceDatabase(source, { name, rows: 200, priority: 'medium', sizeGb: 1 });
  // The non-superuser owns its database and tables, as an application's migration user would.
  await withClient({ ...source, database: 'postgres' }, (c) =>
    c.query(`alter database plainshop owner to ${MIGRATOR.user}`),
  );
  await withClient({ ...source, database: 'plainshop' }, (c) =>
    c.query(`alter table items owner to ${MIGRATOR.user}; alter schema public owner to ${MIGRATOR.user}`),
  );
  const activity = new ActivitySampler([source, target]);
  try {
    await migrate(taskFor('supershop', source.user, SUPER_ENV));
    if (VERSION >= 16) await migrate(taskFor('plainshop', MIGRATOR.user, MIGRATOR_ENV));
  } finally {
    await activity.stop();
  }
  const reverse = await withClient({ ...source, database: 'postgres' }, (c) =>
    c.query<{ name: string; owner: string }>(
      'select subname as name, subowner::regrole::text as owner from pg_subscription order by 1',
    ),
  );
  console.log(`reverse subscriptions on the source: ${JSON.stringify(reverse.rows)}`);
  assert.deepEqual(
    reverse.rows.map((r) => r.owner).sort(),
    VERSION >= 16 ? [MIGRATOR.user, source.user].sort() : [source.user],
    'the reverse subscriptions were made by the superuser and by the migration user',
  );
  const passwords = {
    "source superuser's": source.password,
    "migration user's": MIGRATOR.password,
    "target's": target.password,
  };
  const found = await findPasswords(passwords, activity.seen);
  console.log(`${activity.seen.size} distinct pg_stat_activity queries sampled; passwords found: ${found.length}`);
  for (const f of found) console.log(`  ${f}`);
  // The test can see a password: each statement dbmig ran is recorded (the COPY that carried one).
  for (const info of [source, target]) {
    const log = await readFile(join(dirname(info.dataDir), 'postgres.log'), 'utf8');
    assert.match(log, /statement: copy pg_temp\.dbmig_conninfo/, `${info.name}'s log records dbmig's statements`);
  }
  assert.deepEqual(found, [], 'no password in pg_stat_statements, pg_stat_activity or a server log');
});

test('a server that would record the password where the user cannot stop it is refused by name', async () => {
  await withClient({ ...source, database: 'postgres' }, async (c) => {
    await c.query(`alter system set pg_stat_statements.track = 'all'`);
    await c.query('select pg_reload_conf()');
  });
  try {
    await createSourceDatabase(source, { name: 'auditshop', rows: 10, priority: 'medium', sizeGb: 1 });
    await withClient({ ...source, database: 'postgres' }, (c) =>
      c.query(`alter database auditshop owner to ${MIGRATOR.user}`),
    );
    const plain = await platform.assessSource(taskFor('auditshop', MIGRATOR.user, MIGRATOR_ENV));
    const finding = plain.findings.find((f) => f.code === 'SOURCE_RECORDS_PASSWORD');
    assert.equal(plain.blocked, true);
    assert.match(finding?.message ?? '', /pg_stat_statements\.track = all.*user migrator may not set it/);
    // A superuser switches it off for its own transaction: nothing to refuse.
    const superuser = await platform.assessSource(taskFor('auditshop', source.user, SUPER_ENV));
    assert.deepEqual(
      superuser.findings.filter((f) => f.code === 'SOURCE_RECORDS_PASSWORD'),
      [],
      'a superuser may switch pg_stat_statements.track off for its transaction',
    );
  } finally {
    await withClient({ ...source, database: 'postgres' }, async (c) => {
      await c.query('alter system reset pg_stat_statements.track');
      await c.query('select pg_reload_conf()');
    });
  }
});

test('a CREATE SUBSCRIPTION that fails does not quote its connection string in the error or the log', async () => {
  const probe = `probe-${randomBytes(9).toString('base64url')}`;
  const connection = `host=127.0.0.1 port=1 dbname=nowhere user=${MIGRATOR.user} password=${probe}`;
  await withClient({ ...source, database: 'postgres' }, (c) =>
    c.query(`create database probeshop owner ${MIGRATOR.user}`),
  );
  for (const user of [source.user, MIGRATOR.user].slice(0, VERSION >= 16 ? 2 : 1)) {
    const params = { ...source, database: 'probeshop', ...(user === MIGRATOR.user ? MIGRATOR : {}) };
    const err = await withClient(params, (c) =>
      createSubscriptionSecretly(
        c,
        'the source',
        'failing_sub',
        connection,
        'publication nothing with (create_slot = false)',
      ).then(
        () => undefined,
        (e: Error & { detail?: string }) => e,
      ),
    );
    assert.ok(err, `${user}: the subscription to a port nobody listens on failed`);
    assert.match(err.message, /could not connect to the publisher/);
    assert.doesNotMatch(`${err.message} ${err.detail ?? ''}`, new RegExp(probe), `${user}: not in the error`);
  }
  const log = await readFile(join(dirname(source.dataDir), 'postgres.log'), 'utf8');
  assert.match(log, /ERROR: .*could not connect to the publisher/, 'the failures are in the log');
  assert.doesNotMatch(log, new RegExp(probe), 'the connection string is not');
});

test('a session ended by FATAL while CREATE SUBSCRIPTION waits on its publisher: no password logged', async (t) => {
  // A publisher that accepts and never answers: CREATE SUBSCRIPTION waits in its connection until
  // the session is ended (as a newer attempt ends a superseded one's sessions, lease.ts).
  const silent = net.createServer((sock) => {
    sock.on('error', () => undefined);
    sock.resume();
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const port = (silent.address() as net.AddressInfo).port;
  const probe = `fatal-${randomBytes(9).toString('base64url')}`;
  const connection = `host=127.0.0.1 port=${port} dbname=nowhere user=someone password=${probe}`;
  await withClient({ ...source, database: 'postgres' }, (c) => c.query(`create database fatalshop`));
  try {
    const creating = withClient({ ...source, database: 'fatalshop', applicationName: 'dbmig fatal probe' }, (c) =>
      createSubscriptionSecretly(c, 'the source', 'fatal_sub', connection, 'publication p with (create_slot = false)'),
    ).then(
      () => 'created',
      (e: Error) => e.message,
    );
    const pid = await withClient({ ...source, database: 'postgres' }, async (c) => {
      for (let i = 0; ; i++) {
        const { rows } = await c.query<{ pid: number }>(
          `select pid from pg_stat_activity where application_name = 'dbmig fatal probe' and query like 'do $dbmig$%'`,
        );
        if (rows.length) return rows[0].pid;
        assert.ok(i < 200, 'CREATE SUBSCRIPTION never started');
        await sleep(50);
      }
    });
    await withClient({ ...source, database: 'postgres' }, (c) => c.query('select pg_terminate_backend($1)', [pid]));
    t.diagnostic(`ended by FATAL: ${await creating}`);
  } finally {
    await new Promise<void>((r) => silent.close(() => r()));
  }
  const log = await readFile(join(dirname(source.dataDir), 'postgres.log'), 'utf8');
  assert.match(log, /FATAL: .*terminating connection due to administrator command/, 'the FATAL is in the log');
  assert.doesNotMatch(log, new RegExp(probe), 'the connection string is not');
});
