// Issue 8, point 10, P1: the cutover's write-block window under a realistic write load. Each
// cutover gets its own fresh source database (items from fleet.ts plus an accounts table, a few
// thousand rows) and its own migration, driven through the LocalPlatform API in the workflow's
// order (provisionTarget → reserveCapacity → createMigrationJob → verifyMigrationJob →
// startMigrationJob → CDC with lag under the cutover's 1 s → cutover). Next to each, in the same
// process and alternately, the baseline: the same fenced protocol done by hand with plain SQL
// (bench/hand.ts sets up replication), so the ratio survives a noisy machine where absolute
// times do not. Prints tables; asserts nothing.
// dbmig migrates as a non-superuser migration user on a PostgreSQL 16 source, made as an operator
// makes one (test/helpers/migration-user.ts, docs/local-platform.md): the source database is owned
// by an application owner role, PUBLIC's CONNECT revoked and granted to the writers' role by that
// owner, so the close revokes as another grantor and ends another role's sessions, as in a real
// move. The hand path, the protocol's floor, runs as the superuser on a database left as created.
//   npm run bench:cutover -- [CUTOVERS=20] [--writers 4] [--rate 600] [--rows 5000] [--no-hand]
//
// What each row reports (all times Date.now() in this process, as the job record's are):
//   W/S           commits per second the writers achieved in the steady window before the cutover.
//   BASE_GAP      the longest gap between consecutive commits (all writers merged) in that window:
//                 the noise floor of the stall measure on this machine, with no cutover at all.
//   GATE          cutover called → LOCK requested: connections and checks before anything is
//                 blocked (not part of the block).
//   WRITE_BLOCK   the platform's own CutoverResult.writeBlockMs: from the job record's block.startedAt
//                 (taken just before the fence session connects and locks) to switched.at (the target
//                 takes writes), as cutover.ts defines them. For the hand path: LOCK → subscription off.
//   CLIENT_STALL  the block as the writers saw it: the longest time without a commit on the source,
//                 from 1 s before the cutover up to the moment the first writer was told its write
//                 failed. Why that end, not "the next commit": a write queued behind the lock never
//                 commits on the source (the close ends its session and rolls it back), and the
//                 source is closed for good after, so the longest commit gap would be unbounded.
//                 The error is the first thing the application learns; until then it just hangs.
//   APP_OUTAGE    the last commit on the source → the first commit on the target, the writers being
//                 pointed at the target the moment the cutover call returns: what an application
//                 that waits for the cutover sees (it includes dbmig removing replication).
//   FAILED        write attempts that failed between the LOCK and the close (counting stops when the
//                 source closes: after it, refused reconnects only measure the retry policy).
//   LATE_OK       commits on the source after the first failure: sessions that reconnected while
//                 the close was uncommitted, let through when the lock went, carried by the final drain.
//   DRAIN/CLOSE/SWITCH/RETURN  the block's parts: LOCK → target has the fence; → source closed
//                 (committed); → the target takes writes; → the cutover call returned.
// A last table splits dbmig's cutover by its progress messages (cutover.ts), whatever they are.
import { randomBytes, randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { LocalPlatform } from '../activities/platforms/local';
import { connect, withClient, type ConnectionParams } from '../activities/engines/postgres/sessions';
import { type ClusterInfo } from '../activities/platforms/local/clusters';
import { JobRecords } from '../activities/platforms/local/job-record-file';
import { compareTables } from '../activities/engines/postgres/validate';
import type { DatabaseTask } from '../activities/steps';
import { table } from '../cli/format';
import { resourceNames } from '../common/naming';
import { effectiveSettings } from '../common/plan-settings';
import { validatePlan } from '../common/plan';
import { createSourceDatabase, planFor } from '../test/fixtures/fleet';
import { createMigrationUser, handOver, type MigrationUser } from '../test/helpers/migration-user';
import { copySchema, createDatabase, publishAndSubscribe, subscriptionTables } from './hand';
import {
  addAccountsTable,
  APP_ROLE,
  dropDatabase,
  ensureAppRole,
  grantIn,
  maxGap,
  ms,
  percentile,
  sleep,
  WriteLoad,
  type Attempt,
  type LoadOptions,
  params,
  type Env,
} from './load';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    writers: { type: 'string', default: '4' },
    rate: { type: 'string', default: '600' },
    rows: { type: 'string', default: '5000' },
    'no-hand': { type: 'boolean', default: false },
  },
});
const CUTOVERS = Number(positionals[0] ?? 20);
const ROWS = Number(values.rows);
const LOAD: LoadOptions = { connections: Number(values.writers), ratePerSec: Number(values.rate), keyRange: ROWS };
const HAND = !values['no-hand'];
/** The issue's floor for a realistic load. */
const MIN_RATE = 500;
/** The steady window before each cutover: writes/s and the noise floor are measured in it. */
const STEADY_MS = 3_000;
/** The cutover gate's default (common/plan-defaults.ts CUTOVER_DEFAULTS.maxLagSeconds): start only under it. */
const READY_LAG_S = 1;
const STATE_DIR = '/tmp/bench-p1';
/** The first source on which a non-superuser may create the reverse subscription (pg_create_subscription). */
const SOURCE_VERSION = 16;
/** The role that owns dbmig's source databases; the migration user is a member. */
const OWNER = 'bench_owner';
const APP_PASSWORD = randomBytes(12).toString('base64url');
/** The application's tables: what both cutovers lock and what the final check compares. */
const APP_TABLES = ['public.accounts', 'public.items'];

