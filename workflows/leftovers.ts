// What a run leaves in place when it must not undo it (a failed cutover, or any failure past the
// point of no return), named exactly, and the next action an operator reads for it. Pure text, so
// the runbook stays readable and the names match what the platforms create (common/naming).
import { gcpResourceNames, resourceNames } from '../common/naming';
import type { DatabasePlan, PlatformName } from '../common/plan';

/** What these messages read of the run's input: DatabaseMigrationInput has it, without importing the workflow. */
export interface LeftoverContext {
  migrationId: string;
  platform: PlatformName;
  database: DatabasePlan;
  settings: { targetDatabase: string };
}

export interface Leftovers {
  job: boolean;
  capacity: boolean;
  target: boolean;
}

/** One line per resource still there, as an operator finds it on the platform. */
export function describeLeftovers(input: LeftoverContext, left: Leftovers): string[] {
  const { migrationId, database: db } = input;
  const out: string[] = [];
  if (input.platform === 'gcp') {
    const n = gcpResourceNames(migrationId, db.name);
    if (left.job)
      out.push(`the DMS migration job ${n.migrationJob} (profiles ${n.sourceProfile}, ${n.destinationProfile})`);
    if (left.capacity) out.push(`the capacity reservation ${n.futureReservation} or resize request ${n.resizeRequest}`);
  } else {
    const n = resourceNames(migrationId, db.name);
    if (left.job)
      out.push(
        `the migration job ${n.job}: replication from the source (${n.publication}, ${n.slot}, ${n.subscription})`,
      );
    if (left.capacity) out.push(`the capacity reservation ${n.capacityReservation}`);
  }
  if (left.target) out.push(`the target: database ${input.settings.targetDatabase} on ${targetOf(input)}`);
  return out;
}

/** A cutover that failed (or was cancelled) while the source was blocked: only the source was restored. */
export function afterFailedCutover(
  input: LeftoverContext,
  kept: string[],
  end: 'FAILED' | 'CANCELLED',
  sourceRestored: boolean,
): string {
  const { migrationId, database: db } = input;
  const source = sourceRestored
    ? 'the source takes writes again'
    : 'restoring the source FAILED: check that the source takes writes before anything else';
  // A CANCELLED database is already given up: `dbmig cancel` would be refused.
  const giveUp = end === 'FAILED' ? `to give up instead, \`dbmig cancel ${migrationId} ${db.name}\`, then ` : 'or ';
  return (
    `${source}; the target was not touched and the job, capacity and target are kept for a retry: ` +
    `\`dbmig retry ${migrationId} ${db.name}\` cuts over again without a new copy; ${giveUp}` +
    `delete by hand: ${kept.join('; ')}`
  );
}

/** Past the point of no return: nothing was undone, and no command of dbmig can finish it. */
export function afterPointOfNoReturn(input: LeftoverContext, kept: string[]): string {
  const check =
    `check the target (database ${input.settings.targetDatabase} on ${targetOf(input)}): it has taken over ` +
    'from the source, which stays closed to writes; nothing was undone';
  if (!kept.length) return `${check}; then point applications at the target`;
  return `${check}; then finish the clean-up by hand: delete ${kept.join('; ')}`;
}

/**
 * After a final comparison that found the target different from the source at the fence: the
 * source (closed, with every write up to the fence) stays reachable through the rollback, and
 * nobody was told to move. What the status says then.
 */
export function afterFinalDiffers(input: LeftoverContext, summary: string): { lastError: string; nextAction: string } {
  const { migrationId: id, database } = input;
  return {
    lastError: `the target differs from the source at the cutover's fence: ${summary}`,
    nextAction:
      'cutover-done was not sent: applications were not told to move and the source stays closed; ' +
      `\`dbmig rollback ${id} ${database.name}\` gives the source back as it was at the fence; to keep the ` +
      `target as it is instead, point applications at it yourself and \`dbmig finalize ${id} ${database.name}\``,
  };
}

/** Reverse replication after the cutover, which a stopped run leaves running: what it is and what to do. */
export function reverseReplicationLeft(r: { subscription: string; publication: string; slot: string }): string {
  return (
    `reverse replication from the target to the source still runs (subscription ${r.subscription} on the ` +
    `source; publication ${r.publication} and slot ${r.slot}, which holds the target's WAL, on the target): ` +
    'drop them by hand when no rollback is wanted; nothing reopened the source'
  );
}

function targetOf(input: LeftoverContext): string {
  return `${input.database.target.kind} ${input.database.target.instance}`;
}
