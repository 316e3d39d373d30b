// A run continued as new (carry-on.ts) starts back at the wait the last run was in, with what it
// knew (carried-run.ts). No earlier step runs again; past the point of no return the cutover is
// resumed, never undone.
import type { CutoverResult } from '../activities/steps';
import type { CarriedRun } from './carried-run';
import { approveThenCutOver, resumePastPointOfNoReturn } from './cutover-attempts';
import type { DatabaseRun } from './database-run';

export async function resumeCarried(run: DatabaseRun, c: CarriedRun): Promise<CutoverResult> {
  const { db, acts, task, undo } = run;
  db.restore(c.summary, c.decision);
  db.restoreAnomalies(c.anomalies);
  Object.assign(run.left, c.left);
  run.cutoverAttempts = c.attempts;
  void db.enter(c.summary.state);
  if (c.at === 'resuming-cutover') {
    run.phase = 'source-blocked';
    return await resumePastPointOfNoReturn(run, c);
  }
  // What the first run registered before the decision, in the same order, so a failure or cancel
  // still undoes all of it (the target is synced, nothing has taken over).
  undo.push('delete target', () => acts.deleteTarget(task));
  undo.push('release capacity', () => acts.releaseCapacity(task));
  undo.push('delete migration job', () => acts.deleteMigrationJob(task));
  undo.push('stop migration job', () => acts.stopMigrationJob(task));
  if (c.attempts > 0) undo.push('give the source its writes back', () => acts.rollbackCutover(task));
  if (c.watching) run.watcher.start();
  return await approveThenCutOver(run, c);
}
