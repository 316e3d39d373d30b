// The parent's view of its databases and the messages that read or steer it: status, pause and
// resume, approvals forwarded to the child, cancel and retry, and the children's progress. The
// sliding window reads this view to decide what to start next, and marks in it what it starts.
import {
  ActivityFailure,
  ApplicationFailure,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  setCurrentDetails,
} from '@temporalio/workflow';
import type { ChildEnd } from '../activities/children';
import type { DatabasePlan, Plan } from '../common/plan';
import { AFTER_COMPLETION, isTerminal, type MigrationState } from '../common/states';
import {
  approvalProblem,
  newDatabaseSummary,
  retryProblem,
  unknownDatabase,
  type ApprovalAck,
  type ApprovalInput,
  type DatabaseSummary,
  type FleetStatus,
  type DecisionKind,
  type MigrationReport,
  type RejectionInput,
  type RevocationInput,
} from '../common/status';
import { fleetDetailsMarkdown } from './details';
import { fleetLookupActivities } from './activity-options';
import { FleetWaves } from './fleet-waves';
import { approverProblem } from '../common/plan-waves';

/**
 * Where a child may have handed the writes to its target: a run that ends here without its final
 * report is NEEDS_ATTENTION, never FAILED with a retry (a retry would run its cutover again).
 */
export const PAST_CUTOVER_START: ReadonlySet<MigrationState> = new Set<MigrationState>([
  'CUTTING_OVER',
  'VERIFYING_TARGET',
  'ROLLING_BACK',
]);

/**
 * What a run hands to the next across continue-as-new: which children exist, and the pause. Only
 * databases something happened to are carried, without what the plan already says (name,
 * priority, child id) or empty fields: 1,000 databases must fit well inside one payload.
 */
export interface CarriedState {
  summaries: Record<string, Partial<DatabaseSummary>>;
  paused: boolean;
  /** The last notification the fleet could not deliver. */
  undelivered?: string;
  /** prepareMigration ran (or was tried) in an earlier run: not again, and finishMigration runs at the end. */
  prepared?: boolean;
}

/** Summary fields the plan gives back on the next run. */
const FROM_PLAN = new Set(['database', 'priority', 'childWorkflowId']);

export class FleetHandlers {
  paused: boolean;
  /** Whether prepareMigration has run (or been tried) for this migration, in this run or an earlier one. */
  prepared: boolean;
  private readonly summaries: Record<string, DatabaseSummary>;
  private readonly names: string[];
  private readonly waves: FleetWaves;

  constructor(
    private readonly migrationId: string,
    private readonly plan: Plan,
    /** The databases in the order they start (priority first). */
    private readonly order: DatabasePlan[],
    carried?: CarriedState,
  ) {
    this.summaries = {};
    for (const db of order)
      this.summaries[db.name] = { ...newDatabaseSummary(migrationId, db), ...carried?.summaries[db.name] };
    this.paused = carried?.paused ?? false;
    this.prepared = carried?.prepared ?? false;
    this.undelivered = carried?.undelivered;
    this.names = order.map((d) => d.name);
    this.waves = new FleetWaves(order);
  }

  private readonly lookup = (name: string): DatabaseSummary | undefined => this.summaries[name];

  // What the sliding window reads.

  list(): DatabaseSummary[] {
    return this.order.map((d) => this.summaries[d.name]);
  }

  running(): number {
    return this.list().filter((s) => s.started && !isTerminal(s.state)).length;
  }

  nextPending(): DatabaseSummary | undefined {
    return this.list().find((s) => !s.started && s.state === 'PENDING');
  }

  /**
   * Whether no database needs anything more: a FAILED one waits for an operator's decision (retry,
   * or cancel to give up). NEEDS_ATTENTION does not: no fleet decision can change it (common/states.ts).
   */
  allDone(): boolean {
    return this.list().every((s) => s.state !== 'FAILED' && isTerminal(s.state));
  }

