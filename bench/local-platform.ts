// `npm run bench`: the local platform's initial copy throughput and cutover write-block window,
// with a writer running, for a few table sizes. Prints a table; asserts nothing.
//   npm run bench -- 20000 100000 400000
import { rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { LocalPlatform } from '../activities/platforms/local';
import type { DatabaseTask } from '../activities/steps';
import { table } from '../cli/format';
import { effectiveSettings } from '../common/plan-settings';
import { validatePlan } from '../common/plan';
import { createSourceDatabase, planFor, Writer } from '../test/fixtures/fleet';

const sizes = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0);
const ROWS = sizes.length ? sizes : [20_000, 100_000, 400_000];
/** Single runs are noisy (a table-sync worker starts when the launcher next wakes): take the median of several. */
const RUNS = Number(process.env.BENCH_RUNS ?? 3);

interface Sample {
  copyMs: number;
  lagBytes: number;
  writeBlockMs: number;
  writes: number;
  equal: boolean;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const spread = (xs: number[]) => `${median(xs)} (${Math.min(...xs)}-${Math.max(...xs)})`;

async function once(
  platform: LocalPlatform,
  source: Awaited<ReturnType<LocalPlatform['clusters']['ensure']>>,
  n: number,
  run: number,
): Promise<Sample> {
  const name = `bench_${n}_${run}`;
  await createSourceDatabase(source, { name, rows: n, priority: 'high', sizeGb: 10 });
  const plan = validatePlan(
    planFor(source, [{ name, rows: n, priority: 'high', sizeGb: 10 }], 'env:DBMIG_BENCH_PASSWORD', {
      migrationId: 'bench',
    }),
  );
  const task: DatabaseTask = {
    migrationId: 'bench',
    platform: 'local',
    database: plan.databases[0],
    settings: effectiveSettings(plan, plan.databases[0]),
  };
  const writer = new Writer({ ...source, database: name }, false, 5);
  await platform.provisionTarget(task);
  await platform.reserveCapacity(task);
  await platform.createMigrationJob(task);
  await platform.startMigrationJob(task);
  await platform.copyInitialData?.(task, () => undefined); // as waitForFullDump does
  const copyStart = Date.now();
  while ((await platform.getReplicationStatus(task)).phase !== 'CDC') await new Promise((r) => setTimeout(r, 50));
  const copyMs = Date.now() - copyStart;
  await new Promise((r) => setTimeout(r, 2000)); // steady CDC under writes
  const lag = await platform.getReplicationStatus(task);
  const cut = await platform.cutover(task, () => undefined);
  const final = await platform.validateData(task, 'final');
  await writer.stop();
  await platform.releaseCapacity(task);
  // deleteTarget rightly keeps a target that took over; a benchmark's targets go with its
  // clusters at the end of the run.
  return {
    copyMs,
    lagBytes: lag.lagBytes ?? 0,
    writeBlockMs: cut.writeBlockMs,
    writes: writer.writes,
    equal: final.ok,
  };
}

async function main(): Promise<void> {
  const stateDir = resolve('.local-platform', 'bench');
  await rm(stateDir, { recursive: true, force: true });
  const platform = new LocalPlatform(stateDir);
  const source = await platform.clusters.ensure('source');
  process.env.DBMIG_BENCH_PASSWORD = source.password;
  const rows: string[][] = [];
  try {
    for (const n of ROWS) {
      const samples: Sample[] = [];
      for (let run = 0; run < RUNS; run++) samples.push(await once(platform, source, n, run));
      const copy = samples.map((x) => x.copyMs);
      rows.push([
        String(n),
        spread(copy),
        String(Math.round(n / (median(copy) / 1000))),
        spread(samples.map((x) => x.lagBytes)),
        spread(samples.map((x) => x.writeBlockMs)),
        samples.every((x) => x.equal) ? `equal x${RUNS}` : 'DIFFERENT',
      ]);
    }
  } finally {
    await platform.clusters.destroy('source');
    await platform.clusters.destroy('fleet-target');
  }
  console.log(`local platform, ${RUNS} runs per size, a writer committing every ~5 ms throughout; median (min-max)`);
  console.log(table(['ROWS', 'INITIAL_COPY_MS', 'ROWS_PER_S', 'CDC_LAG_BYTES', 'WRITE_BLOCK_MS', 'FINAL_CHECK'], rows));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
