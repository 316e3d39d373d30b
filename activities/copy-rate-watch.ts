// copy-slow during the initial copy (activity side): the full-dump wait feeds each poll's copy rate
// to the anomaly detector here, in the activity, and tells the workflow only when the set of active
// anomalies changes (as the replication watcher does), so a long copy writes no event per poll
// (safety rule 4). It also measures the copy's average rate, which the parent's fleet median is
// made of (common/expected-rates.ts).
import { AnomalyDetector, thresholdsOf, type Anomaly } from '../common/anomaly';
import { RATE_WINDOW_MS, RateWindow } from '../common/progress-rate';
import type { createMigrationMetrics } from './metrics';
import { tellHealth } from './replication-watch';
import type { DatabaseTask } from './steps';

/** A copy shorter than this says nothing about its rate (a few polls of a tiny database). */
const MIN_MEASURED_MS = 1_000;

const kindsOf = (l: Anomaly[]) => l.map((a) => a.kind).join(',');

export class CopyRateWatch {
  private readonly detector: AnomalyDetector;
  /** What the workflow was last told (a retry resumes from its heartbeat, so nothing is told twice). */
  private told: string;
  private telling: Promise<void> = Promise.resolve();
  private closed = false;
  anomalies: Anomaly[];
  /** The rate over a recent window, from a platform's cumulative bytes (the poll path). */
  private readonly window: RateWindow;
  /** The first sample and the last one whose bytes grew: the span the copy moved data in. */
  private first: { at: number; bytes: number } | undefined;
  private last: { at: number; bytes: number } | undefined;

  constructor(
    private readonly task: DatabaseTask,
    private readonly metrics: ReturnType<typeof createMigrationMetrics>,
    resumed: Anomaly[] = [],
  ) {
    const t = thresholdsOf(task.settings.anomalies);
    this.detector = new AnomalyDetector(t, task.expected ?? {}, resumed);
    this.anomalies = resumed;
    this.told = kindsOf(resumed);
    this.window = new RateWindow(Math.min(RATE_WINDOW_MS, t.windowMs));
  }

  /**
   * The bytes a copy has moved so far (a platform's poll, or the local copy's own report): the rate
   * over the window (the last 30 s, or the plan's anomaly window if shorter) is judged.
   */
  copied(at: number, bytes: number): void {
    this.window.add(at, bytes);
    this.sample(at, this.window.perSecond(), bytes);
  }

  /**
   * The copy is paused by its throttle: a throttled spell is not judged, and the rate starts again
   * after it (a window spanning the pause would read as slow the moment the copy resumes).
   */
  throttled(): void {
    this.window.reset();
  }

  private sample(at: number, bytesPerSecond: number | null, bytes?: number): void {
    if (bytes !== undefined) {
      this.first ??= { at, bytes };
      if (!this.last || bytes > this.last.bytes) this.last = { at, bytes };
    }
    this.anomalies = this.detector.addCopy({ at, bytesPerSecond });
    this.metrics.anomalies(
      this.task,
      this.anomalies.map((a) => a.kind),
    );
    this.tellIfChanged(this.anomalies);
  }

  /**
   * The copy has ended: copy-slow no longer applies, and its clearing reaches the workflow before
   * the wait returns. Returns the copy's average bytes per second over the span it moved data in.
   */
  async end(): Promise<number | null> {
    this.anomalies = [];
    this.metrics.anomalies(this.task, []);
    this.tellIfChanged([]);
    await this.telling;
    const { first, last } = this;
    if (!first || !last || last.at - first.at < MIN_MEASURED_MS) return null;
    return ((last.bytes - first.bytes) * 1000) / (last.at - first.at);
  }

  /** One signal at a time, in order; a failed one is tried again by the next change or the end. */
  private tellIfChanged(now: Anomaly[]): void {
    this.telling = this.telling.then(async () => {
      const kinds = kindsOf(now);
      if (this.closed || kinds === this.told) return;
      const sent = await tellHealth({ ok: true, anomalies: now, at: new Date().toISOString() });
      if (sent === 'closed') this.closed = true;
      else if (sent) this.told = kinds;
    });
  }
}
