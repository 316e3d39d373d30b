// What the notifier tells people, and the facts it tells it from. Pure: the workflows build a
// NotifyInput (it becomes workflow history, so it stays small and holds references, never a secret)
// and the notifier activity turns it into words here, one text per event.
import { childWorkflowId, fnv1a } from './naming';
import { NOTIFY_EVENTS, type NotificationSettings, type NotifyEvent } from './notify-plan';

export { NOTIFY_EVENTS, type NotifyEvent };

/**
 * What the message says. Every field is optional: each event uses the ones it needs. The names are
 * those of DatabaseSummary and MigrationReport, so a workflow passes what it already has.
 */
export interface NotifyFacts {
  /** The database's state when the event happened (MigrationState). */
  state?: string;
  /** What went wrong, in the failing part's words (the database's lastError). */
  reason?: string;
  /** What a human does next (DatabaseSummary.nextAction). */
  nextAction?: string;
  /** approval-*: the plan's approval timeout, ms, and what happens when it passes. */
  timeoutMs?: number;
  onTimeout?: string;
  /** approval-needed: when the approval times out (ISO); absent where nothing times out. */
  deadline?: string;
  /** approval-overdue: when the approval became overdue (ISO), and how long the database has waited. */
  overdueSince?: string;
  waitedMs?: number;
  /** approval-needed: what is ready. */
  validation?: string;
  rows?: number | null;
  /** Replication lag, seconds, and when it was measured (ISO). */
  lagSeconds?: number | null;
  at?: string;
  /** replication-broken / lag-rising: the target's own words about what is wrong. */
  problem?: string;
  /** anomaly: which kind (common/anomaly.ts), and whether this tells it has cleared. */
  anomaly?: string;
  cleared?: boolean;
  /** cutover-done: how long the source refused writes, and where applications connect now. */
  writeBlockMs?: number;
  endpoint?: string;
  /** fleet-finished: the run's counts (MigrationReport without its databases). */
  total?: number;
  completed?: number;
  failed?: number;
  cancelled?: number;
  needsAttention?: number;
  rolledBack?: number;
}

/** The notifier activity's input. JSON-serialisable, small: it is workflow history. */
export interface NotifyInput {
  event: NotifyEvent;
  migrationId: string;
  /** Absent for fleet events (fleet-finished). */
  database?: string;
  /** The workflow the UI link opens; default the child `<migrationId>/<database>`, or the parent for fleet events. */
  childWorkflowId?: string;
  /**
   * Tells apart events of one kind that happen again for the same database (a second approval round
   * after a revocation or an operator's retry): a new occurrence is a new delivery, not a duplicate.
   * Default 1.
   */
  occurrence?: number;
  /** When the event happened (ISO, the workflow's time); default when the notifier first runs. */
  occurredAt?: string;
  notifications: NotificationSettings;
  facts: NotifyFacts;
}

export interface NotifyResult {
  /** The channels that have the event, this attempt or an earlier one. */
  delivered: string[];
}

export type NotifySeverity = 'critical' | 'error' | 'warning' | 'info';

export interface NotifyMessage {
  /** One line: Slack's notification text, the email subject, PagerDuty's summary. */
  title: string;
  /** The whole message, plain text. */
  text: string;
  severity: NotifySeverity;
  /** The Temporal UI page of the workflow concerned. */
  link: { href: string; text: string };
}

export const DEFAULT_UI_URL = 'http://localhost:8233';
/** PagerDuty's limit for dedup_key; the other channels take any length. */
const MAX_DELIVERY_ID = 255;

/**
 * The stable id of one event's delivery: the same on every retry and re-run, so a receiver that
 * dedupes (PagerDuty's dedup_key, the webhook's X-Dbmig-Delivery, the email's Message-ID) does not
 * page twice.
 */