type Path = 'dbmig' | 'hand';

/** Moments of one cutover (ms since the epoch); a missing one prints as '-'. */
interface Timeline {
  called: number;
  lock?: number;
  drained?: number;
  closed?: number;
  switched?: number;
  returned: number;
}

interface Sample {
  path: Path;
  run: number;
  writesPerSec: number;
  baseGap: number;
  gate?: number;
  writeBlock?: number;
  clientStall?: number;
  appOutage?: number;
  failed?: number;
  lateOk?: number;
  drain?: number;
  close?: number;
  switch?: number;
  ret?: number;
  final: string;
  error?: string;
  /** dbmig: each progress step of the cutover and the ms until the next one (the last: until it returned). */
  steps?: { label: string; ms: number }[];
}

const appParams = (c: ClusterInfo, database: string): ConnectionParams => ({
  ...params(c, database),
  user: APP_ROLE,
  password: APP_PASSWORD,
});

async function until(what: string, check: () => Promise<boolean>, everyMs: number, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** fleet.ts's `items` (bigserial, ROWS rows) plus `accounts`, readable and writable by the app role. */
async function prepareSource(env: Env, name: string, extra?: (c: pg.Client) => Promise<unknown>): Promise<void> {
  await createSourceDatabase(env.source, { name, rows: ROWS, priority: 'high', sizeGb: 10 });
  await withClient(params(env.source, name), async (c) => {
    await addAccountsTable(c);
    await extra?.(c);
    await c.query('analyze');
    await grantIn(c);
  });
}

/** Final check of the application's tables, after removing what the moved writers wrote on the target. */
async function finalCheck(env: Env, name: string): Promise<string> {
  await withClient(params(env.target, name), (t) => t.query(`delete from items where sku = 'post-cutover'`));
  const result = await withClient(params(env.source, name), (s) =>
    withClient(params(env.target, name), (t) => compareTables(s, t, APP_TABLES, 'final')),
  );
  return result.ok ? 'equal' : result.summary;
}

/** After the cutover call returned: point the writers at the target, wait for a commit of each there. */
async function moveWriters(load: WriteLoad, env: Env, name: string): Promise<void> {
  load.moveTo(params(env.target, name));
  await load.untilAllCommitted('target', 5_000);
  await load.stop();
}

/** A progress message without what varies between runs (tokens, counts, the detail after a colon). */
function stepLabel(step: string): string {
  return step
    .split(':')[0]
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '')
    .replace(/\d+/g, 'N')
    .trim()
    .slice(0, 60);
}

