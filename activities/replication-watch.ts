// The replication watcher (activity), from CDC until the cutover while a human decides: it keeps
// measuring lag and apply errors, and tells the workflow only when health changes (healthy ↔
// broken, lag above the alert level and back), so a break shows within one poll and a month of
// watching adds no history (safety rule 4). Lag travels in heartbeat details and metrics.
import { Context, log } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';
import { replicationHealthSignal, type ReplicationHealth, type ReplicationProgress } from '../common/messages';
import { notCreatedStatus as notCreated, type DatabaseTask, type ReplicationStatus } from './steps';
import { AnomalyDetector, thresholdsOf, type Anomaly } from '../common/anomaly';
import { RATE_WINDOW_MS, RateWindow } from '../common/progress-rate';
import { catchUpWindows, progressOf, readStatus, sleep, withCatchUp, type ReplicationDeps } from './replication-poll';

/** Apply errors this recent mean replication is failing now (PostgreSQL retries apply every ~5 s). */
const STILL_FAILING_MS = 60_000;

/**
 * Whether the target has applied a heartbeat written after the last apply error (lag is the age of
 * the newest applied one): then apply got past whatever failed, and replication is healthy again
 * without waiting STILL_FAILING_MS.
 */
function appliedSince(s: ReplicationStatus, msSinceError: number): boolean {
  return s.lagSeconds !== null && s.lagSeconds * 1000 < msSinceError;
}

const kindsOf = (l: Anomaly[]) => l.map((a) => a.kind).join(',');

/**
 * Tells the workflow that replication's health changed (also the copy's anomalies: copy-rate-watch.ts);
 * a lost signal is sent again on the next poll.
 */
export async function tellHealth(health: ReplicationHealth): Promise<boolean | 'closed'> {
  const { workflowId, runId } = Context.current().info.workflowExecution!;
  try {
    await Context.current().client.workflow.getHandle(workflowId, runId).signal(replicationHealthSignal, health);
    return true;
  } catch (err) {
    // The run has ended (its cutover went on without waiting for this watch to stop): nobody to tell.
    if (err instanceof WorkflowNotFoundError) return 'closed';
    log.warn('could not tell the workflow about replication health', { error: (err as Error).message });
    return false;
  }
}

/**
 * The watchReplication activity. Runs until the workflow cancels it; a retry resumes from the last
 * heartbeat's error baseline and what the workflow was last told.
 */
export function watchReplicationActivity(deps: ReplicationDeps) {
  return async function watchReplication(task: DatabaseTask, pollMs = deps.pollOf(task, 2_000)): Promise<void> {
    const ctx = Context.current();
    const resumed = ctx.info.heartbeatDetails as ReplicationProgress | undefined;
    let baseline = resumed?.baselineErrors;
    /** What the workflow believes: healthy until told otherwise (a retry resumes the last belief). */
    let told = !resumed?.problem;
    /** Whether the workflow was told lag is above the alert level (notifications.lagAlertSeconds). */
    let toldLagging = resumed?.lagging ?? false;
    const alertAt = task.settings.lagAlertSeconds;
    let lastCount = resumed?.errorCount;
    let lastErrorAt = 0;
    let progress = resumed;
    const catchUp = catchUpWindows();
    // The detector lives here, fed one sample per poll (no workflow event per sample, rule 4); a
    // retry resumes the anomalies the last heartbeat had, so it neither repeats nor loses them.
    const thresholds = thresholdsOf(task.settings.anomalies);
    // A retry resumes its last heartbeat's; a watch of a run continued as new, what the workflow believes.
    const believed = resumed?.anomalies ?? task.anomalies ?? [];
    // copy-slow belongs to the copy, which has ended: a belief in it left over is cleared at the first poll.
    const watched = believed.filter((a) => a.kind !== 'copy-slow');
    const detector = new AnomalyDetector(thresholds, task.expected ?? {}, watched);
    // The apply rate: the advance of the applied position over a recent window, where the platform reports one.
    const applied = new RateWindow(Math.min(RATE_WINDOW_MS, thresholds.windowMs));
    let anomalies: Anomaly[] = believed;
    let toldKinds = kindsOf(anomalies);
    // The watch runs exactly while the database waits for its cutover's approval or window.
    deps.metrics.waitingForCutover(task);
    for (;;) {
      let problem: string | undefined;
      try {
        const s = await readStatus(deps, task, () => progress);
        deps.metrics.lag(task, s);
        const now = Date.now();
        baseline ??= s.errorCount;
        if (lastCount !== undefined && s.errorCount > lastCount) lastErrorAt = now;
        lastCount = s.errorCount;
        if (s.phase !== 'CDC') problem = `replication is ${s.phase}${s.detail ? ` (${s.detail})` : ''}, not CDC`;
        else if (s.errorCount > baseline && now - lastErrorAt < STILL_FAILING_MS && !appliedSince(s, now - lastErrorAt))
          problem =
            `the target fails to apply changes (${s.errorCount - baseline} errors since the watch began): ` +
            `${s.errors.join(' | ') || 'see the target log'}`;
        progress = withCatchUp(deps, task, s, progressOf(s, baseline, problem), catchUp);
        if (s.phase === 'CDC') {
          if (s.appliedBytes !== undefined) applied.add(now, s.appliedBytes);
          const applyBytesPerSecond = s.appliedBytes !== undefined ? applied.perSecond() : null;
          anomalies = detector.add({
            at: now,
            lagSeconds: s.lagSeconds,
            errorCount: s.errorCount,
            applyBytesPerSecond,
          });
        }
      } catch (err) {
        if (ctx.cancellationSignal.aborted) throw err;
        problem = `replication status cannot be read: ${(err as Error).message}`;
        progress = { ...(progress ?? progressOf(notCreated())), problem, at: new Date().toISOString() };
      }
      // Lag above the alert level, and back under half of it (so a lag hovering at the level is one alert).
      const lag = progress?.lagSeconds ?? null;
      const lagging =
        alertAt !== undefined && lag !== null ? (toldLagging ? lag > alertAt / 2 : lag > alertAt) : toldLagging;
      progress = { ...progress!, lagging, ...(anomalies.length ? { anomalies } : {}) };
      ctx.heartbeat(progress);
      deps.metrics.anomalies(
        task,
        anomalies.map((a) => a.kind),
      );
      const ok = problem === undefined;
      const kinds = kindsOf(anomalies);
      if (ok !== told || lagging !== toldLagging || kinds !== toldKinds) {
        const at = new Date().toISOString();
        const sent = await tellHealth({ ok, lagging, lagSeconds: lag, ...(problem ? { problem } : {}), anomalies, at });
        if (sent === 'closed') return;
        if (sent) [told, toldLagging, toldKinds] = [ok, lagging, kinds];
      }
      await sleep(pollMs);
    }
  };
}
