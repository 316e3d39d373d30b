// What a worker's activities are doing right now: a shutdown waits for every in-flight activity to
// end (the SDK cancels them, and each must stop on its cancellation), so a shutdown that does not
// end is explained by the activities it still waits for. One small map per worker, no history.
import type { Context } from '@temporalio/activity';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';

export interface InFlightActivity {
  activityType: string;
  activityId: string;
  workflowId?: string;
  attempt: number;
  startedAt: number;
  /** Set once the SDK asked the activity to stop (its cancellation signal fired). */
  cancelledAt?: number;
}

export class InFlightActivities {
  private readonly running = new Map<string, InFlightActivity>();

  readonly interceptor: ActivityInterceptorsFactory = (ctx: Context) => ({
    inbound: {
      execute: async (input, next) => {
        const { activityType, activityId, attempt, workflowExecution } = ctx.info;
        const key = `${workflowExecution?.runId ?? ''}/${activityId}/${attempt}`;
        const entry: InFlightActivity = {
          activityType,
          activityId,
          attempt,
          startedAt: Date.now(),
          ...(workflowExecution ? { workflowId: workflowExecution.workflowId } : {}),
        };
        this.running.set(key, entry);
        const onCancel = () => (entry.cancelledAt = Date.now());
        ctx.cancellationSignal.addEventListener('abort', onCancel, { once: true });
        try {
          return await next(input);
        } finally {
          ctx.cancellationSignal.removeEventListener('abort', onCancel);
          this.running.delete(key);
        }
      },
    },
  });

  list(): InFlightActivity[] {
    return [...this.running.values()];
  }

  /** One line per activity, for a shutdown that takes long: which ones ignore their cancellation. */
  describe(now = Date.now()): string {
    const all = this.list();
    if (!all.length) return 'no activity in flight';
    return all
      .map((a) => {
        const secs = (t: number) => Math.round((now - t) / 1000);
        const cancelled = a.cancelledAt ? `, cancelled ${secs(a.cancelledAt)} s ago` : '';
        const of = a.workflowId ? ` of ${a.workflowId}` : '';
        return `${a.activityType}${of} (attempt ${a.attempt}, running ${secs(a.startedAt)} s${cancelled})`;
      })
      .join('; ');
  }
}

/**
 * Once `worker` stops taking work, says every `everyMs` what it still waits for, until it has
 * stopped. Returns the function that ends the watch.
 */
export function reportSlowShutdown(
  worker: { getState(): string },
  running: InFlightActivities,
  report: (what: string) => void,
  everyMs = 30_000,
): () => void {
  let since: number | undefined;
  let last = 0;
  const timer = setInterval(() => {
    const state = worker.getState();
    if (state === 'INITIALIZED' || state === 'RUNNING') return;
    const now = Date.now();
    since ??= now;
    if (state === 'STOPPED' || state === 'FAILED') return clearInterval(timer);
    if (now - since >= everyMs && now - last >= everyMs) {
      last = now;
      report(`worker ${state} for ${Math.round((now - since) / 1000)} s, waiting for: ${running.describe(now)}`);
    }
  }, 1_000);
  timer.unref();
  return () => clearInterval(timer);
}