function measure(path: Path, run: number, attempts: Attempt[], tl: Timeline): Omit<Sample, 'final'> {
  const src = attempts.filter((a) => a.where === 'source');
  const okEnds = src.filter((a) => a.ok).map((a) => a.end);
  const steady = okEnds.filter((e) => e >= tl.called - STEADY_MS && e < tl.called);
  const lock = tl.lock ?? tl.called;
  const failures = src.filter((a) => !a.ok && a.end >= lock).map((a) => a.end);
  const firstFailure = failures.length ? Math.min(...failures) : (tl.closed ?? tl.returned);
  const before = okEnds.filter((e) => e >= tl.called - 1_000 && e <= firstFailure);
  const lastOk = Math.max(...okEnds.filter((e) => e <= firstFailure));
  const targetOk = attempts.filter((a) => a.where === 'target' && a.ok).map((a) => a.end);
  const closed = tl.closed ?? tl.switched ?? tl.returned;
  const diff = (a?: number, b?: number) => (a === undefined || b === undefined ? undefined : b - a);
  return {
    path,
    run,
    writesPerSec: steady.length / (STEADY_MS / 1000),
    baseGap: maxGap(steady),
    gate: diff(tl.called, tl.lock),
    writeBlock: diff(tl.lock, tl.switched),
    clientStall: maxGap([...before, firstFailure]),
    appOutage: targetOk.length ? Math.min(...targetOk) - lastOk : undefined,
    failed: failures.filter((e) => e <= closed).length,
    lateOk: okEnds.filter((e) => e > firstFailure).length,
    drain: diff(tl.lock, tl.drained),
    close: diff(tl.drained, tl.closed),
    switch: diff(tl.closed, tl.switched),
    ret: diff(tl.switched, tl.returned),
  };
}

// ── dbmig ────────────────────────────────────────────────────────────────────────────────────

async function dbmigRun(env: Env & { migrator: MigrationUser }, run: number): Promise<Sample> {
  const { platform } = env;
  const name = `cw_${env.tag}_d${run}`;
  const migrationId = `p1-${env.tag}-${run}`;
  await prepareSource(env, name);
  await handOver(env.source, name, { owner: OWNER, apps: [APP_ROLE], migrator: env.migrator.user });
  const plan = validatePlan(
    planFor(
      { ...env.source, user: env.migrator.user },
      [{ name, rows: ROWS, priority: 'high', sizeGb: 10 }],
      `env:${env.migrator.env}`,
      { migrationId },
    ),
  );
  const task: DatabaseTask = {
    migrationId,
    platform: 'local',
    database: plan.databases[0],
    settings: effectiveSettings(plan, plan.databases[0]),
  };
  const recordFile = join(STATE_DIR, 'jobs', `${resourceNames(migrationId, name).job}.json`);
  const load = new WriteLoad(appParams(env.source, name), LOAD);
  try {
    await platform.provisionTarget(task);
    await platform.reserveCapacity(task);
    await platform.createMigrationJob(task);
    const problems = await platform.verifyMigrationJob(task);
    if (problems.length) throw new Error(`verifyMigrationJob: ${problems.join('; ')}`);
    await platform.startMigrationJob(task);
    await platform.copyInitialData?.(task, () => undefined); // as waitForFullDump does
    await until(
      'CDC with low lag',
      async () => {
        const s = await platform.getReplicationStatus(task);
        return s.phase === 'CDC' && s.lagSeconds !== null && s.lagSeconds <= READY_LAG_S;
      },
      200,
    );
    await sleep(STEADY_MS);
    const steps: { at: number; step: string }[] = [];
    const called = Date.now();
    const cut = await platform.cutover(task, (step) => steps.push({ at: Date.now(), step }));
    const returned = Date.now();
    await moveWriters(load, env, name);
    const rec = await new JobRecords(recordFile).read();
    // The progress messages name the steps (cutover.ts); a renamed step prints as '-'.
    const at = (prefix: string) => steps.find((s) => s.step.startsWith(prefix))?.at;
    const tl: Timeline = {
      called,
      lock: rec.block?.startedAt,
      drained: at('carrying sequences under the block'),
      closed: at('ending sessions that connected'),
      switched: rec.switched?.at,
      returned,
    };
    const sample = measure('dbmig', run, load.attempts, tl);
    sample.steps = steps.map((x, i) => ({ label: stepLabel(x.step), ms: (steps[i + 1]?.at ?? returned) - x.at }));
    if (sample.writeBlock !== cut.writeBlockMs) sample.error = `job record ${sample.writeBlock} ms`;
    return { ...sample, writeBlock: cut.writeBlockMs, final: await finalCheck(env, name) };
  } catch (err) {
    return failedRun('dbmig', run, load, err);
  } finally {
    await load.stop();
    await platform.releaseCapacity(task).catch(() => undefined);
    await dropDatabase(env.target, name);
    await dropDatabase(env.source, name);
    await rm(recordFile, { force: true });
  }
}

