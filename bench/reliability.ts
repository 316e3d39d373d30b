// Issue 9, point 10: reliability. One database's run, with the real worker process SIGKILLed once at
// each of 12 steps, each run on its own source database and migration id; then the Temporal dev
// server (persistent: --db-filename) killed and restarted mid-CDC. Prints tables; exits 1 if a run
// did not complete, created anything twice, left anything behind, or ended with unequal rows.
//   npm run bench:reliability -- [--only cutover,validateData/final] [--rows 3000] [--no-server]
//
// The kill lands in the worst spot: worker/fault-injection.ts (DBMIG_FAULT_HOLD_AFTER) lets the
// step do its work and then holds its result, on attempt 1, after writing a marker; the bench kills
// the worker on the marker, so the effect is applied and Temporal never hears of it. A fresh
// worker (no fault) is started at once; the step is retried there after its heartbeat timeout.
// Two more points kill the worker during a step, not after it (activities/fault-pause.ts,
// DBMIG_FAULT_PAUSE_AT): cutover/close-committed, between the fence's COMMIT (the source closed)
// and the job record saying so; cutover/switching, inside the switch past the point of no return.
//
// Columns:
//   KILL_MS    marker written → SIGKILL sent (how far into the hold the kill landed).
//   RECOVERY   SIGKILL → the step's ActivityTaskCompleted on the new worker (server time): mostly the
//              step's heartbeat timeout (workflows/activity-options.ts) + its retry backoff + the step.
//   ATTEMPTS   the killed step's attempt that completed (ActivityTaskStarted.attempt): 2 expected.
//   TOTAL      workflow start → the fleet's result (the database COMPLETED; it then FINALIZES at once).
//   DUPS       things made twice: steps scheduled more than once (validateData: twice), objects of
//              the run re-created between the kill and the step's completion (publication,
//              subscription, target database: same name, new oid), more than one target database
//              marked for the migration, more than one write block in the cutover's job record.
//   LEFT       what the finished run left: slots, publications, subscriptions of the database on
//              either cluster, its capacity reservation.
//   ROWS       every table equal row for row (source vs target, all columns) after the run.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { tsToMs } from '@temporalio/common/lib/time';
import type { temporal } from '@temporalio/proto';
import { LocalPlatform } from '../activities/platforms/local';
import { withClient } from '../activities/engines/postgres/sessions';
import { type ClusterInfo } from '../activities/platforms/local/clusters';
import { table } from '../cli/format';
import { resourceNames } from '../common/naming';
import { ALL_SEARCH_ATTRIBUTES } from '../common/search-attributes';
import type { DatabaseSummary } from '../common/status';
import { findTemporalCli } from '../worker/temporal-cli';
import { HOLD_AFTER_ENV, MARKER_ENV, type FaultMarker } from '../worker/fault-injection';
import { PAUSE_AT_ENV, type PauseMarker, type PausePoint } from '../activities/fault-pause';
import { compareRowForRow, createSourceDatabase, planFor, Writer, type SourceDb } from '../test/fixtures/fleet';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

const ROOT = resolve(__dirname, '..');
const STATE_DIR = resolve(ROOT, '.local-platform', 'bench-reliability');
const PASSWORD_ENV = 'DBMIG_BENCH_SOURCE_PASSWORD';
const TASK_QUEUE = 'bench-reliability';
const TARGET = 'fleet-target';
/** Steps that change the world: scheduled once per run, whatever happened to the workers. */
const EXPECTED_SCHEDULED: Record<string, number> = {
  assessSource: 1,
  provisionTarget: 1,
  reserveCapacity: 1,
  createMigrationJob: 1,
  verifyMigrationJob: 1,
  startMigrationJob: 1,
  waitForFullDump: 1,
  waitForReplicationReady: 1,
  validateData: 2,
  cutover: 1,
  deleteMigrationJob: 1,
  releaseCapacity: 1,
  finalizeCutover: 1,
};

