// Telling people about one database on the plan's routes (approval needed or overdue, a broken
// replication, cutover done, a failure). Never fails the migration: the activity retries each
// channel that did not take it, and a channel that still refuses shows in the status.
import { workflowInfo } from '@temporalio/workflow';
import { channelsFor, type NotifyEvent } from '../common/notify-plan';
import type { NotifyFacts } from '../common/notify-message';
import { notifyActivities } from './activity-options';
import type { DatabaseMigrationInput } from './database-input';
import type { DatabaseStatus } from './database-status';
import { describeError } from './errors';

export class DatabaseNotifications {
  private readonly notifier: ReturnType<typeof notifyActivities>;

  constructor(
    private readonly input: DatabaseMigrationInput,
    private readonly db: DatabaseStatus,
  ) {
    this.notifier = notifyActivities(input.database.name);
  }

  /** Tells people about `event`; `occurrence` numbers a repeated one (an approval overdue again). */
  async send(event: NotifyEvent, facts: NotifyFacts, occurrence?: number): Promise<void> {
    const { input, db } = this;
    if (!input.notifications || channelsFor(input.notifications, event).length === 0) return;
    try {
      await this.notifier.notify({
        event,
        migrationId: input.migrationId,
        database: input.database.name,
        childWorkflowId: workflowInfo().workflowId,
        notifications: input.notifications,
        facts,
        ...(occurrence ? { occurrence } : {}),
      });
      if (db.summary.notifications) void db.publish({ notifications: undefined });
    } catch (err) {
      void db.publish({ notifications: `${event} not delivered: ${describeError(err)}` });
    }
  }

  /** What an approval message needs: the commands and where to look. */
  approvalFacts(): NotifyFacts {
    const { summary } = this.db;
    return {
      state: summary.state,
      validation: summary.validation,
      lagSeconds: summary.lagSeconds,
      timeoutMs: this.input.approval.timeoutMs,
      onTimeout: this.input.approval.onTimeout,
    };
  }
}
