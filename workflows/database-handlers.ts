// The messages that read or steer one database: the cutover decision (approve, reject, revoke;
// Update and Signal), the replication watchers' health reports, live lag, and the operator's
// rollback or finalize after the cutover. Its status, and who hears of it, is DatabaseStatus's.
import { ApplicationFailure, condition, log, patched } from '@temporalio/workflow';
import { anomalyLine, type Anomaly } from '../common/anomaly';
import type { AfterCutoverInput, LagReport, ReplicationHealth, ReverseHealth } from '../common/messages';
import type { DatabasePlan } from '../common/plan';
import { approverProblem } from '../common/plan-waves';
import { isTerminal } from '../common/states';
import {
  approvalProblem,
  type ApprovalAck,
  type ApprovalInput,
  type DatabaseSummary,
  type DecisionKind,
  type RejectionInput,
  type RevocationInput,
} from '../common/status';
import { DatabaseStatus } from './database-status';

export type Decision =
  { approved: true; by: string; comment?: string } | { approved: false; by: string; reason?: string };

type Approval = { database?: unknown; approver?: unknown };

/** An operator's request on a COMPLETED database while a rollback is still possible. */
export interface AfterCutoverRequest extends AfterCutoverInput {
  action: 'rollback' | 'finalize';
  n: number;
}

export class DatabaseHandlers extends DatabaseStatus {
  /**
   * The decision. The validator refuses a rejection after an approval; only a revocation takes an
   * approval back.
   */
  private decision: Decision | undefined;
  /** Counts revocations: a wait that began before one sees the count change. */
  revocations = 0;
  private requests = 0;
  private afterCutover: AfterCutoverRequest | undefined;
  private readonly outcomes = new Map<number, { ok: boolean; message: string }>();
  /** Who may approve or reject (the plan's approvers; absent: anyone) and the plan's roles. */
  private readonly approvers: string[] | undefined;
  /** Set once the parent says every database this one dependsOn has completed (dependency-wait.ts). */
  dependenciesDone = false;

  constructor(
    migrationId: string,
    database: DatabasePlan,
    parentWorkflowId?: string,
    private readonly roles?: Record<string, string[]>,
  ) {
    super(migrationId, database, parentWorkflowId);
    this.approvers = database.approvers;
    this.dependsOn = database.dependsOn ?? [];
  }

  readonly dependsOn: string[];

  /** The parent's word that these databases have completed: the cutover held for them may start. */
  dependenciesCompleted(d: { completed?: unknown }): void {
    const completed = Array.isArray(d?.completed) ? d.completed : [];
    if (this.dependsOn.every((x) => completed.includes(x))) this.dependenciesDone = true;
  }

  // Approvals: the Update's validator refuses a wrong database, state or approver; the signal
  // applies the same rule and ignores what it would refuse (its sender cannot be told).

  /** The Updates' validator: throws to refuse. */
  refuse(a: Approval, kind: DecisionKind = 'approve'): void {
    const p = this.problem(a, kind);
    if (p) throw new Error(p);
  }

  approve(a: ApprovalInput): ApprovalAck {
    return this.decide({ approved: true, by: a.approver, comment: a.comment });
  }

  reject(r: RejectionInput): ApprovalAck {
    return this.decide({ approved: false, by: r.approver, reason: r.reason });
  }

  approveBySignal(a: ApprovalInput): void {
    const p = this.problem(a, 'approve');
    if (p) log.warn('approval ignored', { reason: p });
    else this.approve(a);
  }

  rejectBySignal(r: RejectionInput): void {
    const p = this.problem(r, 'reject');
    if (p) log.warn('rejection ignored', { reason: p });
    else this.reject(r);
  }

  revokeBySignal(r: RevocationInput): void {
    const p = this.problem(r, 'revoke');
    if (p) log.warn('revocation ignored', { reason: p });
    else this.revoke(r);
  }

  /**
   * Records a decision (an operator's, or the plan's policy) unless one was already made. An
   * approval is published at once, so every validator (the parent's too) knows it.
   */
  decide(d: Decision): ApprovalAck {
    const first = this.decision === undefined;
    this.decision ??= d;
    const made = this.decision;
    if (first && made.approved) void this.publish({ approvedBy: made.by, approvedAt: new Date().toISOString() });
    if (!first && made.approved)
      return {
        database: this.name,
        accepted: true,
        decision: 'approved',
        by: made.by,
        approvedAt: this.summary.approvedAt,
      };
    return { database: this.name, accepted: true, decision: d.approved ? 'approved' : 'rejected', by: d.by };
  }

