// The CI gate's verdict (`dbmig check`): a fleet's status, as `dbmig status` reads it, judged
// against the bounds a pipeline gives. Pure, so the rules are the same wherever the status comes
// from; docs/ci-gate.md documents every rule and field here.
import { didYouMean } from '../common/did-you-mean';
import { STATES, type MigrationState } from '../common/states';
import type { DatabaseSummary, FleetStatus } from '../common/status';

/**
 * The states in which forward replication runs and its lag is measured: after the initial copy,
 * until the cutover blocks the source. Before (the copy) there is no replication to lag, and from
 * the cutover on the target has caught up to a fence, so `--max-lag` judges only these.
 */
export const REPLICATING: ReadonlySet<MigrationState> = new Set([
  'CDC',
  'VALIDATING',
  'AWAITING_APPROVAL',
  'APPROVED_WAITING_WINDOW',
]);

/**
 * Ends no plan or operator asked for, as `dbmig status` counts them (its exit 1): FAILED, and
 * NEEDS_ATTENTION, a failure past the point of no return. CANCELLED and ROLLED_BACK were asked for.
 */
export const FAILED_STATES: ReadonlySet<MigrationState> = new Set(['FAILED', 'NEEDS_ATTENTION']);

export interface GateBounds {
  /** Every replicating database's lag is at most this many seconds. */
  maxLagSeconds?: number;
  /** At most this many databases are FAILED or NEEDS_ATTENTION. */
  maxFailed?: number;
  /** Every database is in one of these states. */
  require?: MigrationState[];
}

export type GateBound = 'max-lag' | 'max-failed' | 'require';

/** Why the fleet does not meet one bound: for one database, or for the fleet (max-failed). */
export interface GateReason {
  bound: GateBound;
  /** The database it is about; absent for a fleet-wide bound. */
  database?: string;
  /** The same as the text output's line, e.g. "orders: lag 412 s > 300 s". */
  message: string;
}

/** One database as the gate saw it; every field is always present (null when unknown). */
export interface GateDatabase {
  database: string;
  state: MigrationState;
  /** Whether --max-lag judged it (its state is one of REPLICATING). */
  replicating: boolean;
  lagSeconds: number | null;
  /** When that lag was measured (ISO), where the status read it live. */
  lagMeasuredAt: string | null;
  /** Counted by --max-failed. */
  failed: boolean;
  lastError: string | null;
  /** It meets every per-database bound (max-lag, require). */
  ok: boolean;
}

export interface GateResult {
  migrationId: string;
  ok: boolean;
  bounds: { maxLagSeconds: number | null; maxFailed: number | null; require: MigrationState[] | null };
  reasons: GateReason[];
  databases: GateDatabase[];
}

/** "412", "0.5", "1.25": seconds as a person writes them. */
export const secondsText = (n: number): string => String(Number(n.toFixed(2)));

function lagReason(d: DatabaseSummary, max: number): string | undefined {
  if (!REPLICATING.has(d.state)) return undefined;
  if (d.lagSeconds === null || d.lagSeconds === undefined) return `${d.database}: no lag reading (${d.state})`;
  if (d.lagSeconds <= max) return undefined;
  return `${d.database}: lag ${secondsText(d.lagSeconds)} s > ${secondsText(max)} s`;
}

function requireReason(d: DatabaseSummary, states: MigrationState[]): string | undefined {
  if (states.includes(d.state)) return undefined;
  const error = d.lastError ? `: ${d.lastError}` : '';
  return `${d.database}: ${d.state}, not ${states.join(' or ')}${error}`;
}

export function judgeFleet(status: FleetStatus, bounds: GateBounds): GateResult {
  const reasons: GateReason[] = [];
  const databases = status.databases.map((d): GateDatabase => {
    const mine: GateReason[] = [];
    const lag = bounds.maxLagSeconds === undefined ? undefined : lagReason(d, bounds.maxLagSeconds);
    if (lag) mine.push({ bound: 'max-lag', database: d.database, message: lag });
    const required = bounds.require ? requireReason(d, bounds.require) : undefined;
    if (required) mine.push({ bound: 'require', database: d.database, message: required });
    reasons.push(...mine);
    return {
      database: d.database,
      state: d.state,
      replicating: REPLICATING.has(d.state),
      lagSeconds: d.lagSeconds ?? null,
      lagMeasuredAt: d.lagMeasuredAt ?? null,
      failed: FAILED_STATES.has(d.state),
      lastError: d.lastError ?? null,
      ok: mine.length === 0,
    };
  });
  const failed = databases.filter((d) => d.failed);
  if (bounds.maxFailed !== undefined && failed.length > bounds.maxFailed) {
    const which = failed.map((d) => `${d.database} ${d.state}${d.lastError ? ` (${d.lastError})` : ''}`);
    const n = failed.length;
    reasons.push({
      bound: 'max-failed',
      message: `${n} database${n === 1 ? '' : 's'} failed, more than ${bounds.maxFailed}: ${which.join('; ')}`,
    });
  }
  return {
    migrationId: status.migrationId,
    ok: reasons.length === 0,
    bounds: {
      maxLagSeconds: bounds.maxLagSeconds ?? null,
      maxFailed: bounds.maxFailed ?? null,
      require: bounds.require ?? null,
    },
    reasons,
    databases,
  };
}

/** The bounds as the text output names them: "max-lag 300 s, require AWAITING_APPROVAL". */
export function boundsText(b: GateResult['bounds']): string {
  return [
    ...(b.maxLagSeconds !== null ? [`max-lag ${secondsText(b.maxLagSeconds)} s`] : []),
    ...(b.maxFailed !== null ? [`max-failed ${b.maxFailed}`] : []),
    ...(b.require !== null ? [`require ${b.require.join(' or ')}`] : []),
  ].join(', ');
}

export function gateText(r: GateResult): string {
  const n = r.databases.length;
  if (r.ok)
    return `migration ${r.migrationId} meets the gate (${boundsText(r.bounds)}): ${n} database${n === 1 ? '' : 's'}`;
  return [
    `migration ${r.migrationId} does not meet the gate (${boundsText(r.bounds)}):`,
    ...r.reasons.map((x) => `  ${x.message}`),
  ].join('\n');
}

/** A state name as `dbmig status` shows it, in any case, with - or _ (awaiting-approval), or why it is none. */
export function parseStateName(name: string): { state: MigrationState } | { error: string } {
  const s = name.trim().toUpperCase().replace(/-/g, '_');
  if ((STATES as readonly string[]).includes(s)) return { state: s as MigrationState };
  const near = didYouMean(s, STATES);
  return { error: `"${name}" is not a state${near ? ` (did you mean ${near}?)` : ''}; one of ${STATES.join(', ')}` };
}