/** Kill points inside a step: pause points of activities/fault-pause.ts, all in the cutover. */
const DURING: PausePoint[] = ['cutover/close-committed', 'cutover/switching'];
const isDuring = (point: string): point is PausePoint => (DURING as string[]).includes(point);

/**
 * The 14 kill points: after each of 12 steps of the runbook, from assessment to the clean-up after
 * target verification, and at the two instants inside the cutover (DURING).
 */
const KILL_POINTS = [
  'assessSource',
  'provisionTarget',
  'reserveCapacity',
  'createMigrationJob',
  'verifyMigrationJob',
  'startMigrationJob',
  'waitForFullDump',
  'waitForReplicationReady',
  'validateData/live',
  'cutover',
  'validateData/final',
  'deleteMigrationJob',
  ...DURING,
];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const secs = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => ok(port));
    });
  });
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number, everyMs = 200): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${secs(timeoutMs)} waiting for ${what}`);
    await sleep(everyMs);
  }
}

async function stopProcess(p: ChildProcess, signal: NodeJS.Signals, graceMs = 15_000): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill(signal);
  if (await Promise.race([exited.then(() => true), sleep(graceMs).then(() => false)])) return;
  p.kill('SIGKILL');
  await exited;
}

class DevServerExited extends Error {}

/** The dev server with a persistent store: the same file and port after a restart. */
class DevServer {
  proc?: ChildProcess;
  readonly address: string;
  constructor(
    readonly port: number,
    readonly dbFile: string,
    readonly logFile: string,
  ) {
    this.address = `127.0.0.1:${port}`;
  }

  async start(): Promise<void> {
    const cli = findTemporalCli().path;
    const attrs = ALL_SEARCH_ATTRIBUTES.flatMap((k) => ['--search-attribute', `${k.name}=Keyword`]);
    const argv = ['server', 'start-dev', '--db-filename', this.dbFile, '--port', String(this.port), '--headless'];
    const log = openSync(this.logFile, 'a');
    const proc = spawn(cli, [...argv, '--ip', '127.0.0.1', '--log-level', 'warn', ...attrs], {
      stdio: ['ignore', log, log],
    });
    this.proc = proc;
    // A server that exits (its port taken since it was picked) is not waited for a minute.
    const exited = new Promise<never>((_, fail) =>
      proc.once('exit', (code) => fail(new DevServerExited(`the dev server exited (${code}); see ${this.logFile}`))),
    );
    exited.catch(() => undefined);
    const ready = until(
      'the dev server',
      async () => {
        const c = await Connection.connect({ address: this.address, connectTimeout: 1_000 });
        try {
          await c.workflowService.describeNamespace({ namespace: 'default' });
          return true;
        } finally {
          await c.close();
        }
      },
      60_000,
      250,
    );
    await Promise.race([ready, exited]);
    if (proc.exitCode !== null || proc.signalCode !== null) throw new DevServerExited('the dev server exited');
  }

  async kill(): Promise<void> {
    if (this.proc) await stopProcess(this.proc, 'SIGKILL');
  }
}

export interface World {
  stateDir: string;
  /** Rows of `items` per source database (the key-less `movements` gets a quarter as many). */
  rows: number;
  server: DevServer;
  client: Client;
  platform: LocalPlatform;
  source: ClusterInfo;
  tag: string;
  /** Whether worker/worker.ts installs the fault interceptor itself (then the real `dbmig worker` runs). */
  workers: ChildProcess[];
}

let workerSeq = 0;
function spawnWorker(w: World, fault?: { spec: string; marker: string }): ChildProcess {
  const during = fault && isDuring(fault.spec);
  const entry = [join(ROOT, 'cli', 'main.ts'), 'worker'];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TEMPORAL_ADDRESS: w.server.address,
    TEMPORAL_NAMESPACE: 'default',
    TEMPORAL_TASK_QUEUE: TASK_QUEUE,
    DBMIG_STATE_DIR: w.stateDir,
    DBMIG_METRICS_ADDRESS: 'off',
  };
  delete env[HOLD_AFTER_ENV];
  delete env[MARKER_ENV];
  delete env[PAUSE_AT_ENV];
  if (fault) Object.assign(env, { [during ? PAUSE_AT_ENV : HOLD_AFTER_ENV]: fault.spec, [MARKER_ENV]: fault.marker });
  const log = openSync(join(w.stateDir, `worker-${++workerSeq}.log`), 'a');
  const child = spawn(process.execPath, ['--import', 'tsx', ...entry], { env, stdio: ['ignore', log, log] });
  w.workers.push(child);
  return child;
}

function planOf(w: World, db: SourceDb, stableWindow: string) {
  return planFor(w.source, [db], `env:${PASSWORD_ENV}`, {
    concurrency: 1,
    approval: { policy: 'auto', timeout: '1h' },
    defaults: { lagThresholdSeconds: 5, stableWindow, noPrimaryKey: 'fail' },
    cutover: { reverseReplicationFor: '0s' },
  });
}

/** The objects of one run, keyed by what they are, valued by their identity (oid) where PostgreSQL has one. */
async function objectsOf(w: World, migrationId: string, db: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const base = resourceNames(migrationId, db).job;
  const onCluster = async (side: string, c: ClusterInfo) => {
    await withClient({ ...c, database: 'postgres' }, async (q) => {
      const slots = await q.query<{ n: string }>(
        `select slot_name as n from pg_replication_slots where database = $1 or slot_name like $2`,
        [db, `${base}%`],
      );
      for (const r of slots.rows) out.set(`${side} slot ${r.n}`, '-');
      const subs = await q.query<{ n: string; oid: number }>(
        `select s.subname as n, s.oid::int from pg_subscription s join pg_database d on d.oid = s.subdbid
          where d.datname = $1 or s.subname like $2`,
        [db, `${base}%`],
      );
      for (const r of subs.rows) out.set(`${side} subscription ${r.n}`, String(r.oid));
      const dbs = await q.query<{ n: string; oid: number; c: string | null }>(
        `select datname as n, oid::int, shobj_description(oid, 'pg_database') as c from pg_database`,
      );
      for (const r of dbs.rows) {
        if (side === 'target' && (r.n === db || (r.c ?? '').startsWith(`dbmig migration=${migrationId} `)))
          out.set(`target database ${r.n}`, String(r.oid));
      }
      if (!dbs.rows.some((r) => r.n === db)) return;
      await withClient({ ...c, database: db }, async (d) => {
        const pubs = await d.query<{ n: string; oid: number }>(`select pubname as n, oid::int from pg_publication`);
        for (const r of pubs.rows) out.set(`${side} publication ${r.n}`, String(r.oid));
      });
    });
  };
  await onCluster('source', w.source);
  const target = await w.platform.clusters.info(TARGET);
  if (target) await onCluster('target', target);
  const held = await w.platform.capacity.held();
  if (held[`${base}_cap`]) out.set(`capacity ${base}_cap`, '-');
  return out;
}

/** Objects present both times under a new identity: dropped and made again. */
export function recreated(before: Map<string, string>, after: Map<string, string>): string[] {
  return [...before]
    .filter(([k, id]) => id !== '-' && after.has(k) && after.get(k) !== id)
    .map(([k]) => `${k} re-created`);
}

export interface RunResult {
  /** The database's state in the fleet's report. */
  state: string;
  /** The database workflow's own end state: FINALIZED (reverseReplicationFor 0s) after COMPLETED. */
  end: string;
  total: number;
  scheduled: Map<string, number>;
  history: HistoryEvent[];
  dups: string[];
  left: string[];
  rowsEqual: boolean;
  rowsNote: string;
}

function countScheduled(events: HistoryEvent[]): Map<string, number> {
  const n = new Map<string, number>();
  for (const e of events) {
    const name = e.activityTaskScheduledEventAttributes?.activityType?.name;
    if (name) n.set(name, (n.get(name) ?? 0) + 1);
  }
  return n;
}

/** The scheduled event of `activityId`, and its completion (time, attempt) once there. */
function stepOutcome(events: HistoryEvent[], activityId: string) {
  const scheduled = events.find((e) => e.activityTaskScheduledEventAttributes?.activityId === activityId);
  if (!scheduled) return undefined;
  const id = String(scheduled.eventId);
  const started = events.find((e) => String(e.activityTaskStartedEventAttributes?.scheduledEventId) === id);
  const completed = events.find((e) => String(e.activityTaskCompletedEventAttributes?.scheduledEventId) === id);
  return {
    attempt: started?.activityTaskStartedEventAttributes?.attempt ?? undefined,
    completedAt: completed ? tsToMs(completed.eventTime) : undefined,
  };
}

/** The activity id of the cutover step in `child`'s history, once scheduled. */
async function cutoverActivityId(child: WorkflowHandle): Promise<string | undefined> {
  const events = (await child.fetchHistory()).events ?? [];
  const e = events.find((x) => x.activityTaskScheduledEventAttributes?.activityType?.name === 'cutover');
  return e?.activityTaskScheduledEventAttributes?.activityId ?? undefined;
}

/** The workflow's result, asked again while the server is away (a restart), not when the run failed. */
async function resultOf(handle: WorkflowHandle): Promise<unknown> {
  const end = Date.now() + 600_000;
  for (;;) {
    try {
      return await handle.result();
    } catch (err) {
      if (err instanceof WorkflowFailedError || Date.now() > end) throw err;
      await sleep(1_000);
    }
  }
}

/** After a run: its history, what it made twice, what it left, and whether the rows match. */
async function finish(
  w: World,
  handle: WorkflowHandle,
  migrationId: string,
  db: SourceDb,
  t0: number,
): Promise<RunResult> {
  const report = (await resultOf(handle)) as { databases: DatabaseSummary[] };
  const total = Date.now() - t0;
  // The fleet reports COMPLETED at the cutover's end; the database's workflow goes on to finalize.
  const child = w.client.workflow.getHandle(`${migrationId}/${db.name}`);
  const end = ((await resultOf(child)) as DatabaseSummary).state;
  const history = (await child.fetchHistory()).events ?? [];
  const scheduled = countScheduled(history);
  const dups: string[] = [];
  for (const [step, n] of scheduled) {
    if (n > (EXPECTED_SCHEDULED[step] ?? 1)) dups.push(`${step} scheduled ${n} times`);
  }
  const objects = await objectsOf(w, migrationId, db.name);
  const targets = [...objects.keys()].filter((k) => k.startsWith('target database'));
  if (targets.length > 1) dups.push(`${targets.length} target databases: ${targets.join(', ')}`);
  const recordFile = join(w.stateDir, 'jobs', `${resourceNames(migrationId, db.name).job}.json`);
  const record = existsSync(recordFile) ? (JSON.parse(await readFile(recordFile, 'utf8')) as { blocks?: number }) : {};
  if ((record.blocks ?? 0) > 1) dups.push(`the source was blocked ${record.blocks} times`);
  const left = [...objects.keys()].filter((k) => !k.startsWith('target database'));
  let rowsEqual = false;
  let rowsNote = '';
  const target = await w.platform.clusters.info(TARGET);
  if (target) {
    const tables = await compareRowForRow({ ...w.source, database: db.name }, { ...target, database: db.name });
    rowsEqual = tables.length > 0 && tables.every((t) => t.equal);
    rowsNote = tables.map((t) => `${t.table} ${t.sourceRows}/${t.targetRows}`).join(', ');
  }
  const state = report.databases[0]?.state ?? 'none';
  return { state, end, total, scheduled, history, dups, left, rowsEqual, rowsNote };
}

export interface KillRow {
  point: string;
  killMs: number;
  recoveryMs?: number;
  attempts?: number;
  run?: RunResult;
  error?: string;
}

export async function killRun(w: World, point: string, n: number): Promise<KillRow> {
  const db: SourceDb = {
    name: `k${String(n).padStart(2, '0')}`,
    rows: w.rows,
    priority: 'high',
    sizeGb: 20,
    noPrimaryKey: true,
  };
  const migrationId = `rel-${w.tag}-${db.name}`;
  const marker = join(w.stateDir, `marker-${db.name}.json`);
  await rm(marker, { force: true });
  await createSourceDatabase(w.source, db);
  const writer = new Writer({ ...w.source, database: db.name }, true);
  const row: KillRow = { point, killMs: NaN };
  try {
    const faulty = spawnWorker(w, { spec: point, marker });
    const t0 = Date.now();
    const handle = await w.client.workflow.start('MultiDatabaseMigration', {
      taskQueue: TASK_QUEUE,
      workflowId: migrationId,
      args: [{ plan: planOf(w, db, '2s') }],
    });
    const held = await until(
      isDuring(point) ? `the pause at ${point}` : `the hold after ${point}`,
      async () =>
        existsSync(marker) ? (JSON.parse(readFileSync(marker, 'utf8')) as FaultMarker | PauseMarker) : undefined,
      300_000,
      2,
    );
    const exited = new Promise((r) => faulty.once('exit', r));
    faulty.kill('SIGKILL');
    const killedAt = Date.now();
    row.killMs = killedAt - held.at;
    await exited;
    const atKill = await objectsOf(w, migrationId, db.name);
    spawnWorker(w);
    const child = w.client.workflow.getHandle(`${migrationId}/${db.name}`);
    // A pause marker names no activity: the killed step is the run's one cutover.
    const activityId =
      'activityId' in held ? held.activityId : await until('the cutover step', () => cutoverActivityId(child), 10_000);
    const done = await until(
      `${point} completed on the new worker`,
      async () => {
        const o = stepOutcome((await child.fetchHistory()).events ?? [], activityId);
        return o?.completedAt ? o : undefined;
      },
      300_000,
      100,
    );
    const atRecovery = await objectsOf(w, migrationId, db.name);
    row.recoveryMs = done.completedAt! - killedAt;
    row.attempts = done.attempt;
    row.run = await finish(w, handle, migrationId, db, t0);
    row.run.dups.push(...recreated(atKill, atRecovery));
  } catch (err) {
    row.error = err instanceof Error ? err.message : String(err);
  } finally {
    await stopRun(w, writer);
  }
  return row;
}

/** Ends a run's writers and workers, whatever happened to it. */
async function stopRun(w: World, writer: Writer): Promise<void> {
  writer.pause();
  await writer.stop();
  for (const p of w.workers) await stopProcess(p, 'SIGTERM');
  w.workers.length = 0;
}

interface ServerRow {
  restartAtMs: number;
  downMs: number;
  waitAttempt?: number;
  run?: RunResult;
  error?: string;
}

/** The dev server killed (SIGKILL) while the lag wait runs, restarted on the same store. */
async function serverRestartRun(w: World): Promise<ServerRow> {
  const db: SourceDb = { name: 'srv', rows: w.rows, priority: 'high', sizeGb: 20, noPrimaryKey: true };
  const migrationId = `rel-${w.tag}-${db.name}`;
  await createSourceDatabase(w.source, db);
  const writer = new Writer({ ...w.source, database: db.name }, true);
  const row: ServerRow = { restartAtMs: NaN, downMs: NaN };
  try {
    spawnWorker(w);
    const t0 = Date.now();
    // A longer stable window, so the restart lands inside the lag wait.
    const handle = await w.client.workflow.start('MultiDatabaseMigration', {
      taskQueue: TASK_QUEUE,
      workflowId: migrationId,
      args: [{ plan: planOf(w, db, '20s') }],
    });
    const child = w.client.workflow.getHandle(`${migrationId}/${db.name}`);
    await until(
      'the lag wait running',
      async () => {
        const d = await child.describe();
        const running = d.raw.pendingActivities?.some(
          (a) => a.activityType?.name === 'waitForReplicationReady' && a.lastStartedTime,
        );
        return running || undefined;
      },
      300_000,
      250,
    );
    await sleep(2_000); // well inside the 20 s window
    const killedAt = Date.now();
    row.restartAtMs = killedAt - t0;
    await w.server.kill();
    await w.server.start();
    row.downMs = Date.now() - killedAt;
    row.run = await finish(w, handle, migrationId, db, t0);
    const sched = row.run.history.find(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'waitForReplicationReady',
    );
    const started = row.run.history.find(
      (e) => String(e.activityTaskStartedEventAttributes?.scheduledEventId) === String(sched?.eventId),
    );
    row.waitAttempt = started?.activityTaskStartedEventAttributes?.attempt ?? undefined;
  } catch (err) {
    row.error = err instanceof Error ? err.message : String(err);
  } finally {
    await stopRun(w, writer);
  }
  return row;
}

/**
 * The fleet's view of a database that made it: COMPLETED at the cutover's end, or FINALIZED when the
 * child's report of its (immediate, reverseReplicationFor 0s) finalize reached the parent first.
 */
export const FLEET_SUCCESS = ['COMPLETED', 'FINALIZED'];

export function ok(run: RunResult | undefined): boolean {
  return (
    !!run &&
    FLEET_SUCCESS.includes(run.state) &&
    run.end === 'FINALIZED' &&
    !run.dups.length &&
    !run.left.length &&
    run.rowsEqual
  );
}

/** A fresh state directory, a dev server on a persistent store in it, and the source cluster. */
export async function openWorld(stateDir: string, rows: number): Promise<World> {
  await rm(stateDir, { recursive: true, force: true });
  await mkdir(stateDir, { recursive: true });
  const platform = new LocalPlatform(stateDir);
  const [source, server] = await Promise.all([platform.clusters.ensure('source'), startServer(stateDir)]);
  process.env[PASSWORD_ENV] = source.password;
  const connection = await Connection.connect({ address: server.address });
  return {
    stateDir,
    rows,
    server,
    client: new Client({ connection }),
    platform,
    source,
    tag: Date.now().toString(36),
    workers: [],
  };
}

/**
 * The dev server on a port free when picked. Another process (another test suite on this machine)
 * may take it before the server binds it; the server then exits and a new port is picked.
 */
async function startServer(stateDir: string): Promise<DevServer> {
  for (let attempt = 1; ; attempt++) {
    const server = new DevServer(await freePort(), join(stateDir, 'temporal.db'), join(stateDir, 'temporal.log'));
    try {
      await server.start();
      return server;
    } catch (err) {
      await server.kill();
      if (!(err instanceof DevServerExited) || attempt >= 3) throw err;
    }
  }
}

/** Stops what the world started; the state directory goes too unless `keep` (to read the logs). */
export async function closeWorld(w: World, keep = false): Promise<void> {
  for (const p of w.workers) await stopProcess(p, 'SIGKILL');
  await w.client.connection.close();
  await w.server.kill();
  await w.platform.clusters.destroy('source').catch(() => undefined);
  await w.platform.clusters.destroy(TARGET).catch(() => undefined);
  if (!keep) await rm(w.stateDir, { recursive: true, force: true });
}

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      only: { type: 'string' },
      rows: { type: 'string', default: '3000' },
      'no-server': { type: 'boolean', default: false },
      'no-kills': { type: 'boolean', default: false },
    },
  });
  const w = await openWorld(STATE_DIR, Number(args.rows));
  const only = args.only?.split(',');
  const points = args['no-kills'] ? [] : KILL_POINTS.filter((p) => !only || only.includes(p));
  const rows: KillRow[] = [];
  let serverRow: ServerRow | undefined;
  const began = Date.now();
  try {
    for (const [i, point] of points.entries()) {
      const r = await killRun(w, point, i + 1);
      rows.push(r);
      console.error(`[${new Date().toISOString()}] ${point}: ${r.error ?? `${r.run?.state} in ${secs(r.run!.total)}`}`);
    }
    if (!args['no-server']) {
      serverRow = await serverRestartRun(w);
      console.error(`[${new Date().toISOString()}] server restart: ${serverRow.error ?? serverRow.run?.state}`);
    }
  } catch (err) {
    await closeWorld(w, true);
    throw err;
  }
  const failed = rows.filter((r) => !ok(r.run)).length + (serverRow && !ok(serverRow.run) ? 1 : 0);
  // A failed run keeps its state directory: the worker and server logs say what happened.
  await closeWorld(w, failed > 0);

  const worker = '`dbmig worker` (cli/main.ts)';
  console.log(
    `worker SIGKILLed once per run after the step's effect, before its completion was reported ` +
      `(cutover/...: inside the cutover, at that instant); ` +
      `${w.rows} + ${Math.ceil(w.rows / 4)} rows per database, writers on, stableWindow 2s, approval auto, ` +
      `reverseReplicationFor 0s; worker: ${worker}`,
  );
  const killTable = rows.map((r) => [
    r.point,
    Number.isFinite(r.killMs) ? `${r.killMs}ms` : '-',
    r.recoveryMs === undefined ? '-' : secs(r.recoveryMs),
    r.attempts === undefined ? '-' : String(r.attempts),
    r.run ? secs(r.run.total) : '-',
    r.run ? `${r.run.state}/${r.run.end}` : `ERROR: ${r.error}`,
    r.run ? String(r.run.dups.length) : '-',
    r.run ? String(r.run.left.length) : '-',
    r.run ? (r.run.rowsEqual ? 'equal' : 'DIFFER') : '-',
  ]);
  console.log(
    table(['STEP', 'KILL_MS', 'RECOVERY', 'ATTEMPTS', 'TOTAL', 'RESULT/END', 'DUPS', 'LEFT', 'ROWS'], killTable),
  );
  for (const r of rows) {
    const detail = [...(r.run?.dups ?? []), ...(r.run?.left ?? []).map((l) => `left: ${l}`)];
    if (detail.length) console.log(`  ${r.point}: ${detail.join('; ')}`);
    if (r.run && !r.run.rowsEqual) console.log(`  ${r.point}: rows ${r.run.rowsNote}`);
  }
  if (serverRow) {
    console.log();
    console.log('Temporal dev server (--db-filename) SIGKILLed and restarted during waitForReplicationReady:');
    const s = serverRow;
    console.log(
      table(
        ['RESTART_AT', 'DOWN', 'WAIT_ATTEMPT', 'TOTAL', 'RESULT/END', 'DUPS', 'LEFT', 'ROWS'],
        [
          [
            Number.isFinite(s.restartAtMs) ? secs(s.restartAtMs) : '-',
            Number.isFinite(s.downMs) ? secs(s.downMs) : '-',
            s.waitAttempt === undefined ? '-' : String(s.waitAttempt),
            s.run ? secs(s.run.total) : '-',
            s.run ? `${s.run.state}/${s.run.end}` : `ERROR: ${s.error}`,
            s.run ? String(s.run.dups.length) : '-',
            s.run ? String(s.run.left.length) : '-',
            s.run ? (s.run.rowsEqual ? 'equal' : 'DIFFER') : '-',
          ],
        ],
      ),
    );
  }
  console.log(`\nbench time ${secs(Date.now() - began)}`);
  if (failed) {
    console.log(
      `${failed} run(s) did not complete with nothing duplicated or left and equal rows (logs: ${w.stateDir})`,
    );
    process.exitCode = 1;
  }
}

if (require.main === module)
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