  /**
   * Takes the approval back (the validator allows it only before the cutover starts). Decisions in
   * one activation apply in their order: a revocation puts the database back to AWAITING_APPROVAL
   * at once, so an approval right after it is taken.
   */
  revoke(r: RevocationInput): ApprovalAck {
    const had = this.decision;
    this.decision = undefined;
    this.revocations++;
    const why = r.reason ? `: ${r.reason}` : '';
    const revoked = {
      approvedBy: undefined,
      approvedAt: undefined,
      lastError: `approval by ${had?.by ?? '?'} revoked by ${r.approver}${why}`,
    };
    if (this.summary.state !== 'AWAITING_APPROVAL')
      void this.enter('AWAITING_APPROVAL', {
        ...revoked,
        nextAction: 'the approval was revoked: awaiting a new decision',
      });
    else void this.publish(revoked);
    return { database: this.name, accepted: true, decision: 'revoked', by: r.approver };
  }

  get decided(): boolean {
    return this.decision !== undefined;
  }

  /**
   * The decision, once one is made; undefined when the timeout fired first; 'retracted' when one
   * was made and taken back in the same activation (an approval, then its revocation): the wait
   * ended, but no decision holds.
   */
  async awaitDecision(timeoutMs: number): Promise<Decision | 'retracted' | undefined> {
    const decided = await condition(() => this.decision !== undefined, timeoutMs);
    if (decided && this.decision === undefined) return 'retracted';
    return decided ? this.decision : undefined;
  }

  /** The decision that holds now, to carry across continue-as-new. */
  get current(): Decision | undefined {
    return this.decision;
  }

  /** A run continued as new starts where the last one was: its summary and the decision that held. */
  restore(summary: DatabaseSummary, decision: Decision | undefined): void {
    Object.assign(this.summary, summary);
    this.decision = decision;
  }

  /** Told when replication breaks or lag rises past the alert level: the runbook notifies people. */
  onAlert: ((event: 'replication-broken' | 'lag-rising', h: ReplicationHealth) => void) | undefined;
  private lagging = false;

  /** Told when an anomaly begins or clears (patch anomaly-21): the runbook notifies people. */
  onAnomaly: ((a: Anomaly, cleared: boolean, occurrence: number) => void) | undefined;
  private anomalies: Anomaly[] = [];
  private anomalyEvents = 0;

  /** The anomalies believed active and the notifications counted, to carry across continue-as-new. */
  get anomalyState(): { active: Anomaly[]; events: number } {
    return { active: [...this.anomalies], events: this.anomalyEvents };
  }

  /** A continued run believes what the last one did: it neither repeats a notification nor loses a clearing. */
  restoreAnomalies(s: { active: Anomaly[]; events: number } | undefined): void {
    if (!s) return;
    this.anomalies = [...s.active];
    this.anomalyEvents = s.events;
  }

  /**
   * The watcher's anomalies, sent only when their set of kinds changes: into the summary (the status
   * shows a line each) and one notification per kind that began or cleared. They hold nothing back.
   */
  private anomaliesChanged(now: Anomaly[]): void {
    const kinds = (l: Anomaly[]) => new Set(l.map((a) => a.kind));
    const [was, is] = [kinds(this.anomalies), kinds(now)];
    if (was.size === is.size && [...is].every((k) => was.has(k))) return;
    // New commands (the parent's signal, notify activities): runs recorded before them replay without.
    if (!patched('anomaly-21')) return;
    const cleared = this.anomalies.filter((a) => !is.has(a.kind));
    const began = now.filter((a) => !was.has(a.kind));
    this.anomalies = now;
    void this.publish({ anomalies: now.length ? now.map(anomalyLine) : undefined });
    for (const a of began) this.onAnomaly?.(a, false, ++this.anomalyEvents);
    for (const a of cleared) this.onAnomaly?.(a, true, ++this.anomalyEvents);
  }

  /** The watcher's word on replication's health; the cutover does not start while it is broken. */
  replicationHealth(h: ReplicationHealth): void {
    if (isTerminal(this.summary.state) || this.summary.state === 'CUTTING_OVER') return;
    const wasBroken = this.summary.replication !== undefined;
    if (h.anomalies) {
      this.anomaliesChanged(h.anomalies);
      // Only the anomalies changed: nothing the cutover or the parent waits on.
      if (h.ok !== wasBroken && (h.lagging === undefined || h.lagging === this.lagging)) return;
    }
    if (h.lagging !== undefined && h.lagging !== this.lagging) {
      this.lagging = h.lagging;
      if (h.lagging) this.onAlert?.('lag-rising', h);
      if (h.ok !== wasBroken) return; // only lag changed: nothing the cutover or the parent waits on
    }
    if (!h.ok && !wasBroken) this.onAlert?.('replication-broken', h);
    void this.publish({ replication: h.ok ? undefined : `broken since ${h.at}: ${h.problem ?? 'unknown'}` });
  }

  /** Told when reverse replication breaks or writes appear on the closed source: the runbook notifies people. */
  onReverseAlert: ((h: ReverseHealth) => void) | undefined;

