// Waves: a database whose plan entry names dependsOn copies and replicates as any other, but its
// cutover starts only once each database it depends on has COMPLETED. The wait is one condition on
// the parent's signal (dependenciesCompleted), never a poll: the run publishes heldFor, the parent
// answers at once if they have completed or when the last of them does (fleet-waves.ts). A
// dependency that fails or is cancelled holds the cutover: the status says so, and the operator
// retries that dependency or cancels this database. Guarded by the waves-21 patch; a plan without
// dependsOn issues no command here.
import { condition, log, patched } from '@temporalio/workflow';
import type { DatabaseMigrationInput } from './database-input';
import { carryOn } from './carry-on';
import { budgetSpent } from './carried-run';
import type { DatabaseRun } from './database-run';

export const WAVES_PATCH = 'waves-21';

/**
 * Whether this run holds its cutover for dependsOn: read once at the start of the run, and only for
 * a database that names dependsOn in a fleet (so no other run records the patch's marker).
 */
export function holdsForDependencies(input: DatabaseMigrationInput): boolean {
  if (!input.database.dependsOn?.length) return false;
  if (!input.parentWorkflowId) {
    // Run on its own there is no fleet to say when the others completed: the plan's order cannot hold.
    log.warn('dependsOn ignored: this database runs without its fleet', { dependsOn: input.database.dependsOn });
    return false;
  }
  return patched(WAVES_PATCH);
}

/**
 * Waits, after an approval, until the databases this one depends on have completed or the approval
 * is revoked (`stillApproved` turns false). A long wait writes nothing but the parent's one signal
 * and replication's health changes; past the run's event budget it continues as new at the same wait.
 */
export async function awaitDependencies(run: DatabaseRun, by: string, stillApproved: () => boolean): Promise<void> {
  const { db } = run;
  if (!run.holdsForDependencies || db.dependenciesDone) return;
  const names = db.dependsOn.join(', ');
  void db.publish({
    heldFor: [...db.dependsOn],
    nextAction:
      `approved by ${by}; the cutover waits for ${names} to complete (dependsOn): replication keeps the target ` +
      'synced meanwhile; `dbmig status` shows how far they are',
  });
  await condition(() => db.dependenciesDone || !stillApproved() || budgetSpent());
  if (!db.dependenciesDone && stillApproved()) await carryOn(run, { at: 'awaiting-approval' });
  void db.publish({ heldFor: undefined, ...(db.dependenciesDone ? { nextAction: `${names} completed` } : {}) });
}
