// Continue-as-new for one database: a wait that may last (a decision, a cutover that did not
// start, a cutover resumed past its point of no return) ends this run once it has spent its event
// budget (carried-run.ts) and starts the next at the same wait, with what this one knows.
import { allHandlersFinished, condition, continueAsNew } from '@temporalio/workflow';
import type { CarriedRun } from './carried-run';
import type { DatabaseMigrationWorkflow } from './database-input';
import type { DatabaseRun } from './database-run';

/** Where the run is and its loop's state; the rest of CarriedRun is read from the run. */
export type CarryPoint = Omit<CarriedRun, 'summary' | 'left' | 'decision' | 'watching' | 'attempts' | 'anomalies'>;

/** Ends this run at a wait and starts the next from there, carrying what this one knows. */
export async function carryOn(run: DatabaseRun, c: CarryPoint): Promise<never> {
  const { db } = run;
  const watching = run.watcher.watching;
  run.watcher.stop();
  await condition(allHandlersFinished);
  const summary = { ...db.summary };
  const carried: CarriedRun = { ...c, summary, left: { ...run.left }, watching, attempts: run.cutoverAttempts };
  const anomalies = db.anomalyState;
  if (anomalies.active.length || anomalies.events) carried.anomalies = anomalies;
  if (db.current) carried.decision = db.current;
  return await continueAsNew<DatabaseMigrationWorkflow>({ ...run.input, carried });
}
