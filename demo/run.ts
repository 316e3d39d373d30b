// `npm run demo [-- --keep | --manual]`: a dev server with its UI, a worker, three real source databases under
// continuous writes, a migration approved by an "application" through the Update, writers moved
// to the targets after cutover, and a summary table. Exits 0 only if every database completed
// and every target equals its source row for row.
import { DEFAULT_TASK_QUEUE } from '../common/naming';
import { rm, mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, type Worker } from '@temporalio/worker';
import net from 'node:net';
import { LocalPlatform } from '../activities/platforms/local';
import type { ClusterInfo } from '../activities/platforms/local/clusters';
import {
  approveCutover,
  cancelDatabase,
  getStatus,
  RefusedError,
  startMigration,
  waitForReport,
} from '../client/client';
import { table } from '../cli/format';
import { formatDuration } from '../common/durations';
import type { DatabaseSummary } from '../common/status';
import { startDevServer } from '../worker/dev-server';
import { createMigrationWorker } from '../worker/worker';
import { prometheusExporter } from '../worker/metrics-exporter';
import {
  compareRowForRow,
  createSourceDatabase,
  DEMO_FLEET,
  planFor,
  Writer,
  type SourceDb,
  type TableComparison,
} from '../test/fixtures/fleet';

const TASK_QUEUE = DEFAULT_TASK_QUEUE;
const PASSWORD_ENV = 'DBMIG_DEMO_SOURCE_PASSWORD';
const MANUAL = process.argv.includes('--manual');
const t0 = Date.now();
const say = (line: string) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${line}`);

const describeSourceDb = (d: SourceDb) => `${d.name} (${d.rows} rows${d.noPrimaryKey ? ', no primary key' : ''})`;

interface Parts {
  env?: TestWorkflowEnvironment;
  worker?: Worker;
  running?: Promise<void>;
  platform?: LocalPlatform;
  writers: Map<string, Writer>;
}
const parts: Parts = { writers: new Map() };

/** Each step is bounded: a step that hangs must not keep the others (the clusters) running. */
async function bounded(what: string, p: Promise<unknown> | undefined, ms = 15_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise((r) => (timer = setTimeout(() => r(say(`${what}: gave up after ${ms} ms`)), ms)));
  await Promise.race([Promise.resolve(p).catch((err) => say(`${what}: ${err}`)), timeout]);
  clearTimeout(timer);
  if (process.env.DBMIG_DEMO_DEBUG) say(`${what}: stopped`);
}

let stopped: Promise<void> | undefined;
let following: Promise<void> | undefined;
function shutdown(): Promise<void> {
  stopped ??= (async () => {
    // No gRPC call may be in flight when the connection closes, or teardown fails before it
    // stops the server.
    await bounded('status polling', following, 5_000);
    await bounded('writers', Promise.all([...parts.writers.values()].map((w) => w.stop())), 5_000);
    if (parts.worker?.getState() === 'RUNNING') parts.worker.shutdown();
    await bounded('worker', parts.running);
    await bounded('Temporal dev server', parts.env?.teardown());
    await bounded('clusters', Promise.all(['source', 'fleet-target'].map((c) => parts.platform?.clusters.stop(c))));
  })();
  return stopped;
}

async function main(): Promise<number> {
  const keep = process.argv.includes('--keep') || MANUAL;
  const stateDir = resolve('.local-platform', 'demo');
  await rm(stateDir, { recursive: true, force: true });
  parts.platform = new LocalPlatform(stateDir);

  // Before any connection: SDK logs at WARN, SDK and migration metrics on a Prometheus endpoint.
  Runtime.install({
    logger: new DefaultLogger('WARN'),
    telemetryOptions: { metrics: prometheusExporter('127.0.0.1:9464') },
  });
  const port = (await portFree(7233)) ? 7233 : undefined;
  const uiPort = (await portFree(8233)) ? 8233 : undefined;
  say(
    `starting the Temporal dev server (UI on ${uiPort ? 'http://localhost:8233' : 'a free port'}) ` +
      'and the source cluster',
  );
  const [env, source] = await Promise.all([
    startDevServer({ port, uiPort: uiPort ?? 0, log: say }),
    parts.platform.clusters.ensure('source'),
  ]);
  parts.env = env;
  process.env[PASSWORD_ENV] = source.password;
  say(
    `Temporal at ${env.address}; source PostgreSQL 15 on 127.0.0.1:${source.port}; ` +
      'worker metrics on http://127.0.0.1:9464/metrics',
  );

  for (const db of DEMO_FLEET) await createSourceDatabase(source, db);
  say(`created ${DEMO_FLEET.map(describeSourceDb).join(', ')}`);

  parts.worker = await createMigrationWorker({
    connection: env.nativeConnection,
    taskQueue: TASK_QUEUE,
    platforms: { local: parts.platform },
  });
  parts.running = parts.worker.run();
  for (const db of DEMO_FLEET)
    parts.writers.set(db.name, new Writer({ ...source, database: db.name }, !!db.noPrimaryKey));
  say('worker started; writers are writing to every source database');

  const plan = planFor(source, DEMO_FLEET, `env:${PASSWORD_ENV}`, {
    defaults: { lagThresholdSeconds: 5, stableWindow: '5s', noPrimaryKey: 'fail' },
  });
  await mkdir(stateDir, { recursive: true });
  // The schema line lets an editor opened on the written plan complete and check it.
  const schemaLine = `# yaml-language-server: $schema=${resolve(__dirname, '..', 'plan.schema.json')}\n`;
  await writeFile(join(stateDir, 'plan.yaml'), schemaLine + stringify(plan));
  const id = await startMigration(env.client, plan, {
    id: `demo-${new Date().toISOString().slice(11, 19).replace(/:/g, '')}`,
    taskQueue: TASK_QUEUE,
  });
  say(
    `started migration ${id} (plan: ${join(stateDir, 'plan.yaml')}); ` +
      `watch it at http://localhost:8233/namespaces/default/workflows/${id}`,
  );

  const target = await parts.platform.clusters.ensure('fleet-target');
  const checks = new Map<string, TableComparison[]>();
  following = followMigration(id, target, source, checks);
  await following;
  if (stopped) return 130;
  // A failed database holds the fleet open for an operator; the demo gives it up so it can report.
  for (const d of (await getStatus(env.client, id)).databases.filter((x) => x.state === 'FAILED')) {
    say(`${d.database.padEnd(10)} FAILED: ${d.lastError}; giving it up (an operator would retry or cancel)`);
    await cancelDatabase(env.client, id, d.database);
  }
  const report = await waitForReport(env.client, id);
  await new Promise((r) => setTimeout(r, 1000)); // let the moved writers write to the targets
  for (const w of parts.writers.values()) await w.stop();

  console.log(`\n${summaryTable(report.databases, checks)}\n`);
  const writesOk = [...parts.writers.entries()].map(
    ([db, w]) => `${db}: ${w.writes} writes (${w.errors} refused while read-only)`,
  );
  console.log(`writers: ${writesOk.join('; ')}`);
  const ok = report.databases.every(
    (d) => d.state === 'COMPLETED' && (checks.get(d.database) ?? []).every((t) => t.equal) && checks.has(d.database),
  );
  say(
    ok
      ? `all ${report.completed} databases migrated; every target equals its source row for row`
      : 'the demo FAILED: see the table above',
  );
  if (keep) {
    say('--keep: the UI stays up at http://localhost:8233 until Ctrl-C');
    await new Promise(() => undefined);
  }
  return ok ? 0 : 1;
}

