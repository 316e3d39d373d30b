// The runbook's undo stack: each side effect registers its undo before it runs (so a step that
// fails halfway is undone too), and a failure or cancel runs the undos newest first.
import { CancellationScope, log } from '@temporalio/workflow';
import { describeError } from './errors';

export class Compensations {
  private readonly steps: { label: string; run: () => Promise<unknown> }[] = [];

  push(label: string, run: () => Promise<unknown>): void {
    this.steps.push({ label, run });
  }

  /**
   * Runs every undo, newest first, even while the workflow is being cancelled. One undo failing
   * does not stop the others: each is logged, and the runbook reports the original failure.
   */
  async runInReverse(): Promise<void> {
    await CancellationScope.nonCancellable(async () => {
      for (const step of [...this.steps].reverse()) {
        try {
          await step.run();
        } catch (e) {
          log.error('compensation failed', { step: step.label, error: describeError(e) });
        }
      }
    });
  }
}
