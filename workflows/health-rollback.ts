// The plan's health check after the cutover (patch health-rollback-21): one long-running activity
// (activities/health-watch.ts) that returns only when a breach has held for its time or the window
// ended, so watching adds no events per reading (safety rule 4). A breach hands the runbook a
// rollback request exactly like `dbmig rollback`'s, so the rollback runs the same code with the same
// checks and keeps the target (safety rule 1). At most one such rollback per run: a rollback that
// stops before the target's close returns to COMPLETED without a second automatic attempt.
import { CancellationScope, isCancellation, patched } from '@temporalio/workflow';
import type { DatabaseTask } from '../activities';
import type { HealthCheckSettings } from '../common/health-check-plan';
import type { EffectiveSettings } from '../common/plan-settings';
import type { StepActivities } from './activity-options';

export const HEALTH_ROLLBACK_PATCH = 'health-rollback-21';

/** Who asks for the rollback, as the status and the history show it. */
export const HEALTH_CHECK_BY = 'health check';

export class HealthRollback {
  private current: { scope: CancellationScope; running: boolean } | undefined;
  /** Once a verdict came back (a breach, or the window's end), the watch is not started again. */
  private done = false;

  private constructor(
    private readonly check: HealthCheckSettings,
    private readonly acts: Pick<StepActivities, 'watchHealth'>,
    private readonly task: DatabaseTask,
    private readonly until: string,
    private readonly onBreach: (reason: string) => void,
    private readonly onFailure: (err: unknown) => void,
  ) {}

  /** Undefined when the plan names no check: no patch marker, the run's commands are what they were. */
  static of(
    settings: EffectiveSettings,
    acts: Pick<StepActivities, 'watchHealth'>,
    task: DatabaseTask,
    until: string,
    onBreach: (reason: string) => void,
    onFailure: (err: unknown) => void,
  ): HealthRollback | undefined {
    if (!settings.healthCheck || !patched(HEALTH_ROLLBACK_PATCH)) return undefined;
    return new HealthRollback(settings.healthCheck, acts, task, until, onBreach, onFailure);
  }

  start(): void {
    if (this.done || this.current) return;
    const w = { scope: new CancellationScope(), running: true };
    w.scope
      .run(() => this.acts.watchHealth(this.task, this.check, this.until))
      .then((v) => {
        this.done = true;
        if (v.breached) this.onBreach(v.reason);
      })
      // A watch that gave up (its secret refused, say) must not pass for a healthy application.
      .catch((err) => {
        if (!isCancellation(err)) this.onFailure(err);
      })
      .finally(() => (w.running = false));
    this.current = w;
  }

  stop(): void {
    if (this.current?.running) this.current.scope.cancel();
    this.current = undefined;
  }
}