  /** The post-cutover watcher's word: reverse replication's health and writes on the closed source. */
  reverseHealth(h: ReverseHealth): void {
    // COMPLETED counts as an end, but with reverse replication (rollbackUntil) the watch goes on.
    if (this.summary.state !== 'COMPLETED' || !this.summary.rollbackUntil) return;
    const patch: Partial<DatabaseSummary> = {};
    const wasBroken = this.summary.replication !== undefined;
    if (h.ok === wasBroken) patch.replication = h.ok ? undefined : `broken since ${h.at}: ${h.problem ?? 'unknown'}`;
    const newWrites = h.sourceWrites !== undefined && h.sourceWrites !== this.summary.sourceWrites;
    if (newWrites) patch.sourceWrites = h.sourceWrites;
    if ((!h.ok && !wasBroken) || (newWrites && !this.summary.sourceWrites)) this.onReverseAlert?.(h);
    if (Object.keys(patch).length) void this.publish(patch);
  }

  // After the cutover: rollback and finalize are Updates that wait until the runbook has done them.

  /** Their validator: only a COMPLETED database with reverse replication, one request at a time. */
  refuseAfterCutover(input: Partial<AfterCutoverInput> | undefined, action: 'rollback' | 'finalize'): void {
    if (!input || typeof input.by !== 'string' || input.by.trim() === '')
      throw new Error(`${action} needs { database, by }: who asks for it?`);
    if (input.database !== this.name) throw new Error(`this workflow migrates "${this.name}", not "${input.database}"`);
    const s = this.summary;
    if (this.afterCutover) throw new Error(`a ${this.afterCutover.action} asked by ${this.afterCutover.by} is running`);
    if (
      s.state === 'COMPLETED' &&
      s.rollbackUntil &&
      action === 'finalize' &&
      s.sourceWrites &&
      !input.acknowledgeSourceWrites
    )
      throw new Error(
        `database "${this.name}" cannot be finalized yet: ${s.sourceWrites}. They are not on the target and would be ` +
          'lost with reverse replication: explain them, then finalize acknowledging them ' +
          '(--acknowledge-source-writes), ' +
          'or roll back',
      );
    if (s.state === 'COMPLETED' && s.rollbackUntil) return;
    const why =
      s.state === 'COMPLETED'
        ? 'it has no reverse replication (its platform or its run does not keep one)'
        : s.state === 'FINALIZED' || s.state === 'ROLLED_BACK'
          ? `it is already ${s.state}`
          : `it is ${s.state}: only a COMPLETED database can be rolled back or finalized`;
    throw new Error(`database "${this.name}" cannot be ${action === 'rollback' ? 'rolled back' : 'finalized'}: ${why}`);
  }

  /** Hands the request to the runbook and waits for its outcome; a failed one fails the Update. */
  async requestAfterCutover(action: 'rollback' | 'finalize', input: AfterCutoverInput): Promise<DatabaseSummary> {
    const n = ++this.requests;
    this.afterCutover = { ...input, action, n };
    await condition(() => this.outcomes.has(n));
    const o = this.outcomes.get(n)!;
    if (!o.ok) throw ApplicationFailure.create({ type: 'RollbackFailed', message: o.message, nonRetryable: true });
    return this.summary;
  }

  /**
   * A rollback the plan's policy asks for (its health check): the same request an operator's
   * `dbmig rollback` makes, so the runbook runs the same path. False when a request is already pending.
   */
  rollbackByPolicy(by: string, reason: string): boolean {
    if (this.afterCutover) return false;
    this.afterCutover = { database: this.name, by, reason, action: 'rollback', n: ++this.requests };
    return true;
  }

  /** The request the runbook waits for, once one is made. */
  get pendingAfterCutover(): AfterCutoverRequest | undefined {
    return this.afterCutover;
  }

  /** The runbook has done (or failed) the request: its Update returns. */
  finishAfterCutover(n: number, ok: boolean, message: string): void {
    this.outcomes.set(n, { ok, message });
    if (this.afterCutover?.n === n) this.afterCutover = undefined;
  }

  /** Live lag from the replication watcher; a report arriving after the end changes nothing. */
  reportLag(r: LagReport): void {
    if (isTerminal(this.summary.state)) return;
    const maxLagSeconds =
      r.lagSeconds === null ? this.summary.maxLagSeconds : Math.max(this.summary.maxLagSeconds ?? 0, r.lagSeconds);
    void this.publish({ lagSeconds: r.lagSeconds, lagBytes: r.lagBytes, rows: r.rows, maxLagSeconds });
  }

  private problem(a: Approval, kind: DecisionKind): string | undefined {
    const p = approvalProblem(a, (db) => (db === this.name ? this.summary : undefined), [this.name], kind);
    // Revoking stays open to anyone: it only stops a cutover, it never starts or throws one away.
    if (p || kind === 'revoke') return p;
    return approverProblem(String(a.approver), this.name, this.approvers, this.roles);
  }
}
