// One database's view of itself and the messages that read or steer it: the status query, the
// cutover approval (Update and Signal) and the replication watcher's lag reports. The runbook
// moves it from state to state with enter(); every change reaches the Temporal UI (current
// details, the MigrationState search attribute) and the parent (a signal), so the parent never
// polls its children.
import {
  condition,
  getExternalWorkflowHandle,
  log,
  setCurrentDetails,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { childProgressSignal, type LagReport } from '../common/messages';
import type { DatabasePlan } from '../common/plan';
import { MIGRATION_STATE } from '../common/search-attributes';
import { isTerminal, type MigrationState } from '../common/states';
import {
  approvalProblem,
  newDatabaseSummary,
  type ApprovalAck,
  type ApprovalInput,
  type DatabaseSummary,
  type RejectionInput,
} from '../common/status';
import { describeError } from './errors';
import { detailsMarkdown } from './details';

export type Decision =
  { approved: true; by: string; comment?: string } | { approved: false; by: string; reason?: string };

type Approval = { database?: unknown; approver?: unknown };

export class DatabaseHandlers {
  readonly summary: DatabaseSummary;
  /** The first approval or rejection wins; later ones are acknowledged and change nothing. */
  private decision: Decision | undefined;
  private readonly name: string;

  constructor(
    private readonly migrationId: string,
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
    Object.assign(this.summary, patch, { updatedAt: new Date().toISOString() });
    setCurrentDetails(detailsMarkdown(this.migrationId, this.summary));
    if (!this.parentWorkflowId) return;
    try {
      await getExternalWorkflowHandle(this.parentWorkflowId).signal(childProgressSignal, {
        ...patch,
        database: this.name,
        updatedAt: this.summary.updatedAt,
      });
    } catch (err) {
      log.warn('could not report to the parent', { error: describeError(err) });
    }
  }

  // Approvals: the Update's validator refuses a wrong database, state or approver; the signal
  // applies the same rule and ignores what it would refuse (its sender cannot be told).

  /** The Updates' validator: throws to refuse. */
  refuse(a: Approval): void {
    const p = this.problem(a);
    if (p) throw new Error(p);
  }

  approve(a: ApprovalInput): ApprovalAck {
    return this.decide({ approved: true, by: a.approver, comment: a.comment });
  }

  reject(r: RejectionInput): ApprovalAck {
    return this.decide({ approved: false, by: r.approver, reason: r.reason });
  }

  approveBySignal(a: ApprovalInput): void {
    if (this.problem(a)) log.warn('approval ignored', { reason: this.problem(a) });
    else this.approve(a);
  }

  rejectBySignal(r: RejectionInput): void {
    if (this.problem(r)) log.warn('rejection ignored', { reason: this.problem(r) });
    else this.reject(r);
  }

  /** Records a decision (an operator's, or the plan's policy) unless one was already made. */
  decide(d: Decision): ApprovalAck {
    this.decision ??= d;
    return { database: this.name, accepted: true, decision: d.approved ? 'approved' : 'rejected', by: d.by };
  }

  /** The decision, once one is made; undefined when the timeout fired first. */
  async awaitDecision(timeoutMs: number): Promise<Decision | undefined> {
    const decided = await condition(() => this.decision !== undefined, timeoutMs);
    return decided ? this.decision : undefined;
  }

  /** Live lag from the replication watcher; a report arriving after the end changes nothing. */
  reportLag(r: LagReport): void {
    if (isTerminal(this.summary.state)) return;
    const maxLagSeconds =
      r.lagSeconds === null ? this.summary.maxLagSeconds : Math.max(this.summary.maxLagSeconds ?? 0, r.lagSeconds);
    void this.publish({ lagSeconds: r.lagSeconds, lagBytes: r.lagBytes, rows: r.rows, maxLagSeconds });
  }

  private problem(a: Approval): string | undefined {
    return approvalProblem(a, (db) => (db === this.name ? this.summary : undefined), [this.name]);
  }
}
