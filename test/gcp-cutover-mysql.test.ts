// The gcp cutover's MySQL fence (activities/platforms/gcp/cutover/mysql.ts) against real MariaDB
// servers (Debian's mariadb-server): a source with a binary log and a target replicating from it
// with MariaDB's native replication, standing in for DMS (it applies in commit order, as DMS's
// replica does). promote() runs STOP SLAVE on the target, as DMS stops reading the source at the
// promotion; freshLag() answers from a stub. Each scenario prints the write-block window.
import assert from 'node:assert/strict';
import { after, before, describe, test, type TestContext } from 'node:test';
import mysql from 'mysql2/promise';
import { gcpCutover, type GcpCutoverDeps, type LagReading } from '../activities/platforms/gcp/cutover';
import { fenceJob, prepareSourceFence } from '../activities/platforms/gcp/cutover/fence';
import { mysqlFenceLockName } from '../activities/engines/mysql/fence';
import { writeMysqlCloseRecord } from '../activities/engines/mysql/close';
import type { ConnectionParams } from '../activities/engines/postgres/sessions';
import { MigrationError } from '../common/failures';
import { type DatabaseTask } from '../activities/steps';
import { effectiveSettings } from '../common/plan-settings';
import { validatePlan } from '../common/plan';
import { eventually } from './helpers/harness';
import { startMariadb, type MariadbServer } from './helpers/mariadb';

const PASSWORD_ENV = 'DBMIG_GCPCUT_MYSQL_PASSWORD';
const MIGRATOR = { user: 'migrator', password: 'migrator-Secret-4711' };
const APP = { user: 'app', password: 'app-Secret-4711' };
const REPL = { user: 'repl', password: 'repl-Secret-4711' };
const TIMEOUT_MS = 6_000;
process.env[PASSWORD_ENV] = MIGRATOR.password;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const isType = (err: unknown, type: string) => err instanceof MigrationError && err.type === type;

type Server = MariadbServer;

const mariadb = (args: string[]) => startMariadb(args, 'dbmig-mariadb-cut-');

async function asRoot<T = unknown>(s: Server, sql: string, values: unknown[] = []): Promise<T> {
  const c = await mysql.createConnection({ socketPath: s.socket, user: 'root' });
  try {
    const [rows] = await c.query(sql, values);
    return rows as T;
  } finally {
    await c.end();
  }
}

