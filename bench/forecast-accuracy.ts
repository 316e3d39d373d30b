// `npm run bench:forecast`: how close `dbmig forecast` comes to a real fleet. Per round, on this
// machine: five PostgreSQL databases of different sizes under an application's writes, as a
// non-superuser migration user would see them;
//   1. rehearse the plan (`dbmig rehearse --sample PCT`: copies of the sources, the plan's own
//      workflows on the local platform), which records what each step took;
//   2. forecast the plan (`dbmig forecast`: the same workflows on the simulated platform,
//      calibrated from that rehearsal);
//   3. run the plan for real on the local platform (the sources themselves, a Temporal dev server,
//      an in-process worker), and read each database's timeline from its workflow's history.
// Prints, per database and for the fleet, the forecast against the run: each database's duration
// (its workflow's start to its end), its finish from the fleet's start, and the phases; then each
// one's error over the rounds. Exits 1 when a median error (per database, duration or finish, or
// the fleet's) is past ±25% (the bar), or a round failed.
//   npm run bench:forecast -- [--rounds N] [--sample PCT] [--rows 20000,50000,...]
import { rm } from 'node:fs/promises';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { accuracy, accuracyTable, summarize, summaryTable, worstMedian } from './forecast-accuracy/report';
import { runRound, type RoundResult } from './forecast-accuracy/round';

const args = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    sample: { type: 'string', default: '50' },
    rows: { type: 'string', default: '25000,50000,100000,200000,400000' },
    concurrency: { type: 'string', default: '2' },
  },
}).values;
// Everything this benchmark makes lives here (rehearsal records included), and goes when it ends.
const STATE = resolve('.local-platform', 'bench-forecast');
process.env.DBMIG_STATE_DIR = STATE;

/** The bar the issue sets: per database and for the whole fleet. */
const TOLERANCE = 0.25;

async function main(): Promise<void> {
  Runtime.install({
    logger: new DefaultLogger('WARN'),
    telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' } } },
  });
  const rows = args.rows!.split(',').map(Number);
  const rounds = Number(args.rounds);
  await rm(STATE, { recursive: true, force: true });
  const results: (RoundResult | { failed: string })[] = [];
  try {
    for (let r = 1; r <= rounds; r++) {
      console.error(`== round ${r} of ${rounds}`);
      try {
        const res = await runRound({
          state: join(STATE, `round-${r}`),
          rows,
          samplePct: Number(args.sample),
          concurrency: Number(args.concurrency),
          log: (l) => console.error(`   ${l}`),
        });
        results.push(res);
        console.log(`\nround ${r}:\n${accuracyTable(res)}\n`);
      } catch (err) {
        // A failed round is reported, not dropped.
        results.push({ failed: (err as Error).stack ?? String(err) });
        console.log(`\nround ${r} FAILED: ${(err as Error).message}\n`);
      }
    }
  } finally {
    await rm(STATE, { recursive: true, force: true }).catch(() => undefined);
  }
  const ok = results.filter((r): r is RoundResult => !('failed' in r));
  const failed = results.length - ok.length;
  if (!ok.length) {
    console.log(`every round failed (${failed})`);
    process.exit(1);
  }
  const summary = summarize(ok.map(accuracy));
  console.log(
    `errors over ${ok.length} round(s) (${failed} failed), forecast against actual:\n${summaryTable(summary)}`,
  );
  writeFileSync(join(resolve('.local-platform'), 'bench-forecast.json'), JSON.stringify(results, null, 2));
  const worst = worstMedian(summary);
  console.log(
    `\nworst median error: ${(worst * 100).toFixed(1)}% (bar ±${TOLERANCE * 100}%)` +
      (failed ? `; ${failed} round(s) failed` : ''),
  );
  process.exit(worst <= TOLERANCE && !failed ? 0 : 1);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