// ── by hand ──────────────────────────────────────────────────────────────────────────────────

/** The hand path's fence: a published table the helper session writes while the others are locked. */
const HAND_FENCE = 'public.hand_fence';
/** The hand path polls as tightly as is reasonable: it stands for the floor of the protocol. */
const HAND_POLL_MS = 5;

/** Writes a fresh token on the source and waits until the target has applied it (commit order). */
async function drain(h: pg.Client, t: pg.Client): Promise<void> {
  const token = randomUUID();
  await h.query(`insert into ${HAND_FENCE} values (1, $1) on conflict (id) do update set token = excluded.token`, [
    token,
  ]);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const { rows } = await t.query<{ token: string }>(`select token from ${HAND_FENCE} where id = 1`);
    if (rows[0]?.token === token) return;
    if (Date.now() > deadline) throw new Error('hand drain: the target did not apply the fence within 30 s');
    await sleep(HAND_POLL_MS);
  }
}

/** Ends every other client session of the database and waits until they have exited. */
async function endSessions(h: pg.Client, keep: number[]): Promise<void> {
  const { rows } = await h.query<{ pid: number }>(
    `select pid, pg_terminate_backend(pid) from pg_stat_activity
      where datname = current_database() and backend_type = 'client backend' and pid <> all($1::int[])`,
    [keep],
  );
  const pids = rows.map((r) => r.pid);
  while (pids.length) {
    const left = await h.query('select 1 from pg_stat_activity where pid = any($1::int[])', [pids]);
    if (!left.rowCount) return;
    await sleep(HAND_POLL_MS);
  }
}

/**
 * The fenced cutover with nothing but SQL: LOCK IN SHARE MODE, drain a fence, revoke CONNECT and
 * default to read-only inside the lock's transaction, end the other sessions, COMMIT (closes the
 * source and releases the lock at once), end late sessions, drain a last fence, carry the
 * sequence, stop the subscription. What dbmig adds (the gate, the job record, checks) is left out.
 */
async function handCutover(src: ConnectionParams, tgt: ConnectionParams, sub: string): Promise<Timeline> {
  const called = Date.now();
  return withClient(src, (h) =>
    withClient(tgt, async (t) => {
      const pid = async (c: pg.Client) => (await c.query<{ p: number }>('select pg_backend_pid() as p')).rows[0].p;
      const f = await connect(src);
      try {
        const [hPid, fPid] = [await pid(h), await pid(f)];
        const lock = Date.now();
        await f.query('begin');
        await f.query(`lock table ${APP_TABLES.join(', ')} in share mode`);
        await drain(h, t);
        const drained = Date.now();
        const db = pg.escapeIdentifier(src.database);
        await f.query(`revoke connect on database ${db} from public`);
        await f.query(`alter database ${db} set default_transaction_read_only = on`);
        await endSessions(h, [hPid, fPid]);
        await f.query('commit');
        const closed = Date.now();
        await endSessions(h, [hPid]);
        await drain(h, t);
        const seq = await h.query<{ v: string; called: boolean }>(
          'select last_value::text as v, is_called as called from items_id_seq',
        );
        await t.query(`select setval('items_id_seq', $1, $2)`, [seq.rows[0].v, seq.rows[0].called]);
        await t.query(`alter subscription ${pg.escapeIdentifier(sub)} disable`);
        const switched = Date.now();
        return { called, lock, drained, closed, switched, returned: switched };
      } finally {
        await f.end().catch(() => undefined);
      }
    }),
  );
}