describe('gcp cutover, MySQL fence (MariaDB)', () => {
  let source: Server;
  let target: Server;
  const onTarget = (db: string): ConnectionParams => ({
    host: '127.0.0.1',
    port: target.port,
    ...MIGRATOR,
    database: db,
  });

  before(async () => {
    // One after the other: two bootstraps at once collide on their temporary tables in /tmp.
    source = await mariadb(['--log-bin=binlog', '--server-id=1', '--binlog-format=ROW']);
    target = await mariadb(['--server-id=2']);
    // Replication first, so everything created on the source afterwards (users, databases, fence) reaches the target.
    await asRoot(source, `CREATE USER '${REPL.user}'@'%' IDENTIFIED BY '${REPL.password}'`);
    await asRoot(source, `GRANT REPLICATION SLAVE ON *.* TO '${REPL.user}'@'%'`);
    const [first] = await asRoot<{ Log_name: string }[]>(source, 'SHOW BINARY LOGS');
    await asRoot(
      target,
      `CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = ${source.port}, MASTER_USER = '${REPL.user}', ` +
        `MASTER_PASSWORD = '${REPL.password}', MASTER_LOG_FILE = '${first.Log_name}', MASTER_LOG_POS = 4`,
    );
    await asRoot(target, 'START SLAVE');
    await asRoot(source, `CREATE USER '${MIGRATOR.user}'@'%' IDENTIFIED BY '${MIGRATOR.password}'`);
    await asRoot(source, `GRANT ALL PRIVILEGES ON *.* TO '${MIGRATOR.user}'@'%'`);
    // The application: plain DML, so read_only applies to it.
    await asRoot(source, `CREATE USER '${APP.user}'@'%' IDENTIFIED BY '${APP.password}'`);
    await asRoot(source, `GRANT SELECT, INSERT, UPDATE, DELETE ON *.* TO '${APP.user}'@'%'`);
  });

  after(async () => {
    await Promise.all([source?.stop(), target?.stop()]);
  });

  function taskFor(name: string): DatabaseTask {
    const plan = validatePlan({
      platform: 'gcp',
      gcp: {
        project: 'dbmig-cutover',
        region: 'us-central1',
        zone: 'us-central1-a',
        network: 'projects/dbmig-cutover/global/networks/migration-network',
        // cutover.timeout keeps this and 1.5 s each to close and to reopen for the promote (cutover/dms.ts).
        promoteTimeout: '1s',
      },
      cutover: { timeout: `${TIMEOUT_MS / 1000}s`, maxLagSeconds: 1 },
      databases: [
        {
          name,
          engine: 'mysql',
          priority: 'medium',
          sizeGb: 1,
          source: {
            host: '127.0.0.1',
            port: source.port,
            database: name,
            user: MIGRATOR.user,
            passwordRef: `env:${PASSWORD_ENV}`,
            access: 'direct',
          },
          target: { kind: 'cloudsql', instance: 'gcpcut-target', passwordRef: 'env:DBMIG_GCPCUT_TARGET_PASSWORD' },
        },
      ],
    });
    const database = plan.databases[0];
    return {
      migrationId: `gcpcut-${name}`,
      platform: 'gcp',
      database,
      settings: effectiveSettings(plan, database),
      gcp: plan.gcp,
    };
  }

  /** A source database with its fence (as createMigrationJob prepares it), replicating; the source writable. */
  async function replicated(name: string): Promise<DatabaseTask> {
    const task = taskFor(name);
    await asRoot(source, 'SET GLOBAL read_only = OFF');
    await asRoot(target, 'START SLAVE');
    await asRoot(source, `CREATE DATABASE ${name}`);
    await asRoot(source, `CREATE TABLE ${name}.items (id BIGINT AUTO_INCREMENT PRIMARY KEY, w INT NOT NULL)`);
    await asRoot(source, `CREATE TABLE ${name}.other (id INT PRIMARY KEY)`);
    await prepareSourceFence(task);
    await prepareSourceFence(task); // idempotent
    const job = fenceJob(task);
    for (const until = Date.now() + 30_000; ; await sleep(100)) {
      const rows = await asRoot<unknown[]>(target, `SELECT 1 FROM ${name}.dbmig_fence WHERE job = ?`, [job]).catch(
        () => [],
      );
      if (rows.length) break;
      assert.ok(Date.now() < until, `${name}: the fence row did not reach the target`);
    }
    return task;
  }

  class FakeDms {
    state = 'RUNNING';
    phase = 'CDC';
    promotes = 0;
    waits = 0;
    promoteBehaviour: 'accept' | 'fail' | 'hang' = 'accept';
    onFirstLag?: () => Promise<void>;
    private release?: () => void;
    private lagCalls = 0;

    constructor(private readonly db: string) {}

    deps(): GcpCutoverDeps {
      return {
        jobState: async () => ({ state: this.state, phase: this.phase }),
        freshLag: async (since): Promise<LagReading | undefined> => {
          if (this.lagCalls++ === 0) await this.onFirstLag?.();
          const at = new Date(since.getTime() + 100);
          return at.getTime() <= Date.now() ? { seconds: 0, sampledAt: at } : undefined;
        },
        promote: async () => {
          this.promotes++;
          // hang: DMS has not answered yet (the job still in CDC) until the test releases it.
          if (this.promoteBehaviour === 'hang') await new Promise<void>((r) => (this.release = r));
          if (this.promoteBehaviour === 'fail') throw new Error('503 Service Unavailable (before DMS accepted it)');
          await asRoot(target, 'STOP SLAVE');
          this.phase = 'PROMOTE_IN_PROGRESS';
        },
        waitPromoted: async () => {
          this.waits++;
          this.state = 'COMPLETED';
          this.phase = '';
        },
        target: onTarget(this.db),
        lagPollMs: 50,
      };
    }

    unhang(): void {
      this.release?.();
    }
  }

  /** Application sessions inserting one row per (autocommit) statement; reconnect after a kill, stop at read-only. */
  class Writers {
    committed: number[] = [];
    errors: string[] = [];
    private stop = false;
    private runs: Promise<void>[] = [];

    constructor(
      private readonly db: string,
      n: number,
    ) {
      for (let i = 0; i < n; i++) this.runs.push(this.run(i));
    }

    private async run(i: number): Promise<void> {
      while (!this.stop) {
        let c: mysql.Connection | undefined;
        try {
          c = await mysql.createConnection({ host: '127.0.0.1', port: source.port, ...APP, database: this.db });
          c.on('error', () => undefined);
          while (!this.stop) {
            const [r] = await c.query<mysql.ResultSetHeader>('INSERT INTO items (w) VALUES (?)', [i]);
            this.committed.push(r.insertId);
          }
        } catch (err) {
          const e = err as { errno?: number; message: string };
          this.errors.push(e.message);
          if (e.errno === 1290) return; // ER_OPTION_PREVENTS_STATEMENT: read-only
          await sleep(20);
        } finally {
          await c?.end().catch(() => c?.destroy());
        }
      }
    }

    async done(): Promise<void> {
      this.stop = true;
      await Promise.all(this.runs);
    }
  }

  const onTargetCount = async (db: string, ids: number[]) => {
    if (!ids.length) return 0;
    const [r] = await asRoot<{ n: number }[]>(target, `SELECT COUNT(*) AS n FROM ${db}.items WHERE id IN (?)`, [ids]);
    return Number(r.n);
  };
  const readOnly = async () =>
    Number((await asRoot<{ ro: number }[]>(source, 'SELECT @@GLOBAL.read_only AS ro'))[0].ro);
  /** One application insert: how long it took, or its error. */
  const appInsert = async (db: string): Promise<{ ms: number; error?: string }> => {
    const c = await mysql.createConnection({ host: '127.0.0.1', port: source.port, ...APP, database: db });
    const started = Date.now();
    try {
      await c.query('SET SESSION lock_wait_timeout = 3');
      await c.query('INSERT INTO items (w) VALUES (99)');
      return { ms: Date.now() - started };
    } catch (err) {
      return { ms: Date.now() - started, error: (err as Error).message };
    } finally {
      await c.end().catch(() => c.destroy());
    }
  };
  const fenceHeld = async (task: DatabaseTask) =>
    (
      await asRoot<{ id: number | null }[]>(source, 'SELECT IS_USED_LOCK(?) AS id', [
        mysqlFenceLockName(fenceJob(task)),
      ])
    )[0].id !== null;
  const report = (t: TestContext, what: string, steps: string[]) =>
    t.diagnostic(`${what}; steps: ${steps.join(' | ')}`);

  test('writers run through the cutover: every committed row is on the target, the source is read-only', async (t) => {
    const db = 'mc_writers';
    const task = await replicated(db);
    const dms = new FakeDms(db);
    const writers = new Writers(db, 4);
    await eventually('50 rows committed before the cutover', async () => writers.committed.length > 50, 60_000, 20);
    const steps: string[] = [];
    const result = await gcpCutover(task, dms.deps(), (s) => steps.push(s));
    await writers.done();
    report(t, `write-block window ${result.writeBlockMs} ms, ${writers.committed.length} rows committed`, steps);
    assert.equal(dms.promotes, 1);
    assert.equal(dms.waits, 1);
    assert.ok(writers.committed.length > 50, `writers committed ${writers.committed.length} rows`);
    assert.equal(
      await onTargetCount(db, writers.committed),
      writers.committed.length,
      'every committed row on the target',
    );
    assert.ok(result.writeBlockMs > 0 && result.writeBlockMs < TIMEOUT_MS, `block ${result.writeBlockMs} ms`);
    assert.equal(await readOnly(), 1, 'the source is read-only');
    const late = await appInsert(db);
    assert.match(late.error ?? 'wrote', /read-only/, 'a write after the cutover fails');
    assert.equal(await fenceHeld(task), false, 'no fence session is left');
    const fenceOnTarget = await asRoot<unknown[]>(
      target,
      `SELECT 1 FROM information_schema.tables WHERE table_schema = ? AND table_name = 'dbmig_fence'`,
      [db],
    );
    assert.equal(fenceOnTarget.length, 0, 'dbmig_fence is removed from the promoted target');
    // A retry past the point of no return closes (already closed) and waits: no second promote.
    const again = await gcpCutover(task, dms.deps(), (s) => steps.push(s));
    assert.equal(again.writeBlockMs, 0);
    assert.equal(dms.promotes, 1);
  });

  test('a retry past the point of no return closes a source left open', async (t) => {
    const db = 'mc_resume';
    const task = await replicated(db);
    const dms = new FakeDms(db);
    dms.phase = 'PROMOTE_IN_PROGRESS'; // the worker died after the promote's acceptance
    const steps: string[] = [];
    const result = await gcpCutover(task, dms.deps(), (s) => steps.push(s));
    report(t, `write-block window ${result.writeBlockMs} ms (retry)`, steps);
    assert.equal(dms.promotes, 0);
    assert.equal(dms.waits, 1);
    assert.equal(await readOnly(), 1);
    assert.ok(steps.some((s) => /WARNING: DMS is past the promote/.test(s)));
  });

  test('a promote DMS refuses: the source, read-only for it, is reopened; writes and replication go on', async (t) => {
    const db = 'mc_promote_fails';
    const task = await replicated(db);
    const dms = new FakeDms(db);
    dms.promoteBehaviour = 'fail';
    // These writers stop for good once they meet read-only (the close before the promote), as
    // applications told to move would: what they committed must all be on the target.
    const writers = new Writers(db, 2);
    await eventually('writers committing before the cutover', async () => writers.committed.length > 0, 60_000, 20);
    const steps: string[] = [];
    const started = Date.now();
    await assert.rejects(
      gcpCutover(task, dms.deps(), (s) => steps.push(s)),
      /DMS did not promote: the source, closed for it, was reopened after a \d+ ms block; replication runs on/,
    );
    const blocked = Date.now() - started;
    await writers.done();
    report(t, `failed cutover took ${blocked} ms (block inside it); ${writers.committed.length} rows before`, steps);
    assert.equal(dms.promotes, 1);
    assert.equal(await readOnly(), 0, 'the source is not read-only');
    const probe = await appInsert(db);
    assert.equal(probe.error, undefined);
    // Well inside the 6 s deadline a fence left behind would hold it to.
    assert.ok(probe.ms < TIMEOUT_MS / 2, `an insert took ${probe.ms} ms`);
    assert.equal(await fenceHeld(task), false, 'the fence session is gone');
    await eventually(
      'every committed row on the target, replication running',
      async () => (await onTargetCount(db, writers.committed)) === writers.committed.length,
      30_000,
      100,
    );
  });

  test('the target never shows the token: the block ends by the deadline without a promote', async (t) => {
    const db = 'mc_no_token';
    const task = await replicated(db);
    const dms = new FakeDms(db);
    // After the gate's token round trip, before the block: replication stops.
    dms.onFirstLag = async () => {
      await asRoot(target, 'STOP SLAVE');
    };
    const steps: string[] = [];
    const started = Date.now();
    const err = await gcpCutover(task, dms.deps(), (s) => steps.push(s)).catch((e: unknown) => e);
    const took = Date.now() - started;
    report(t, `no token: the cutover gave up after ${took} ms`, steps);
    assert.ok(isType(err, 'CutoverTimedOut'), String(err));
    assert.match((err as Error).message, /writes were restored after a (\d+) ms block/);
    const block = Number(/after a (\d+) ms block/.exec((err as Error).message)![1]);
    t.diagnostic(`write-block window ${block} ms (deadline ${TIMEOUT_MS} ms)`);
    assert.ok(block <= TIMEOUT_MS, `blocked ${block} ms`);
    assert.equal(dms.promotes, 0);
    assert.equal(await readOnly(), 0);
    const probe = await appInsert(db);
    assert.equal(probe.error, undefined);
    assert.equal(await fenceHeld(task), false);
  });

  test('a promote answered after the deadline: the source stays read-only until then, nothing is lost', async (t) => {
    const db = 'mc_hang';
    const task = await replicated(db);
    const dms = new FakeDms(db);
    dms.promoteBehaviour = 'hang';
    const writers = new Writers(db, 2);
    await eventually('writers committing before the cutover', async () => writers.committed.length > 0, 60_000, 20);
    const steps: string[] = [];
    const cut = gcpCutover(task, dms.deps(), (s) => steps.push(s));
    try {
      while (!dms.promotes) await sleep(20);
      // wait_timeout (whole seconds) drops the idle fence session at the deadline; read_only stays.
      const until = Date.now() + TIMEOUT_MS + 5_000;
      while ((await fenceHeld(task)) && Date.now() < until) await sleep(100);
      assert.equal(await fenceHeld(task), false, 'the block ended at its deadline');
      const probe = await appInsert(db);
      assert.match(probe.error ?? 'wrote', /read-only/, 'no write lands while DMS has not answered');
      assert.equal(dms.phase, 'CDC', 'DMS has not answered yet');
    } finally {
      dms.unhang();
    }
    const result = await cut;
    await writers.done();
    report(t, `write-block window ${result.writeBlockMs} ms with a promote answered after the deadline`, steps);
    assert.ok(
      steps.some((s) => /WARNING: DMS has not answered the promote by the deadline/.test(s)),
      steps.join(' | '),
    );
    assert.equal(await readOnly(), 1, 'read-only for good once DMS promoted');
    assert.equal(await onTargetCount(db, writers.committed), writers.committed.length, 'every committed row there');
  });

  test('a resumed attempt, the source closed for a promote DMS did not make: reopened, then cut over', async (t) => {
    const db = 'mc_resume_refused';
    const task = await replicated(db);
    const dms = new FakeDms(db);
    // What an attempt that died waiting for DMS's answer leaves: its close record, the source read-only.
    const c = await mysql.createConnection({ socketPath: source.socket, user: 'root', database: db });
    try {
      await writeMysqlCloseRecord(c, fenceJob(task), { at: Date.now() - 5_000, readOnly: false, superReadOnly: null });
    } finally {
      await c.end();
    }
    await asRoot(source, 'SET GLOBAL read_only = ON');
    const steps: string[] = [];
    const result = await gcpCutover(task, dms.deps(), (s) => steps.push(s));
    report(t, `resumed: block ${result.writeBlockMs} ms`, steps);
    const reopened = steps.findIndex((s) => /DMS did not promote: the source is reopened/.test(s));
    const blocked = steps.findIndex((s) => s.startsWith('blocking writes'));
    assert.ok(reopened >= 0 && blocked > reopened, steps.join(' | '));
    assert.equal(dms.promotes, 1, "this attempt's own promote");
    assert.equal(await readOnly(), 1, 'closed again by this cutover');
    assert.ok(result.writeBlockMs > 0);
  });
});