  carried(): CarriedState {
    const summaries: Record<string, Partial<DatabaseSummary>> = {};
    for (const s of this.list()) {
      if (!s.started && s.state === 'PENDING' && !s.retries) continue;
      const kept: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(s)) if (v !== undefined && v !== null && !FROM_PLAN.has(k)) kept[k] = v;
      summaries[s.database] = kept as Partial<DatabaseSummary>;
    }
    return {
      summaries,
      paused: this.paused,
      ...(this.undelivered ? { undelivered: this.undelivered } : {}),
      ...(this.prepared ? { prepared: true } : {}),
    };
  }

  /** A fleet notification (fleet-finished) that could not be delivered: the status says so. */
  undelivered: string | undefined;
  noteUndelivered(why: string): void {
    this.undelivered = why;
    log.warn('notification not delivered', { why });
  }

  report(): MigrationReport {
    const count = (state: string) => this.list().filter((s) => s.state === state).length;
    return {
      migrationId: this.migrationId,
      // FINALIZED is COMPLETED with its rollback path closed; ROLLED_BACK gave the source back.
      completed: count('COMPLETED') + count('FINALIZED'),
      rolledBack: count('ROLLED_BACK'),
      failed: count('FAILED'),
      cancelled: count('CANCELLED'),
      needsAttention: count('NEEDS_ATTENTION'),
      databases: this.list(),
    };
  }

  /** The current details the Temporal UI shows: one line per database, and who must act. */
  refresh(): void {
    setCurrentDetails(fleetDetailsMarkdown(this.status()));
  }

  // Queries and updates.

  status(): FleetStatus {
    return {
      migrationId: this.migrationId,
      platform: this.plan.platform,
      paused: this.paused,
      concurrency: this.plan.concurrency,
      databases: this.waves.any ? this.list().map((s) => this.waves.view(s, this.lookup)) : this.list(),
      ...(this.undelivered ? { notifications: this.undelivered } : {}),
    };
  }

  pause(): FleetStatus {
    this.paused = true;
    this.refresh();
    return this.status();
  }

  resume(): FleetStatus {
    this.paused = false;
    this.refresh();
    return this.status();
  }

  /** The approval Updates' validator: the parent checks against its view of the children. */
  refuseApproval(a: { database?: unknown; approver?: unknown }, kind: DecisionKind = 'approve'): void {
    const p = approvalProblem(a, (db) => this.summaries[db], this.names, kind);
    // The plan's approvers are known here for sure: refused before anything is relayed (revoking stays open).
    const db = this.order.find((d) => d.name === a?.database);
    const who =
      kind !== 'revoke' && db ? approverProblem(String(a.approver), db.name, db.approvers, this.plan.roles) : undefined;
    if (who && !p) throw new Error(who);
    if (!p) return;
    // A running child decides on its own state, which the fleet's view may trail (its reports are
    // signals): only what the fleet knows for sure is refused here, the rest is the child's to answer.
    const s = typeof a?.database === 'string' ? this.summaries[a.database] : undefined;
    const named = typeof a?.approver === 'string' && a.approver.trim() !== '';
    if (named && s?.started && !isTerminal(s.state)) return;
    throw new Error(p);
  }

  /** Hands the approval to the child, which decides; the caller gets the child's answer (or its refusal). */
  approve(a: ApprovalInput): Promise<ApprovalAck> {
    return this.relay('approve', a);
  }

  reject(r: RejectionInput): Promise<ApprovalAck> {
    return this.relay('reject', r);
  }

  revoke(r: RevocationInput): Promise<ApprovalAck> {
    return this.relay('revoke', r);
  }

  /**
   * The child's own Update answers, through an activity (a workflow cannot send an Update), and its
   * refusal fails the caller's Update: a revocation the child drops (its cutover has started) is
   * never reported as done.
   */
  private async relay(
    kind: DecisionKind,
    input: ApprovalInput | RejectionInput | RevocationInput,
  ): Promise<ApprovalAck> {
    try {
      return await fleetLookupActivities().relayDecision(this.summaries[input.database].childWorkflowId, kind, input);
    } catch (err) {
      const cause = err instanceof ActivityFailure ? err.cause : err;
      throw ApplicationFailure.create({ type: 'DecisionRefused', message: describe(cause), nonRetryable: true });
    }
  }

  refuseCancel(database: string): void {
    const s = this.summaries[database];
    if (!s) throw new Error(unknownDatabase(database, this.names));
    if (s.state === 'COMPLETED' || s.state === 'CANCELLED')
      throw new Error(`database "${database}" is already ${s.state}`);
    if (s.state === 'NEEDS_ATTENTION')
      throw new Error(
        `database "${database}" is NEEDS_ATTENTION: its target took over, and a cutover is never undone ` +
          `automatically; its run has ended, nothing is left to cancel. Next: ${s.nextAction ?? 'see dbmig status'}`,
      );
  }

  /** Gives up a FAILED database, drops one not yet started, or cancels the running child. */
  async cancel(database: string): Promise<DatabaseSummary> {
    const s = this.summaries[database];
    if (s.state === 'FAILED')
      Object.assign(s, {
        state: 'CANCELLED',
        lastError: `given up by an operator after: ${s.lastError}`,
        // A failed cutover undid nothing but the source's write block: what it kept is deleted by hand.
        ...(s.kept?.length ? { nextAction: `delete by hand what the run kept: ${s.kept.join('; ')}` } : {}),
      });
    else if (!s.started) Object.assign(s, { state: 'CANCELLED', lastError: 'cancelled before it started' });
    else
      await getExternalWorkflowHandle(s.childWorkflowId)
        .cancel()
        .catch((err: Error) => {
          // Its run ended without telling this one how (terminated, say): the watch on earlier
          // children finds out within seconds, and then a retry or a give-up applies.
          throw ApplicationFailure.nonRetryable(
            `database "${database}": its workflow ${s.childWorkflowId} has already ended (${err.message}); ` +
              'the fleet learns how within seconds: see `dbmig status`, then retry or cancel it',
            'ChildAlreadyEnded',
          );
        });
    this.refresh();
    return s;
  }

  refuseRetry(database: string): void {
    const p = retryProblem(database, this.summaries[database], this.names);
    if (p) throw new Error(p);
  }

  /** Puts the database back in the window; its steps are get-or-create, so nothing is duplicated. */
  retry(database: string): DatabaseSummary {
    const s = this.summaries[database];
    Object.assign(s, {
      state: 'PENDING',
      started: false,
      retries: (s.retries ?? 0) + 1,
      lastError: `retrying after: ${s.lastError}`,
      // The new run reuses what was kept (its steps are get-or-create) and reports its own next action.
      kept: undefined,
      nextAction: undefined,
      finishedAt: undefined,
      lagSeconds: null,
      lagBytes: null,
    });
    this.refresh();
    return s;
  }

  // The children's reports.

  /**
   * A child's whole summary, on a transition that matters to the fleet. A late report must not
   * revive a finished database, but a COMPLETED one may still move on (rolled back, finalized)
   * while its reverse replication runs. The fleet keeps what only it knows (retries).
   */
  childSummary(summary: DatabaseSummary): void {
    const s = this.summaries[summary.database];
    if (!s || !takesReport(s, summary.state)) return;
    const own = { childWorkflowId: s.childWorkflowId, priority: s.priority, retries: s.retries, started: true };
    const before = s.state;
    for (const k of Object.keys(s)) delete (s as unknown as Record<string, unknown>)[k];
    Object.assign(s, summary, own);
    if (own.retries === undefined) delete s.retries;
    this.waves.release(s, before, this.list(), this.lookup);
    this.refresh();
  }

  /** How a child started by an earlier run ended, found by watching it (awaitChildrenEnded). */
  childEnded(e: ChildEnd): void {
    const s = this.list().find((d) => d.childWorkflowId === e.workflowId);
    if (!s || !s.started) return;
    if (e.summary) return this.childSummary(e.summary);
    if (isTerminal(s.state)) return;
    if (this.tookOver(s, `its workflow ended ${e.status}${e.reason ? `: ${e.reason}` : ''}`)) return;
    Object.assign(s, {
      state: e.status === 'CANCELLED' ? 'CANCELLED' : 'FAILED',
      lastError: `its workflow ended ${e.status}${e.reason ? `: ${e.reason}` : ''}`,
      finishedAt: new Date().toISOString(),
      nextAction: '`dbmig retry` runs it again (its steps find what exists); `dbmig cancel` gives it up',
    });
    this.refresh();
  }

  /** A child's failed result, backing up its own final report (e.g. when it was terminated). */
  childFailed(s: DatabaseSummary, err: Error): void {
    const cause = err.cause as Error | undefined;
    if (!isTerminal(s.state) && this.tookOver(s, `its workflow ended: ${cause?.message ?? err.message}`)) return;
    if (!isTerminal(s.state))
      Object.assign(s, {
        state: isCancellation(err) ? 'CANCELLED' : 'FAILED',
        lastError: cause?.message ?? err.message,
      });
  }

  /**
   * A child whose run ended without its final report after its cutover started: its target may
   * have taken the writes, so it is NEEDS_ATTENTION (never retried, never started again).
   */
  private tookOver(s: DatabaseSummary, ended: string): boolean {
    if (!PAST_CUTOVER_START.has(s.state)) return false;
    Object.assign(s, {
      state: 'NEEDS_ATTENTION',
      lastError: `${ended}, after ${s.state} and without its final report`,
      finishedAt: new Date().toISOString(),
      nextAction:
        `its cutover had started: the target may have taken the writes and the source may be closed. Check ` +
        `both (\`temporal workflow show -w ${s.childWorkflowId}\` shows how far it got) and finish by hand; ` +
        'this database is never retried or started again under this migration id',
    });
    this.refresh();
    return true;
  }

  /** On the fleet's cancellation: cancels every child still running (the caller makes it non-cancellable). */
  async cancelRunningChildren(): Promise<void> {
    for (const s of this.list().filter((x) => x.started && !isTerminal(x.state))) {
      await getExternalWorkflowHandle(s.childWorkflowId)
        .cancel()
        .catch((e) => log.warn('cancel failed', { child: s.childWorkflowId, error: String(e) }));
    }
  }
}

/**
 * Whether a child's report may change `s`: a late one must not revive a finished database, but a
 * COMPLETED one may still move on (rolled back, finalized) while its reverse replication runs.
 */
function takesReport(s: DatabaseSummary, state: MigrationState | undefined): boolean {
  return !isTerminal(s.state) || (s.state === 'COMPLETED' && (!state || AFTER_COMPLETION.has(state)));
}

function describe(err: unknown): string {
  return (err as Error | undefined)?.message ?? String(err);
}