export function deliveryId(input: Pick<NotifyInput, 'migrationId' | 'database' | 'event' | 'occurrence'>): string {
  const id = `dbmig:${input.migrationId}:${input.database ?? '*'}:${input.event}:${input.occurrence ?? 1}`;
  if (id.length <= MAX_DELIVERY_ID) return id;
  return `${id.slice(0, MAX_DELIVERY_ID - 18)}~${fnv1a(id)}${fnv1a([...id].reverse().join(''))}`;
}

/** "2d 3h", "3h 5m", "4m 10s", "12.3 s", "850 ms": an operator reads it at a glance. */
export function humanDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  const [d, h, m] = [Math.floor(s / 86_400), Math.floor((s % 86_400) / 3600), Math.floor((s % 3600) / 60)];
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  return `${m}m ${s % 60}s`;
}

/** Quotes for a POSIX shell where needed (plan names are [a-z0-9_-]; anything else is quoted). */
function sh(word: string): string {
  return /^[A-Za-z0-9_\-./:=@]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

export interface ApprovalCommands {
  approve: string;
  reject: string;
  /** The same approval with only the Temporal CLI, against the database's own workflow. */
  temporalApprove: string;
  temporalReject: string;
}

export function approvalCommands(migrationId: string, database: string, namespace = 'default'): ApprovalCommands {
  const wf = childWorkflowId(migrationId, database);
  const ns = namespace === 'default' ? '' : ` --namespace ${sh(namespace)}`;
  const update = (name: string, extra: object) =>
    `temporal workflow update execute${ns} --workflow-id ${sh(wf)} --name ${name} ` +
    `--input ${sh(JSON.stringify({ database, approver: 'NAME', ...extra }))}`;
  return {
    approve: `dbmig approve ${sh(migrationId)} ${sh(database)} --approver NAME`,
    reject: `dbmig reject ${sh(migrationId)} ${sh(database)} --approver NAME --reason 'WHY'`,
    temporalApprove: update('approveCutover', {}),
    temporalReject: update('rejectCutover', { reason: 'WHY' }),
  };
}

/** The Temporal UI page of a workflow. */
export function workflowUiLink(uiUrl: string | undefined, namespace: string, workflowId: string): string {
  const base = (uiUrl ?? DEFAULT_UI_URL).replace(/\/+$/, '');
  return `${base}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}

/** fleet-finished: the counts, zero where the report left one out. */
function countsOf(f: NotifyFacts) {
  const c = {
    completed: f.completed ?? 0,
    failed: f.failed ?? 0,
    cancelled: f.cancelled ?? 0,
    needsAttention: f.needsAttention ?? 0,
    rolledBack: f.rolledBack ?? 0,
  };
  return { ...c, total: f.total ?? c.completed + c.failed + c.cancelled + c.needsAttention + c.rolledBack };
}

export function severityOf(input: Pick<NotifyInput, 'event' | 'facts'>): NotifySeverity {
  switch (input.event) {
    case 'approval-needed':
    case 'lag-rising':
      return 'warning';
    case 'anomaly':
      return input.facts.cleared ? 'info' : 'warning';
    // Escalation exists to wake someone: the database holds replication (and WAL on the source) meanwhile.
    case 'approval-overdue':
      return 'critical';
    // health-rollback: the application was moved back on its own; someone must learn why the target broke its promise.
    case 'replication-broken':
    case 'failure':
    case 'health-rollback':
      return 'error';
    case 'cutover-done':
      return 'info';
    case 'fleet-finished': {
      const c = countsOf(input.facts);
      return c.failed + c.needsAttention > 0 ? 'warning' : 'info';
    }
  }
}

export interface MessageContext {
  /** The Temporal namespace the workflows run in (the activity's Context info). */
  namespace: string;
  /** Now, epoch ms: "overdue by", and the deadline where only the timeout is known. */
  now: number;
}

const sinceMs = (iso: string | undefined, now: number) => {
  const t = iso ? Date.parse(iso) : NaN;
  return Number.isFinite(t) ? Math.max(0, now - t) : undefined;
};

/** The words of one event, for every channel. */
export function buildMessage(input: NotifyInput, ctx: MessageContext): NotifyMessage {
  const { event, migrationId, facts: f } = input;
  const db = input.database ?? '(fleet)';
  const about = input.database ? `${migrationId}/${input.database}` : migrationId;
  const workflowId = input.childWorkflowId ?? (input.database ? childWorkflowId(migrationId, db) : migrationId);
  const link = {
    href: workflowUiLink(input.notifications.uiUrl, ctx.namespace, workflowId),
    text: 'Temporal UI',
  };
  const lines: string[] = [];
  const add = (...l: (string | false | undefined)[]) =>
    l.forEach((x) => x !== false && x !== undefined && lines.push(x));
  const lag = f.lagSeconds != null ? `${f.lagSeconds.toFixed(1)} s` : 'unknown';
  const next = f.nextAction ? `Next: ${f.nextAction}` : undefined;
  let title: string;

  switch (event) {
    case 'approval-needed': {
      const cmd = approvalCommands(migrationId, db, ctx.namespace);
      const occurred = Date.parse(input.occurredAt ?? '') || ctx.now;
      const deadline =
        f.deadline ?? (f.timeoutMs !== undefined ? new Date(occurred + f.timeoutMs).toISOString() : undefined);
      const then = f.onTimeout === 'escalate' ? 'then it escalates and keeps waiting' : 'then the database fails';
      title = `[dbmig] ${about}: ready for cutover, waiting for approval`;
      add(
        `Database ${db} of migration ${migrationId} is in sync with its target and waits for a human's approval ` +
          'of its cutover.',
        `Ready: replication lag ${lag}` +
          (f.rows != null ? `; ${f.rows} rows on the target` : '') +
          (f.validation ? `; validation: ${f.validation}` : '') +
          '.',
        deadline &&
          `Decide before ${deadline}` +
            (f.timeoutMs !== undefined ? ` (${humanDuration(f.timeoutMs)}; ${then}).` : '.'),
        '',
        `Approve: ${cmd.approve}`,
        `Reject:  ${cmd.reject}`,
        '',
        'Or with the Temporal CLI:',
        `  ${cmd.temporalApprove}`,
        `  ${cmd.temporalReject}`,
      );
      break;
    }
    case 'approval-overdue': {
      const cmd = approvalCommands(migrationId, db, ctx.namespace);
      const overdue = sinceMs(f.overdueSince, ctx.now);
      title =
        `[dbmig] ${about}: approval overdue` +
        (f.waitedMs !== undefined ? `, waiting ${humanDuration(f.waitedMs)}` : '');
      add(
        `Nobody approved or rejected the cutover of ${db} (migration ${migrationId})` +
          (f.timeoutMs !== undefined ? ` within its approval timeout of ${humanDuration(f.timeoutMs)}` : '') +
          '.',
        overdue !== undefined && `It has been overdue for ${humanDuration(overdue)} (since ${f.overdueSince}).`,
        'The database keeps waiting; nothing is deleted. Replication keeps running and holds WAL on the source.',
        '',
        `Approve: ${cmd.approve}`,
        `Reject:  ${cmd.reject}`,
        `Or:      ${cmd.temporalApprove}`,
      );
      break;
    }
    case 'replication-broken':
      title = `[dbmig] ${about}: replication is broken`;
      if (f.state === 'COMPLETED') {
        // After the cutover: the way back (reverse replication) or the closed source itself.
        add(
          `After the cutover of ${db} (migration ${migrationId}), the way back needs attention.`,
          `What is wrong: ${f.problem ?? f.reason ?? 'see the source log'}`,
          'The target keeps taking the writes. A rollback cannot start while reverse replication is broken, ' +
            'and a finalize is refused while writes on the closed source are not acknowledged.',
          next,
        );
        break;
      }
      add(
        `Replication of ${db} (migration ${migrationId}) keeps failing on the target` +
          (f.state ? ` (${f.state})` : '') +
          '.',
        `What fails: ${f.problem ?? f.reason ?? 'see the target log'}`,
        'DDL on the source is the usual cause: it is not replicated. The cutover does not start while this lasts.',
        next,
      );
      break;
    case 'lag-rising':
      title = `[dbmig] ${about}: replication lag ${lag}`;
      add(
        `Replication lag of ${db} (migration ${migrationId}) is ${lag}` +
          (f.at ? ` (measured ${f.at})` : '') +
          `, above the alert level of ${input.notifications.lagAlertSeconds} s.`,
        f.problem && `Target says: ${f.problem}`,
        'The cutover waits for lag to come back under its threshold; nothing is blocked on the source.',
        next,
      );
      break;
    case 'anomaly':
      title = `[dbmig] ${about}: ${f.anomaly ?? 'anomaly'} ${f.cleared ? 'cleared' : 'detected'}`;
      add(
        f.cleared
          ? `The ${f.anomaly} anomaly of ${db} (migration ${migrationId}) has cleared: ` +
              'what it measured is back to normal.'
          : `Replication of ${db} (migration ${migrationId}) looks anomalous (${f.anomaly})` +
              (f.at ? `, since ${f.at}` : '') +
              '.',
        f.problem && `Measured: ${f.problem}`,
        !f.cleared &&
          'Nothing is stopped: the cutover still waits for its own conditions. docs/operations.md, Anomalies, says ' +
            'what each kind means and what to look at.',
      );
      break;
    case 'failure': {
      const state = f.state ?? 'FAILED';
      const fallback =
        state === 'NEEDS_ATTENTION'
          ? 'the target has taken over and nothing was undone: finish by hand (dbmig status shows what is left)'
          : `fix the cause, then: dbmig retry ${migrationId} ${db}`;
      title = `[dbmig] ${about}: ${state}`;
      add(
        `Database ${db} of migration ${migrationId} is ${state}.`,
        `Reason: ${f.reason ?? 'unknown (see the workflow history)'}`,
        `Next: ${f.nextAction ?? fallback}`,
      );
      break;
    }
    case 'health-rollback':
      title = `[dbmig] ${about}: rolled back by its health check`;
      add(
        `After the cutover of ${db} (migration ${migrationId}), the plan's health check breached for its time, ` +
          'so the database is rolled back by the same path as `dbmig rollback`: the source takes the writes ' +
          'again, with every write made on the target. The target is kept (closed to writes).',
        `Why: ${f.problem ?? f.reason ?? 'see dbmig status'}`,
        next,
      );
      break;
    case 'cutover-done': {
      const block = f.writeBlockMs !== undefined ? humanDuration(f.writeBlockMs) : undefined;
      title = `[dbmig] ${about}: cutover done` + (block ? `, writes blocked ${block}` : '');
      add(
        `The target of ${db} (migration ${migrationId}) has taken over` + (f.endpoint ? `: ${f.endpoint}.` : '.'),
        f.writeBlockMs !== undefined &&
          `The source refused writes for ${block} (${Math.round(f.writeBlockMs)} ms), from the fence to the switch.`,
        next,
      );
      break;
    }
    case 'fleet-finished': {
      const c = countsOf(f);
      const bad = c.failed + c.needsAttention;
      title =
        `[dbmig] ${migrationId}: finished, ${c.completed} of ${c.total} completed` +
        (bad > 0 ? `, ${c.failed} failed, ${c.needsAttention} need attention` : '');
      add(
        `Migration ${migrationId} finished: ${c.total} databases.`,
        `  completed:       ${c.completed}`,
        `  failed:          ${c.failed}`,
        `  cancelled:       ${c.cancelled}`,
        `  needs attention: ${c.needsAttention}`,
        `  rolled back:     ${c.rolledBack}`,
        bad > 0 && `See: dbmig status ${migrationId}`,
      );
      break;
    }
  }
  add('', `${link.text}: ${link.href}`);
  return { title, text: lines.join('\n'), severity: severityOf(input), link };
}
