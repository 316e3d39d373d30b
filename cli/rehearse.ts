// `dbmig rehearse --plan FILE [--sample PCT] [--keep]`: the whole plan, run against copies of its
// sources, on this machine, before anything touches production.
//   1. copy   each source's schema and all (or PCT %) of its rows, as of one snapshot, into an
//             embedded cluster at the source's major, one per source server (rehearsal-copy.ts):
//             read-only on the source
//   2. run    the plan, rewritten to point at the copies (platform local, embedded targets at the
//             plan's versions, approval auto, no cutover window, no notifications), on a private
//             Temporal dev server and an in-process worker, under a synthetic write load on the
//             copies (rehearsal-load.ts)
//   3. report per database: the assessment's findings, the copy rate and the copy time
//             extrapolated to the source's real size, CDC lag, the write-block window, validation
//   4. record whether it passed, keyed by the plan's hash (rehearsal-record.ts): the plan's
//             policy.requireRehearsal reads it at `dbmig start`
// The real sources are only read; their passwords stay in this process, as a worker's do.
import { createHash } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Worker } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { LocalPlatform } from '../activities/platforms/local';
import { defaultStateDir } from '../activities/platforms/local/clusters';
import { withClient, type ConnectionParams } from '../activities/engines/postgres/sessions';
import { EMBEDDED_MAJORS } from '../activities/platforms/local/embedded-servers';
import { serverVersion } from '../activities/engines/postgres/server-version';
import type { Finding } from '../activities/steps';
import { sourcePassword } from '../activities/secrets';
import { getStatus, startMigration } from '../client/client';
import { loadPlan } from '../client/plan-file';
import { formatDuration } from '../common/durations';
import { effectiveSettings } from '../common/plan-settings';
import { type Plan, type PlanInput } from '../common/plan';
import { startDevServer } from '../worker/dev-server';
import { createMigrationWorker } from '../worker/worker';
import { copySource, freshDatabase, type CopyStats } from './rehearsal-copy';
import { rehearsalReport, type RehearsalRow } from './rehearsal-report';
import { planHash, recordRehearsal } from './rehearsal-record';
import { SyntheticLoad } from './rehearsal-load';
import { databaseRates, type PhaseTimes } from './rehearsal-rates';
import { stepTimes, type StepTimes } from './rehearsal-steps';
import { childWorkflowId } from '../common/naming';

export interface RehearseOptions {
  samplePct?: number;
  keep?: boolean;
  log?: (line: string) => void;
  /** How long the whole run may take before it is abandoned (default 2 h). */
  timeoutMs?: number;
}

const TASK_QUEUE = 'dbmig-rehearsal';
const passwordEnv = (i: number) => `DBMIG_REHEARSAL_COPY_${i}_PASSWORD`;

/** The plan with its sources pointed at the copies: nothing in it reaches a real server. */
function rehearsalPlan(plan: Plan, copies: ConnectionParams[], id: string): PlanInput {
  return {
    migrationId: id,
    platform: 'local',
    concurrency: plan.concurrency,
    approval: { policy: 'auto' },
    defaults: plan.defaults,
    ...(plan.cutover
      ? { cutover: { ...plan.cutover, reverseReplicationFor: '0s' } }
      : { cutover: { reverseReplicationFor: '0s' } }),
    databases: plan.databases.map((d, i) => ({
      ...d,
      source: {
        ...d.source,
        host: copies[i].host,
        port: copies[i].port,
        user: copies[i].user,
        passwordRef: `env:${passwordEnv(i)}`,
      },
      // Every target is an embedded cluster: an existing server is no place for a rehearsal.
      target: {
        kind: 'cloudsql' as const,
        instance: d.target.instance,
        ...(d.target.database ? { database: d.target.database } : {}),
        ...(d.target.version ? { version: d.target.version } : {}),
      },
    })),
  };
}

/**
 * The cluster a source's copy goes into: one per source server, so databases that share a server
 * in production share one in the rehearsal, with its WAL (every logical walsender reads all of it),
 * CPU and memory, as their migrations will; a cluster per database measured them faster than
 * they ran (docs/benchmarks.md, Forecast accuracy).
 */
