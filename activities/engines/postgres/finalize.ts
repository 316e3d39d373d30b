// Finalizing a cutover ends its rollback path (operator-triggered): reverse replication is
// dropped (reverse.ts: the subscription on the source first, then the slot and publication on the
// target), the migration user's setting in the source database restored, and dbmig's own objects
// removed. The source stays closed, the target stays as it is. `finalized` is recorded before
// anything is dropped, so a rollback after a finalize that stopped half-way is refused and a
// retry of the finalize finishes it. After a rollback there is nothing to finalize.
import { MigrationError } from '../../../common/failures';
import { withClient } from './sessions';
import { closeCommitted, withLease } from './cutover';
import type { CutoverEnv } from './cutover-env';
import { endFence } from './fence';
import { rollbackPastPointOfNoReturn, type JobRecord } from './job-record';
import type { Lease } from './lease';
import { removeOwnedObjects } from './owned';
import { dropReverse } from './reverse';
import { dropSourceWatch, unreportedSourceWrites } from './reverse-watch';

export async function finalizeReverse(env: CutoverEnv): Promise<void> {
  const seen = await env.records.read();
  if (!seen.result || !seen.reverse || seen.reverse.rollback?.result) return;
  // Once recorded, nothing writes the record again and what is left is idempotent drops: run again
  // as once, without a lease. Before, the lease first: a rollback attempt still at work (cut off,
  // frozen) is stopped before anything here.
  if (seen.reverse.finalized) return finalize(env, undefined, seen);
  await withLease(env, (leased, lease, rec) => finalize(leased, lease, rec));
}

async function finalize(env: CutoverEnv, lease: Lease | undefined, rec: JobRecord): Promise<void> {
  const reverse = rec.reverse;
  if (!rec.result || !reverse || reverse.rollback?.result) return;
  const { job } = env.names;
  await withClient(env.target, (target) =>
    withClient(env.source, async (src) => {
      await lease?.sweep(target);
      await lease?.sweep(src);
      const rb = reverse.rollback;
      if (!reverse.finalized && rb) {
        // First: a rollback attempt's fence session that outlived its worker can no longer close the target.
        if (rb.block) await endFence(target, rb.block);
        const closed =
          rollbackPastPointOfNoReturn(rb) ||
          (rb.phase === 'closing' && !!rb.close && (await closeCommitted(target, job, rb.close.token)));
        if (closed)
          throw new MigrationError(
            'RollbackInProgress',
            `cannot finalize ${env.task.database.name} (migration ${env.task.migrationId}): a rollback after the ` +
              'cutover has closed the target, so the source is the way forward; run the rollback again to finish it',
          );
      }
      if (!reverse.finalized && !env.task.acknowledgeSourceWrites) {
        // Writes on the closed source would vanish with reverse replication: not without a human's word.
        const writes = await unreportedSourceWrites(src, env.names);
        if (writes)
          throw new MigrationError(
            'SourceWrites',
            `cannot finalize ${env.task.database.name} (migration ${env.task.migrationId}): ${writes}; ` +
              'they would be lost with reverse replication: explain them, then finalize acknowledging them',
          );
      }
      if (!reverse.finalized) await lease!.write({ ...rec, reverse: { ...reverse, finalized: { at: Date.now() } } });
      await dropReverse(src, target, reverse);
      await dropSourceWatch(src, env.names);
      await removeOwnedObjects(target, job);
      await removeOwnedObjects(src, job);
    }),
  );
}
