// The durable mark of a gcp target that took over from its source: a label on the Cloud SQL
// instance (settings.userLabels) or the AlloyDB cluster (labels),
//   dbmig-took-over=<the migration's owner label>
// written by the cutover BEFORE it asks DMS to promote (cutover.ts), and kept by Google with the
// resource itself: it survives a lost workflow, a terminated child, a retried or restarted run of the
// same migration id. Provisioning (reuse), demotion (migrationJobs.demoteDestination), restart,
// resume and deletion refuse a marked target, whatever any workflow or job says (docs/architecture.md,
// Safety rules, rule 1). The local platform keeps the same mark as a comment on the target database
// (engines/postgres/target-mark.ts).
//
// A mark without a promote (the worker died between the two, or the promote was refused): the
// resumed attempt of the same cutover sees its own mark and goes on (the mark is idempotent, and it
// is this cutover's); a LATER run still refuses the target. That is the safe side: the mark exists
// because a promote was about to be sent, and a promote whose answer was lost may have been
// accepted after all; an unneeded instance costs money until someone removes the label, a deleted or
// demoted live one loses the data of record.
//
// Label rules (https://cloud.google.com/resource-manager/docs/labels-overview#requirements, which
// Cloud SQL's https://cloud.google.com/sql/docs/postgres/label-instance and AlloyDB's labels follow):
// keys start with a lower-case letter, keys and values at most 63 characters of lower-case letters,
// digits, _ and -. The key is fixed; the value is gcpResourceNames' owner label, which keeps them.
import { MigrationError } from '../../../../common/failures';
import { type DatabaseTask } from '../../../steps';
import { gcpNames } from '../names';

export const TOOK_OVER_LABEL = 'dbmig-took-over';

type Labels = Record<string, string> | null | undefined;

/** The mark's value for this task: the migration, as its owner label spells it. */
export function tookOverValue(task: DatabaseTask): string {
  return gcpNames(task).ownerLabel;
}

/** The mark on `labels`, or undefined when the target never took over. */
export function markOf(labels: Labels): string | undefined {
  return labels?.[TOOK_OVER_LABEL] ?? undefined;
}

/** `labels` with this task's mark added (all of them: a patch then cannot drop the owner labels). */
export function withMark(labels: Labels, task: DatabaseTask): Record<string, string> {
  return { ...(labels ?? {}), [TOOK_OVER_LABEL]: tookOverValue(task) };
}

/**
 * The refusal for `doing` on a marked target `what`, or undefined when it carries no mark. Names the
 * mark and what to do: a new migration onto a new target, or removing the label by hand when a
 * person knows the target never took writes.
 */
export function tookOverRefusal(labels: Labels, what: string, doing: string): MigrationError | undefined {
  const mark = markOf(labels);
  if (mark === undefined) return undefined;
  const remove = what.startsWith('AlloyDB')
    ? `gcloud alloydb clusters update ... --remove-labels=${TOOK_OVER_LABEL}`
    : `gcloud sql instances patch ... --remove-labels=${TOOK_OVER_LABEL}`;
  return new MigrationError(
    'TargetTookOver',
    `not ${doing}: ${what} carries the label ${TOOK_OVER_LABEL}=${mark}: a cutover of migration ${mark} promoted ` +
      'it or was about to (the mark is written before the promote), so it may hold the data of record. dbmig ' +
      'never provisions, demotes, restarts or deletes it again. Migrate again under a new migration id onto a new ' +
      `target instance; only if you know it never took writes, remove the label by hand (${remove}) and retry`,
  );
}