async function handRun(env: Env, run: number): Promise<Sample> {
  const name = `cw_${env.tag}_h${run}`;
  const sub = `hand_${name}`;
  await prepareSource(env, name, (c) => c.query(`create table ${HAND_FENCE} (id integer primary key, token text)`));
  const src = params(env.source, name);
  const tgt = params(env.target, name);
  const load = new WriteLoad(appParams(env.source, name), LOAD);
  try {
    await createDatabase(tgt, name);
    await copySchema(src, tgt);
    await publishAndSubscribe(src, tgt, [...APP_TABLES, HAND_FENCE], sub);
    await withClient(tgt, (t) =>
      until(
        'every table ready',
        async () => {
          const s = await subscriptionTables(t, sub);
          return s.total > 0 && s.ready === s.total;
        },
        200,
      ),
    );
    // Low lag, the way the hand path can tell: a fence makes the round trip within the gate's 1 s.
    await withClient(src, (h) =>
      withClient(tgt, async (t) => {
        const start = Date.now();
        await drain(h, t);
        if (Date.now() - start > READY_LAG_S * 1000) throw new Error('hand: lag over 1 s before the cutover');
      }),
    );
    await sleep(STEADY_MS);
    const tl = await handCutover(src, tgt, sub);
    await moveWriters(load, env, name);
    return { ...measure('hand', run, load.attempts, tl), final: await finalCheck(env, name) };
  } catch (err) {
    return failedRun('hand', run, load, err);
  } finally {
    await load.stop();
    await dropDatabase(env.target, name);
    await dropDatabase(env.source, name);
  }
}

function failedRun(path: Path, run: number, load: WriteLoad, err: unknown): Sample {
  const ok = load.attempts.filter((a) => a.ok).length;
  return { path, run, writesPerSec: ok, baseGap: NaN, final: '-', error: (err as Error).message.slice(0, 200) };
}

// ── report ───────────────────────────────────────────────────────────────────────────────────

function runRow(s: Sample): string[] {
  return [
    String(s.run),
    s.path,
    ms(s.writesPerSec),
    ms(s.baseGap),
    ms(s.gate),
    ms(s.writeBlock),
    ms(s.clientStall),
    ms(s.appOutage),
    ms(s.failed),
    ms(s.lateOk),
    ms(s.drain),
    ms(s.close),
    ms(s.switch),
    ms(s.ret),
    s.error ? `${s.final}; ${s.error}` : s.final,
  ];
}

const RUN_HEADERS = [
  'RUN',
  'PATH',
  'W/S',
  'BASE_GAP',
  'GATE',
  'WRITE_BLOCK',
  'CLIENT_STALL',
  'APP_OUTAGE',
  'FAILED',
  'LATE_OK',
  'DRAIN',
  'CLOSE',
  'SWITCH',
  'RETURN',
  'FINAL',
];

type Metric = 'writeBlock' | 'clientStall' | 'appOutage' | 'baseGap' | 'gate';

/** Where dbmig's cutover spends its time, step by step, over every run (ms from one step to the next). */
function stepsTable(samples: Sample[]): string {
  const byLabel = new Map<string, number[]>();
  for (const s of samples) for (const x of s.steps ?? []) byLabel.set(x.label, [...(byLabel.get(x.label) ?? []), x.ms]);
  const rows = [...byLabel].map(([label, xs]) => [
    label,
    String(xs.length),
    ms(percentile(xs, 0.5)),
    ms(percentile(xs, 0.99)),
    ms(Math.max(...xs)),
  ]);
  return table(['DBMIG_CUTOVER_STEP (ms until the next step)', 'N', 'P50', 'P99', 'MAX'], rows);
}

