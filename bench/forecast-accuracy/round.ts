// One round of the forecast's accuracy benchmark (bench/forecast-accuracy.ts): a source with five
// databases of different sizes, rehearsed, forecast, then migrated for real; both timelines read
// from the workflows' histories the same way (cli/forecast-timeline.ts).
import { readdir } from 'node:fs/promises';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withClient, type ConnectionParams } from '../../activities/engines/postgres/sessions';
import { LocalPlatform } from '../../activities/platforms/local';
import { LocalClusters } from '../../activities/platforms/local/clusters';
import { forecast } from '../../cli/forecast';
import { databaseTimeline, type DatabaseTimeline } from '../../cli/forecast-timeline';
import { rehearse } from '../../cli/rehearse';
import { readRehearsals, rehearsalResultsDir } from '../../cli/rehearsal-record';
import { stepTimes, type StepTimes } from '../../cli/rehearsal-steps';
import { getStatus, startMigration } from '../../client/client';
import { childWorkflowId } from '../../common/naming';
import type { PlanInput } from '../../common/plan';
import { startDevServer } from '../../worker/dev-server';
import { createMigrationWorker } from '../../worker/worker';
import { createSourceDatabase, planFor, Writer, type SourceDb } from '../../test/fixtures/fleet';
import { as, createMigrationUser, createRole, handOver } from '../../test/helpers/migration-user';
import type { Forecast } from '../../cli/forecast-report';

export interface RoundOptions {
  /** This round's own directory: its source, its rehearsal, its run. */
  state: string;
  /** Rows per database (one database per entry). */
  rows: number[];
  samplePct: number;
  concurrency: number;
  log: (line: string) => void;
}

export interface RoundResult {
  databases: { name: string; rows: number; sourceBytes: number }[];
  forecast: Forecast;
  actual: DatabaseTimeline[];
  /** The real run's fleet: its first event to its last database's end. */
  actualFleetMs: number;
  samplePct: number;
  /** Each step's calls and time: as the rehearsal measured them, and in the real run (to trace a miss). */
  steps: { rehearsal: Record<string, StepTimes | undefined>; actual: Record<string, StepTimes> };
  /** Real time each stage took. */
  stagesMs: { rehearse: number; forecast: number; run: number };
}

const ENDED = ['COMPLETED', 'FINALIZED', 'FAILED', 'CANCELLED', 'NEEDS_ATTENTION'];
const ID = 'forecast-bench';
const PASSWORD_ENV = 'DBMIG_BENCH_FORECAST_PASSWORD';

