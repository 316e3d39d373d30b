// The two waits before the cutover (activities): until the initial copy has ended and CDC runs
// (the platform's own copy first, where it has one), and until the lag has stayed under the
// plan's threshold for its stable window. Both poll (replication-poll.ts) and heartbeat their
// progress; neither writes history per poll.
import { Context } from '@temporalio/activity';
import type { Anomaly } from '../common/anomaly';
import type { CopyProgress } from '../common/copy-progress';
import { CopyRateWatch } from './copy-rate-watch';
import type { DatabaseTask } from './steps';
import { pollReplication, type ReplicationDeps } from './replication-poll';

/**
 * What the initial copy's wait returns: the rows on the target, and the copy's measured average
 * bytes per second (null: not measured). Workers before anomaly-rates-21 returned the rows alone.
 */
export interface FullDumpResult {
  rows: number;
  copyBytesPerSecond: number | null;
}

export interface ReadyStats {
  waitedMs: number;
  maxLagSeconds: number | null;
  lagSeconds: number | null;
  lagBytes: number | null;
  rows: number;
  /**
   * The apply rate while the target caught up a backlog (lag over the threshold), where the platform
   * reports its applied position and the backlog lasted a second or more; null otherwise. The fleet's
   * median of these is what a later database's apply-slow compares with. Absent from older workers.
   */
  applyBytesPerSecond?: number | null;
}

/**
 * The apply rate over the polls that found a backlog: the target applies as fast as it can then,
 * which is what apply-slow (judged only while there is lag to apply) compares with.
 */
export class BacklogApplyRate {
  private bytes = 0;
  private ms = 0;
  private last: { at: number; applied: number } | undefined;

  add(at: number, applied: number | undefined, backlog: boolean): void {
    if (applied === undefined || !backlog) {
      this.last = undefined;
      return;
    }
    if (this.last && at > this.last.at && applied >= this.last.applied) {
      this.bytes += applied - this.last.applied;
      this.ms += at - this.last.at;
    }
    this.last = { at, applied };
  }

  /** Bytes per second over the backlog's polls; null under a second of them. */
  perSecond(): number | null {
    return this.ms >= 1_000 ? (this.bytes * 1000) / this.ms : null;
  }
}

/**
 * How often the waits read replication's status. The initial copy's end is noticed within a poll,
 * and each one is a few connections: 250 ms keeps dbmig within a few percent of a hand-made
 * publication and subscription (bench/initial-sync.ts), where 1 s cost up to a whole second.
 */
export const POLL_MS = { fullDump: 250, ready: 250 } as const;

export function replicationWaits(deps: ReplicationDeps) {
  const { on, pollOf, metrics } = deps;
  return {
    async waitForFullDump(
      task: DatabaseTask,
      pollMs: number = pollOf(task, POLL_MS.fullDump),
    ): Promise<FullDumpResult> {
      const platform = on(task);
      // copy-slow is judged here, per poll, and told to the workflow only when it changes (copy-rate-watch.ts);
      // a retry resumes the anomalies its last heartbeat had.
      const resumed = (Context.current().info.heartbeatDetails as { anomalies?: Anomaly[] } | undefined)?.anomalies;
      const rate = new CopyRateWatch(task, metrics, resumed);
      const anomalies = () => (rate.anomalies.length ? { anomalies: rate.anomalies } : {});
      if (platform.copyInitialData) {
        // The copy's progress is the heartbeat: what dbmig status and the UI show, and nothing in history.
        let last: CopyProgress | undefined;
        const beat = setInterval(() => Context.current().heartbeat({ copy: last, ...anomalies() }), 5_000);
        const gauge = metrics.throttleGauge(task, 'copy');
        try {
          await platform.copyInitialData(task, (p) => {
            last = structuredClone(p);
            // Only while rows move: building indexes or waiting for the subscription is not a slow copy.
            if (p.phase === 'copy') {
              if (p.throttled) rate.throttled();
              else rate.copied(Date.now(), p.bytesCopied);
            }
            Context.current().heartbeat({ copy: last, ...anomalies() });
            metrics.copy(task, last);
            gauge(p.throttled);
          });
        } finally {
          clearInterval(beat);
          gauge(undefined);
        }
        const copyBytesPerSecond = await rate.end();
        // Until CDC the copy's last word (100%) stays readable next to the lag.
        const s = await pollReplication(
          deps,
          task,
          pollMs,
          (st) => st.phase === 'CDC',
          () => ({ copy: last }),
        );
        return { rows: s.rowsOnTarget, copyBytesPerSecond };
      }
      const s = await pollReplication(
        deps,
        task,
        pollMs,
        (st, now) => {
          if (st.phase === 'FULL_DUMP' && st.copiedBytes !== undefined) rate.copied(now, st.copiedBytes);
          return st.phase === 'CDC';
        },
        anomalies,
      );
      return { rows: s.rowsOnTarget, copyBytesPerSecond: await rate.end() };
    },

    /** Returns once lag has stayed at or under the threshold for the whole stable window. */
    async waitForReplicationReady(
      task: DatabaseTask,
      pollMs: number = pollOf(task, POLL_MS.ready),
    ): Promise<ReadyStats> {
      const started = Date.now();
      let stableSince: number | undefined;
      let maxLag: number | null = null;
      const { lagThresholdSeconds, stableWindowMs } = task.settings;
      const applying = new BacklogApplyRate();
      const s = await pollReplication(deps, task, pollMs, (st, now) => {
        if (st.lagSeconds !== null) maxLag = Math.max(maxLag ?? 0, st.lagSeconds);
        applying.add(now, st.appliedBytes, st.phase === 'CDC' && (st.lagSeconds ?? 0) > lagThresholdSeconds);
        const ok = st.phase === 'CDC' && st.lagSeconds !== null && st.lagSeconds <= lagThresholdSeconds;
        stableSince = ok ? (stableSince ?? now) : undefined;
        return stableSince !== undefined && now - stableSince >= stableWindowMs;
      });
      return {
        waitedMs: Date.now() - started,
        maxLagSeconds: maxLag,
        lagSeconds: s.lagSeconds,
        lagBytes: s.lagBytes,
        rows: s.rowsOnTarget,
        applyBytesPerSecond: applying.perSecond(),
      };
    },
  };
}