function summary(samples: Sample[]): string {
  const metrics: Metric[] = ['writeBlock', 'clientStall', 'appOutage', 'gate', 'baseGap'];
  const rows: string[][] = [];
  const p50: Record<string, number> = {};
  for (const path of ['dbmig', 'hand'] as Path[]) {
    for (const m of metrics) {
      const xs = samples.filter((s) => s.path === path && s[m] !== undefined && !Number.isNaN(s[m])).map((s) => s[m]!);
      if (!xs.length) continue;
      p50[`${path}.${m}`] = percentile(xs, 0.5);
      rows.push([
        path,
        m,
        String(xs.length),
        ms(percentile(xs, 0.5)),
        ms(percentile(xs, 0.99)),
        ms(Math.min(...xs)),
        ms(Math.max(...xs)),
      ]);
    }
  }
  const ratios = metrics
    .filter((m) => p50[`hand.${m}`] && p50[`dbmig.${m}`] !== undefined)
    .map((m) => `${m} ${(p50[`dbmig.${m}`] / p50[`hand.${m}`]).toFixed(2)}x`);
  return (
    `${table(['PATH', 'METRIC_MS', 'N', 'P50', 'P99', 'MIN', 'MAX'], rows)}\n` +
    (ratios.length ? `ratio dbmig/hand of the p50s: ${ratios.join(', ')}\n` : '')
  );
}

async function main(): Promise<void> {
  await rm(STATE_DIR, { recursive: true, force: true });
  const platform = new LocalPlatform(STATE_DIR);
  const source = await platform.clusters.ensure('source', { version: SOURCE_VERSION });
  const env: Env & { migrator: MigrationUser } = {
    platform,
    source,
    target: await platform.clusters.ensure('fleet-target', { version: SOURCE_VERSION }),
    tag: Date.now().toString(36),
    migrator: await createMigrationUser(source, 'bench_migrator', 'DBMIG_BENCH_MIGRATOR_PASSWORD'),
  };
  await ensureAppRole(env.source, APP_PASSWORD);
  const samples: Sample[] = [];
  try {
    for (let run = 0; run < CUTOVERS; run++) {
      // Alternate which path goes first, so neither always runs on a machine the other just warmed.
      const order: Path[] = !HAND ? ['dbmig'] : run % 2 ? ['dbmig', 'hand'] : ['hand', 'dbmig'];
      for (const path of order) {
        const s = path === 'dbmig' ? await dbmigRun(env, run) : await handRun(env, run);
        samples.push(s);
        console.error(`[${new Date().toISOString()}] ${runRow(s).join(' ')}`);
      }
    }
  } finally {
    await platform.clusters.destroy('source');
    await platform.clusters.destroy('fleet-target');
    await rm(STATE_DIR, { recursive: true, force: true });
  }
  const sorted = [...samples].sort((a, b) => a.run - b.run || a.path.localeCompare(b.path));
  console.log(
    `cutover write-block window: ${CUTOVERS} cutovers per path, ${LOAD.connections} writers at ` +
      `${LOAD.ratePerSec} writes/s together, ${ROWS} + 2000 rows; times in ms`,
  );
  console.log(table(RUN_HEADERS, sorted.map(runRow)));
  console.log();
  console.log(summary(sorted));
  console.log(stepsTable(sorted));
  console.log();
  const slow = samples.filter((s) => s.writesPerSec < MIN_RATE);
  if (slow.length)
    console.log(
      `NOTE: the load generator stayed under ${MIN_RATE} writes/s in ${slow.length} run(s) ` +
        `(lowest ${ms(Math.min(...slow.map((s) => s.writesPerSec)))}/s)`,
    );
  else console.log(`load: every run reached at least ${MIN_RATE} writes/s before its cutover`);
  console.log(
    `target (issue 8): dbmig writeBlock p50 <= 100 ms, p99 <= 300 ms. Percentiles are nearest-rank: ` +
      `with ${CUTOVERS} samples p99 is the maximum` +
      (CUTOVERS < 100 ? ' (fewer than 100 samples)' : ''),
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