export async function runRound(o: RoundOptions): Promise<RoundResult> {
  const sources = new LocalClusters(join(o.state, 'sources'));
  const platform = new LocalPlatform(join(o.state, 'run'));
  try {
    o.log('a PostgreSQL 16 source with databases of ' + o.rows.join(', ') + ' rows');
    const source = await sources.ensure('production', { version: 16 });
    const migrator = await createMigrationUser(source, 'fa_migrator', PASSWORD_ENV);
    const app = await createRole(source, 'fa_app');
    // Largest first, as a platform team would order them; sizes from the server, not guessed.
    const dbs: SourceDb[] = o.rows.map((rows, i) => ({
      name: `db${i + 1}_${rows}`,
      rows,
      priority: i >= o.rows.length - 2 ? 'high' : i === 0 ? 'low' : 'medium',
      sizeGb: 0,
    }));
    const sourceBytes: number[] = [];
    for (const db of dbs) {
      await createSourceDatabase(source, db);
      await handOver(source, db.name, { owner: 'fa_owner', apps: [app.user], migrator: migrator.user });
      const bytes = await withClient({ ...source, database: db.name }, async (c) =>
        Number((await c.query('select pg_database_size(current_database()) as b')).rows[0].b),
      );
      sourceBytes.push(bytes);
      db.sizeGb = Math.max(0.001, Math.round((bytes / 1024 ** 3) * 1000) / 1000);
    }
    const input: PlanInput = planFor({ ...source, user: migrator.user }, dbs, `env:${PASSWORD_ENV}`, {
      migrationId: ID,
      concurrency: o.concurrency,
      approval: { policy: 'auto' },
      cutover: { reverseReplicationFor: '0s' },
    });
    // Each database to its own target instance, as each would have its own Cloud SQL instance.
    input.databases = input.databases.map((d, i) => ({ ...d, target: { kind: 'cloudsql', instance: `fa-${i + 1}` } }));
    const file = join(o.state, 'plan.json');
    writeFileSync(file, JSON.stringify(input, null, 2));

    let t = Date.now();
    o.log(`rehearsing the plan on a ${o.samplePct}% sample`);
    const rehearsal = await rehearse(file, { samplePct: o.samplePct, log: (l) => o.log(`rehearse: ${l}`) });
    if (!rehearsal.ok) throw new Error(`the rehearsal failed:\n${rehearsal.report}`);
    const rehearseMs = Date.now() - t;
    const measured = readRehearsals(rehearsalResultsDir()).sort((a, b) => b.finishedAt.localeCompare(a.finishedAt))[0];

    t = Date.now();
    o.log('forecasting the plan from that rehearsal');
    const f = await forecast(file, { rehearsalsDir: rehearsalResultsDir(), log: (l) => o.log(`forecast: ${l}`) });
    const forecastMs = Date.now() - t;

    t = Date.now();
    o.log('running the plan for real, under an application’s writes');
    const real = await runFleet(
      platform,
      input,
      dbs.map((d) => as({ ...source, database: d.name }, app)),
      o.log,
    );
    return {
      databases: dbs.map((d, i) => ({ name: d.name, rows: d.rows, sourceBytes: sourceBytes[i] })),
      forecast: f,
      actual: real.timelines,
      steps: {
        rehearsal: Object.fromEntries(
          dbs.map((d) => [d.name, measured?.rates?.find((r) => r.name === d.name)?.history]),
        ),
        actual: real.steps,
      },
      actualFleetMs: real.fleetMs,
      samplePct: o.samplePct,
      stagesMs: { rehearse: rehearseMs, forecast: forecastMs, run: Date.now() - t },
    };
  } finally {
    for (const c of [platform.clusters, sources]) {
      const names = await readdir(join(c.stateDir, 'clusters')).catch(() => [] as string[]);
      for (const name of names) await c.destroy(name).catch(() => undefined);
    }
  }
}

async function runFleet(
  platform: LocalPlatform,
  input: PlanInput,
  apps: ConnectionParams[],
  log: (line: string) => void,
): Promise<{ timelines: DatabaseTimeline[]; fleetMs: number; steps: Record<string, StepTimes> }> {
  const env = await startDevServer();
  const worker = await createMigrationWorker({
    connection: env.nativeConnection,
    taskQueue: 'bench-forecast',
    platforms: { local: platform },
  });
  const running = worker.run();
  const writers = apps.map((p) => new Writer(p, false, 20));
  try {
    await startMigration(env.client, input, { taskQueue: 'bench-forecast' });
    for (;;) {
      const s = await getStatus(env.client, ID);
      if (s.databases.every((d) => ENDED.includes(d.state))) {
        const bad = s.databases.filter((d) => !['COMPLETED', 'FINALIZED'].includes(d.state));
        if (bad.length)
          throw new Error(`the real run did not complete: ${bad.map((d) => `${d.database} ${d.state}`).join(', ')}`);
        break;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    const parent = await env.client.workflow.getHandle(ID).fetchHistory();
    const e0 = parent.events![0].eventTime!;
    const t0 = Number(e0.seconds) * 1000 + Math.floor((e0.nanos ?? 0) / 1e6);
    const timelines: DatabaseTimeline[] = [];
    const steps: Record<string, StepTimes> = {};
    for (const d of input.databases) {
      const h = await env.client.workflow.getHandle(childWorkflowId(ID, d.name)).fetchHistory();
      timelines.push(databaseTimeline(d.name, h.events ?? [], t0, 1));
      steps[d.name] = stepTimes(h.events ?? []);
    }
    const writes = writers.reduce((a, w) => a + w.writes, 0);
    log(`the run's writers made ${writes} transactions`);
    return { timelines, fleetMs: Math.max(...timelines.map((x) => x.endMs)), steps };
  } finally {
    for (const w of writers) await w.stop();
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await running.catch(() => undefined);
    await env.teardown().catch(() => undefined);
  }
}
