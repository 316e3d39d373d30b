// What the activities read of a plan for one database: its settings with the plan's defaults
// applied where it sets none (the workflow passes them in each step's task).
import { parseDuration } from './durations';
import { healthCheckSettings, type HealthCheckSettings } from './health-check-plan';
import { throttleSettings, type ThrottleSettings } from './throttle-plan';
import { COPY_DEFAULTS, CUTOVER_DEFAULTS, VALIDATION_DEFAULTS } from './plan-defaults';
import type { DatabasePlan, Plan } from './plan';

export interface EffectiveSettings {
  lagThresholdSeconds: number;
  stableWindowMs: number;
  noPrimaryKey: 'fail' | 'replica-identity-full';
  targetDatabase: string;
  /**
   * Present only when the plan sets them: a workflow started before these existed passes settings
   * without them, so every reader goes through cutoverLimits(), which applies the defaults.
   */
  cutoverMaxLagSeconds?: number;
  cutoverTimeoutMs?: number;
  reverseReplicationForMs?: number;
  /** Lag above which the replication watcher reports lag-rising; present when the plan notifies anyone. */
  lagAlertSeconds?: number;
  /** The plan's anomaly tuning (notifications.anomalies), when it sets any; common/anomaly.ts applies the defaults. */
  anomalies?: { window?: string; lagSlopePerMinute?: number; lagRiseSeconds?: number; errorsPerWindow?: number };
  /** The plan's copy settings, when it sets any; copySettings() applies the defaults. */
  copy?: {
    method?: 'snapshot' | 'native';
    streams?: number;
    rangeMb?: number;
    workerStreams?: number;
    helpers?: number;
  };
  /** The plan's live validation settings, when it sets any; validationSettings() applies the defaults. */
  validation?: { streams?: number; chunkRows?: number };
  /** Limits on the source's load, when the plan sets any (the database's, else defaults'). */
  throttle?: ThrottleSettings;
  /** The health check after the cutover (the database's, else cutover.healthCheck), when the plan names one. */
  healthCheck?: HealthCheckSettings;
}

export function copySettings(s: EffectiveSettings): {
  method: 'snapshot' | 'native';
  streams: number;
  rangeMb: number;
  /** Absent: the worker's machine decides (activities/engines/postgres/worker-streams.ts). */
  workerStreams?: number;
  helpers: number;
} {
  return {
    method: s.copy?.method ?? COPY_DEFAULTS.method,
    streams: s.copy?.streams ?? COPY_DEFAULTS.streams,
    rangeMb: s.copy?.rangeMb ?? COPY_DEFAULTS.rangeMb,
    ...(s.copy?.workerStreams !== undefined ? { workerStreams: s.copy.workerStreams } : {}),
    helpers: s.copy?.helpers ?? 0,
  };
}

export function validationSettings(s: EffectiveSettings): { streams: number; chunkRows: number } {
  return {
    streams: s.validation?.streams ?? VALIDATION_DEFAULTS.streams,
    chunkRows: s.validation?.chunkRows ?? VALIDATION_DEFAULTS.chunkRows,
  };
}

export function effectiveSettings(plan: Plan, db: DatabasePlan): EffectiveSettings {
  return {
    lagThresholdSeconds: db.lagThresholdSeconds ?? plan.defaults.lagThresholdSeconds,
    stableWindowMs: parseDuration(db.stableWindow ?? plan.defaults.stableWindow)!,
    noPrimaryKey: db.noPrimaryKey ?? plan.defaults.noPrimaryKey,
    targetDatabase: db.target.database ?? db.source.database,
    ...(plan.cutover?.maxLagSeconds !== undefined ? { cutoverMaxLagSeconds: plan.cutover.maxLagSeconds } : {}),
    ...(plan.cutover?.timeout !== undefined ? { cutoverTimeoutMs: parseDuration(plan.cutover.timeout)! } : {}),
    ...(plan.cutover?.reverseReplicationFor !== undefined
      ? { reverseReplicationForMs: parseDuration(plan.cutover.reverseReplicationFor)! }
      : {}),
    ...(plan.notifications ? { lagAlertSeconds: plan.notifications.lagAlertSeconds } : {}),
    ...(plan.notifications?.anomalies ? { anomalies: plan.notifications.anomalies } : {}),
    ...(plan.copy ? { copy: plan.copy } : {}),
    ...(plan.validation ? { validation: plan.validation } : {}),
    ...throttleOf(plan, db),
    ...healthCheckOf(plan, db),
  };
}

/** A database's health check replaces cutover.healthCheck whole; absent when neither names one. */
function healthCheckOf(plan: Plan, db: DatabasePlan): { healthCheck?: HealthCheckSettings } {
  const healthCheck = healthCheckSettings(db.healthCheck ?? plan.cutover?.healthCheck);
  return healthCheck ? { healthCheck } : {};
}

/** A database's throttle replaces defaults' whole; absent when neither sets a limit. */
function throttleOf(plan: Plan, db: DatabasePlan): { throttle?: ThrottleSettings } {
  const throttle = throttleSettings(db.throttle ?? plan.defaults.throttle);
  return throttle ? { throttle } : {};
}

/** The cutover's bounds for a task: the plan's, or the defaults. */
export function cutoverLimits(s: EffectiveSettings): {
  maxLagSeconds: number;
  timeoutMs: number;
  reverseReplicationForMs: number;
} {
  return {
    maxLagSeconds: s.cutoverMaxLagSeconds ?? CUTOVER_DEFAULTS.maxLagSeconds,
    timeoutMs: s.cutoverTimeoutMs ?? CUTOVER_DEFAULTS.timeoutMs,
    reverseReplicationForMs: s.reverseReplicationForMs ?? CUTOVER_DEFAULTS.reverseReplicationForMs,
  };
}
