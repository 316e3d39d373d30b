// The replication watcher, from AWAITING_APPROVAL until the cutover: an activity that reports a
// break or rising lag while a human decides or a window waits. It runs in its own cancellation
// scope, so the runbook stops it before the cutover (and before it continues as new or ends).
import { CancellationScope } from '@temporalio/workflow';

export class ReplicationWatcher {
  private current: { scope: CancellationScope; running: boolean } | undefined;

  constructor(private readonly watch: () => Promise<unknown>) {}

  /** Whether the runbook started one and has not stopped it (it may have ended on its own). */
  get watching(): boolean {
    return this.current !== undefined;
  }

  /** Starts the watch; the runbook starts one only where none is held. */
  start(): void {
    const w = { scope: new CancellationScope(), running: true };
    // It only ends by cancellation; a failure of its own is retried by its activity options.
    w.scope
      .run(this.watch)
      .catch(() => undefined)
      .finally(() => (w.running = false));
    this.current = w;
  }

  /** Stops the watch; one that has already ended gets no cancel request. */
  stop(): void {
    if (this.current?.running) this.current.scope.cancel();
    this.current = undefined;
  }
}
