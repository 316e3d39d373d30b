// The gcp cutover without SQL to the source (source.access 'dms-only'): no fence is possible, so
// the operator stops the writes before approving, and the cutover promotes once a lag sample taken
// after it began (so after the approval) reads at most cutover.maxLagSeconds. The target is marked
// as taken over (took-over.ts) before the promote is asked for. A job READY_FOR_PROMOTE (DMS says
// everything arrived) is promoted without a lag reading; one still waiting for the source's writes
// to stop before its dump (dms/phases.ts) is refused with what DMS waits for.
import { formatDuration } from '../../../../common/durations';
import { cutoverLimits } from '../../../../common/plan-settings';
import { MigrationError } from '../../../../common/failures';
import { type DatabaseTask } from '../../../steps';
import {
  describeJob,
  finishPromoted,
  promoted,
  promoteOrSeePromoted,
  requireReplicating,
  SAMPLE_DELAY_MS,
  waitForLag,
  type GcpCutoverDeps,
} from './dms';
import { fenceJob } from './fence';

type Progress = (step: string) => void;

export async function dmsOnlyCutover(task: DatabaseTask, deps: GcpCutoverDeps, progress: Progress): Promise<number> {
  const { maxLagSeconds } = cutoverLimits(task.settings);
  const job = await deps.jobState();
  if (!promoted(job) && job.phase === 'READY_FOR_PROMOTE' && job.state === 'RUNNING') {
    // DMS's own word that every change has arrived and its continuous load stopped: no lag to wait for.
    await deps.markTookOver?.();
    progress(`DMS job ${fenceJob(task)} is ${describeJob(job)}: promoting (the point of no return)`);
    await promoteOrSeePromoted(deps);
  } else if (!promoted(job)) {
    requireReplicating(job, fenceJob(task), task.database.source.database);
    const since = new Date();
    const waitMs = deps.freshSampleWaitMs ?? SAMPLE_DELAY_MS + 60_000;
    progress(
      `source.access is dms-only: the writes must already be stopped by hand; waiting up to ` +
        `${formatDuration(waitMs)} for a DMS lag sample taken after ${since.toISOString()} at most ${maxLagSeconds} s`,
    );
    const { fresh, last } = await waitForLag(deps, since, maxLagSeconds, Date.now() + waitMs);
    if (!fresh) {
      const read = last ? `the newest lag sample since then reads ${last.seconds} s` : 'no lag sample since then';
      throw new MigrationError(
        'CutoverNotReady',
        `not promoting: ${read} (cutover.maxLagSeconds ${maxLagSeconds}); are the writes stopped on the source?`,
      );
    }
    await deps.markTookOver?.();
    progress(`DMS lag ${fresh.seconds} s sampled ${fresh.sampledAt.toISOString()}: promoting (the point of no return)`);
    await promoteOrSeePromoted(deps);
  }
  await finishPromoted(deps);
  // The write block was the operator's, outside what this worker can measure.
  return 0;
}
