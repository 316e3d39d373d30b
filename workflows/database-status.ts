// One database's status and who hears of it: the runbook moves it from state to state with
// enter(); every change reaches the Temporal UI (current details, the MigrationState search
// attribute) and the status query at once. The parent hears only of the transitions that matter to
// the fleet (FLEET_STATES, FLEET_FIELDS), as whole summaries, one signal at a time: a step or a
// poll writes nothing to the parent's history.
import { getExternalWorkflowHandle, log, setCurrentDetails, upsertSearchAttributes } from '@temporalio/workflow';
import { childSummarySignal } from '../common/messages';
import type { DatabasePlan } from '../common/plan';
import { MIGRATION_STATE } from '../common/search-attributes';
import type { MigrationState } from '../common/states';
import { newDatabaseSummary, type DatabaseSummary } from '../common/status';
import { describeError } from './errors';
import { detailsMarkdown } from './details';

/**
 * The states the parent must know a database is in: started, waiting for a human, cutting over
 * (no revocation after), and every end. The steps in between reach people through the child's
 * query, its current details and heartbeats (`dbmig status` reads them live).
 */
const FLEET_STATES: ReadonlySet<MigrationState> = new Set<MigrationState>([
  'ASSESSING',
  'AWAITING_APPROVAL',
  'APPROVED_WAITING_WINDOW',
  'CUTTING_OVER',
  'COMPENSATING',
  'COMPLETED',
  'ROLLING_BACK',
  'ROLLED_BACK',
  'FINALIZED',
  'FAILED',
  'CANCELLED',
  'NEEDS_ATTENTION',
]);
/** Fields the parent's validators and the fleet view need as soon as they change. */
const FLEET_FIELDS: readonly (keyof DatabaseSummary)[] = [
  'approvedBy',
  'replication',
  'anomalies',
  // The copy's and the catch-up's measured rates: the parent's fleet median for later databases.
  'copyBytesPerSecond',
  'applyBytesPerSecond',
  'rollbackUntil',
  'approvalOverdueSince',
  'notifications',
  'heldFor',
];

export class DatabaseStatus {
  readonly summary: DatabaseSummary;
  protected readonly name: string;

  constructor(
    protected readonly migrationId: string,
    database: DatabasePlan,
    /** The parent's workflow id, to report progress to; absent when the child runs on its own. */
    private readonly parentWorkflowId?: string,
  ) {
    this.name = database.name;
    this.summary = newDatabaseSummary(migrationId, database, new Date().toISOString());
  }

  /** Moves to `state`: the search attribute at once, the details and the parent's view with it. */
  enter(state: MigrationState, patch: Partial<DatabaseSummary> = {}): Promise<void> {
    upsertSearchAttributes([{ key: MIGRATION_STATE, value: state }]);
    return this.publish({ ...patch, state });
  }

  /** Applies `patch`, shows it in the UI and reports it to the parent (a failed report is only logged). */
  async publish(patch: Partial<DatabaseSummary>): Promise<void> {
    const before = this.summary.state;
    Object.assign(this.summary, patch, { updatedAt: new Date().toISOString() });
    setCurrentDetails(detailsMarkdown(this.migrationId, this.summary));
    if (!this.parentWorkflowId) return;
    const entered = patch.state !== undefined && (patch.state !== before || this.reported !== patch.state);
    if ((entered && FLEET_STATES.has(patch.state!)) || FLEET_FIELDS.some((k) => k in patch)) return this.report();
  }

  /** The state the parent last heard of. */
  private reported: MigrationState | undefined;
  private reporting: Promise<void> | undefined;
  private unreported = false;

  /**
   * Sends the whole summary once the current activation's changes are made: several changes in one
   * activation (approved, then cutting over) are one signal, and the parent gets their end state.
   * One signal at a time: Temporal does not order signals in flight together, and the parent must
   * not hear "cutting over" before "approved". Changes made meanwhile go in the next one.
   */
  private report(): Promise<void> {
    this.unreported = true;
    this.reporting ??= this.sendReports();
    return this.reporting;
  }

  private async sendReports(): Promise<void> {
    await Promise.resolve(); // after the rest of this activation's changes
    while (this.unreported) {
      this.unreported = false;
      this.reported = this.summary.state;
      try {
        await getExternalWorkflowHandle(this.parentWorkflowId!).signal(childSummarySignal, { ...this.summary });
      } catch (err) {
        log.warn('could not report to the parent', { error: describeError(err) });
      }
    }
    this.reporting = undefined;
  }
}
