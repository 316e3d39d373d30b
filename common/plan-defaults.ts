// What a plan gets when it says nothing, and the bounds it cannot pass: the schema's descriptions
// quote these numbers, and the activities apply them (plan-settings.ts).

/** The PostgreSQL majors the local platform runs as targets (activities/platforms/local/embedded-servers.ts). */
export const LOCAL_TARGET_MAJORS = [15, 16, 17, 18] as const;

/** The cutover's bounds when the plan does not set them. */
export const CUTOVER_DEFAULTS = { maxLagSeconds: 1, timeoutMs: 30_000, reverseReplicationForMs: 86_400_000 } as const;

/**
 * How long DMS takes to answer a promote (migrationJobs.promote accepted: the job in
 * PROMOTE_IN_PROGRESS, DMS no longer reading the source) when the plan does not say.
 */
export const GCP_PROMOTE_TIMEOUT_DEFAULT_MS = 10_000;

/**
 * What a gcp fenced cutover keeps of cutover.timeout besides the promote's answer: `margin` each to
 * close and to reopen the source (a quarter of the timeout, between `leastMarginMs` and 5 s) and a
 * drain of at least 1 s. `fits` is false when the deadline cannot hold all of it with `promoteMs`.
 */
export function gcpCutoverBudget(
  timeoutMs: number,
  promoteMs: number,
  leastMarginMs = 1_000,
): { margin: number; minDrainMs: number; fits: boolean } {
  const margin = Math.max(leastMarginMs, Math.min(5_000, Math.floor(timeoutMs / 4)));
  const minDrainMs = 1_000;
  return { margin, minDrainMs, fits: timeoutMs >= promoteMs + 2 * margin + minDrainMs };
}

/** The initial copy's defaults: a few streams fit a small machine; ranges of 64 MB keep a retry cheap. */
export const COPY_DEFAULTS = { method: 'snapshot', streams: 4, rangeMb: 64 } as const;
/**
 * The live validation's defaults (engines/postgres/validate-live.ts): four comparers per side keep
 * a small machine busy; chunks of 20,000 rows keep a differing chunk's key list (read whole to
 * name its keys) small and a resumed attempt's lost work short.
 */
export const VALIDATION_DEFAULTS = { streams: 4, chunkRows: 20_000 } as const;
/** Helper activities per database at most: each is a few events, whatever the size of the tables. */
export const MAX_COPY_HELPERS = 16;

/**
 * The most databases one plan (one parent workflow) takes. The plan is the parent's input and is
 * carried across continue-as-new with every database's state; at 2,000 databases both stay well
 * under Temporal's 2 MB payload limit (bench/fleet-scale.ts measures them at 1,000).
 */
export const MAX_DATABASES = 2_000;
/** The plan's JSON size past which it is refused for the same reason, whatever its database count. */
export const MAX_PLAN_BYTES = 1_000_000;