async function followMigration(
  id: string,
  target: ClusterInfo,
  source: ClusterInfo,
  checks: Map<string, TableComparison[]>,
): Promise<void> {
  const seen = new Map<string, string>();
  const approved = new Set<string>();
  while (!stopped) {
    const status = await getStatus(parts.env!.client, id);
    for (const d of status.databases) {
      if (seen.get(d.database) !== d.state) {
        seen.set(d.database, d.state);
        const lag = d.lagSeconds === null ? '' : ` lag ${d.lagSeconds.toFixed(2)}s`;
        say(`${d.database.padEnd(10)} ${d.state}${lag}${d.lastError ? `: ${d.lastError}` : ''}`);
      }
      if (d.state === 'AWAITING_APPROVAL' && !approved.has(d.database) && MANUAL) {
        approved.add(d.database);
        say(`${d.database.padEnd(10)} waiting for you: npx dbmig approve ${id} ${d.database} --approver <you>`);
      } else if (d.state === 'AWAITING_APPROVAL' && !approved.has(d.database)) {
        // What an application would do: approve through the workflow Update.
        try {
          await approveCutover(parts.env!.client, id, d.database, 'demo-app', `validated: ${d.validation}`);
          approved.add(d.database);
          say(`${d.database.padEnd(10)} cutover approved by demo-app`);
        } catch (err) {
          if (!(err instanceof RefusedError)) throw err;
        }
      }
      if (d.state === 'COMPLETED' && !checks.has(d.database)) {
        const writer = parts.writers.get(d.database)!;
        writer.pause();
        const tables = await compareRowForRow({ ...source, database: d.database }, { ...target, database: d.database });
        checks.set(d.database, tables);
        await writer.moveTo({ ...target, database: d.database });
        say(
          `${d.database.padEnd(10)} row-for-row check ${tables.every((t) => t.equal) ? 'equal' : 'DIFFERENT'}; ` +
            'writer moved to the target',
        );
      }
    }
    if (status.databases.every((d) => ['COMPLETED', 'FAILED', 'CANCELLED'].includes(d.state))) return;
    await new Promise((r) => setTimeout(r, 300));
  }
}

function portFree(port: number): Promise<boolean> {
  return new Promise((ok) => {
    const srv = net.createServer();
    srv.once('error', () => ok(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => ok(true)));
  });
}

function summaryTable(dbs: DatabaseSummary[], checks: Map<string, TableComparison[]>): string {
  const rows = dbs.map((d) => {
    const tables = checks.get(d.database) ?? [];
    const rowCount = tables.reduce((n, t) => n + t.targetRows, 0);
    const duration = d.startedAt && d.finishedAt ? Date.parse(d.finishedAt) - Date.parse(d.startedAt) : undefined;
    return [
      d.database,
      d.state,
      tables.length ? String(rowCount) : '-',
      d.maxLagSeconds === null ? '-' : `${d.maxLagSeconds.toFixed(2)}s`,
      tables.length
        ? tables.every((t) => t.equal)
          ? `equal (${tables.length} tables)`
          : 'DIFFERENT'
        : (d.lastError ?? '-'),
      d.writeBlockMs === undefined ? '-' : String(d.writeBlockMs),
      duration === undefined ? '-' : formatDuration(duration),
    ];
  });
  return table(['DATABASE', 'STATE', 'ROWS', 'MAX_LAG', 'VALIDATION', 'WRITE_BLOCK_MS', 'DURATION'], rows);
}

// npm, tsx and node may each pass the same Ctrl-C on: stay subscribed so a repeat cannot kill
// the process halfway through stopping.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (!stopped) say('stopping writers, worker, Temporal and the clusters');
    void shutdown().then(() => process.exit(130));
  });
}

main()
  .then(async (code) => {
    await shutdown();
    process.exit(code);
  })
  .catch(async (err) => {
    if (!stopped) console.error(`demo failed: ${err instanceof Error ? err.stack : err}`);
    await shutdown();
    process.exit(1);
  });