function copyClusterName(source: { host: string; port: number }): string {
  return `copy-${createHash('sha256').update(`${source.host}:${source.port}`).digest('hex').slice(0, 12)}`;
}

/** The major the copy runs: the source's, else the nearest newer one installed here. */
function copyMajor(sourceMajor: number): number {
  return [12, ...EMBEDDED_MAJORS].find((m) => m >= sourceMajor) ?? sourceMajor;
}

export async function rehearse(file: string, opts: RehearseOptions = {}): Promise<{ ok: boolean; report: string }> {
  const say = opts.log ?? ((line: string) => console.error(line));
  const { plan } = loadPlan(file);
  const unsupported = plan.databases.filter((d) => d.engine !== 'postgresql');
  if (unsupported.length)
    throw new Error(
      `rehearse copies PostgreSQL sources only; ${unsupported.map((d) => `${d.name} (${d.engine})`).join(', ')} ` +
        'cannot be rehearsed on the local platform',
    );
  const samplePct = opts.samplePct ?? 100;
  const id = `rehearsal-${plan.migrationId ?? 'plan'}`;
  const stateDir = join(defaultStateDir(), 'rehearsals', id);
  const platform = new LocalPlatform(stateDir);
  // An earlier --keep run's clusters are stopped before their directory goes: pg_ctl started them
  // to outlive their process, and nothing could stop them once their data directory was removed.
  await removeClusters(platform);
  await rm(stateDir, { recursive: true, force: true });
  const copies: ConnectionParams[] = [];
  const stats: CopyStats[] = [];
  const loads: SyntheticLoad[] = [];
  let env: TestWorkflowEnvironment | undefined;
  let worker: Worker | undefined;
  let running: Promise<void> | undefined;
  try {
    // The findings are the real sources' (and real target servers'): the same read-only assessment
    // a run would make. The copies would only describe themselves (always wal_level logical, a
    // superuser, free slots).
    const findings = new Map<string, Finding[]>();
    for (const d of plan.databases) {
      const task = { migrationId: id, platform: 'local' as const, database: d, settings: effectiveSettings(plan, d) };
      findings.set(d.name, (await platform.assessSource(task)).findings);
    }
    for (const [i, d] of plan.databases.entries()) {
      const real: ConnectionParams = {
        host: d.source.host,
        port: d.source.port,
        user: d.source.user,
        database: d.source.database,
        password: await sourcePassword(d.source),
      };
      const { major, text } = await withClient(real, serverVersion);
      const cluster = await platform.clusters.ensure(copyClusterName(real), { version: copyMajor(major) });
      const admin = { ...cluster, database: 'postgres' };
      await freshDatabase(admin, d.source.database);
      const copy = { ...admin, database: d.source.database };
      say(
        `${d.name}: copying PostgreSQL ${text}${samplePct < 100 ? ` (a ${samplePct}% sample)` : ''} ` +
          `into a PostgreSQL ${cluster.version} copy`,
      );
      stats.push(await copySource(real, copy, samplePct));
      copies.push(copy);
      process.env[passwordEnv(i)] = cluster.password;
    }

    const input = rehearsalPlan(plan, copies, id);

    say('starting a private Temporal dev server and a worker');
    env = await startDevServer();
    worker = await createMigrationWorker({
      connection: env.nativeConnection,
      taskQueue: TASK_QUEUE,
      platforms: { local: platform },
    });
    running = worker.run();
    for (const c of copies) loads.push(new SyntheticLoad(c));
    await startMigration(env.client, input, { taskQueue: TASK_QUEUE });

    const watch = new Map<string, PhaseTimes & { maxLag: number; readyLag?: number | null }>();
    const until = Date.now() + (opts.timeoutMs ?? 2 * 3_600_000);
    let status = await getStatus(env.client, id);
    for (;;) {
      status = await getStatus(env.client, id);
      for (const s of status.databases) {
        const w = watch.get(s.database) ?? { maxLag: 0 };
        if (s.state === 'FULL_DUMP') w.dumpAt ??= Date.now();
        if (s.state === 'CDC' && w.dumpAt) w.cdcAt ??= Date.now();
        // VALIDATING seen without CDC: catch-up ended between two polls.
        if (s.state === 'VALIDATING' && w.dumpAt) {
          w.cdcAt ??= Date.now();
          w.validatingAt ??= Date.now();
          w.readyLag ??= s.lagSeconds;
        }
        if (w.validatingAt && s.state !== 'VALIDATING') w.validatedAt ??= Date.now();
        if (s.lagSeconds !== null && ['CDC', 'VALIDATING', 'AWAITING_APPROVAL'].includes(s.state))
          w.maxLag = Math.max(w.maxLag, s.lagSeconds);
        watch.set(s.database, w);
      }
      const ended = status.databases.every((s) =>
        ['COMPLETED', 'FINALIZED', 'FAILED', 'CANCELLED', 'NEEDS_ATTENTION'].includes(s.state),
      );
      if (ended) break;
      if (Date.now() > until)
        throw new Error(`the rehearsal did not finish within ${formatDuration(opts.timeoutMs ?? 2 * 3_600_000)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    for (const l of loads) await l.stop();
    // Each step's time as the server stamped it, for the forecast (rehearsal-steps.ts).
    const steps = new Map<string, StepTimes>();
    for (const d of plan.databases) {
      const h = await env.client.workflow.getHandle(childWorkflowId(id, d.name)).fetchHistory();
      steps.set(d.name, stepTimes(h.events ?? []));
    }

    const rows: RehearsalRow[] = plan.databases.map((d, i) => {
      const s = status.databases.find((x) => x.database === d.name)!;
      const w = watch.get(d.name) ?? { maxLag: 0 };
      return {
        database: d.name,
        findings: findings.get(d.name) ?? [],
        copy: stats[i],
        fullDumpMs: w.dumpAt && w.cdcAt ? w.cdcAt - w.dumpAt : undefined,
        maxLagSeconds: s.maxLagSeconds ?? w.maxLag,
        writeBlockMs: s.writeBlockMs,
        validation: s.validation,
        state: s.state,
        lastError: s.lastError,
        loadWrites: loads[i].writes,
        loadTables: loads[i].written.size,
        loadRefused: loads[i].refused,
      };
    });
    const ok = rows.every((r) => ['COMPLETED', 'FINALIZED'].includes(r.state));
    // What policy.requireRehearsal reads at `dbmig start` (rehearsal-record.ts), keyed by the plan's hash.
    const record = {
      planHash: planHash(plan),
      ...(plan.migrationId ? { migrationId: plan.migrationId } : {}),
      passed: ok,
      finishedAt: new Date().toISOString(),
      databases: rows.map((r) => ({ name: r.database, state: r.state })),
      // What `dbmig forecast` calibrates the simulated platform with (common/forecast-calibration.ts).
      rates: plan.databases.map((d, i) => {
        const w = watch.get(d.name) ?? { maxLag: 0 };
        // The catch-up's apply rate the database measured (its summary): what apply-slow expects.
        const apply = status.databases.find((x) => x.database === d.name)?.applyBytesPerSecond;
        return {
          ...databaseRates(d.name, d.sizeGb, stats[i], w, w.readyLag),
          ...(apply ? { applyMbPerSecond: apply / 1_048_576 } : {}),
          history: steps.get(d.name),
        };
      }),
    };
    say(
      `recorded this rehearsal of plan ${record.planHash} (${ok ? 'passed' : 'failed'}) in ${recordRehearsal(record)}`,
    );
    return { ok, report: rehearsalReport(rows) };
  } finally {
    for (const l of loads) await l.stop();
    if (worker && worker.getState() === 'RUNNING') worker.shutdown();
    await running?.catch(() => undefined);
    await env?.teardown().catch(() => undefined);
    if (!opts.keep) {
      await removeClusters(platform);
      await rm(stateDir, { recursive: true, force: true });
    } else say(`kept the copies and targets under ${stateDir}`);
  }
}

async function removeClusters(platform: LocalPlatform): Promise<void> {
  const names = await readdir(join(platform.stateDir, 'clusters')).catch(() => [] as string[]);
  for (const name of names) await platform.clusters.destroy(name).catch(() => undefined);
}
