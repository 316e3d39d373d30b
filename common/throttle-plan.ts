// The plan's throttle (defaults.throttle, databases[].throttle): the source's own load past which
// the local platform's copy and live validation pause, before their next range or chunk, until it
// is back under (activities/engines/postgres/throttle.ts). And how a pause reads in the status.
// Pure: the workflow validates plans with it.
import { z } from 'zod';
import { DURATION, formatDuration, parseDuration } from './durations';

/** How often a crossed limit is read again when the plan does not say. */
export const THROTTLE_POLL_DEFAULT_MS = 5_000;

const pollInterval = z
  .string()
  .regex(DURATION, 'must be a duration like 500ms, 5s or 1m')
  .refine(
    (s) => {
      const ms = parseDuration(s);
      return ms !== undefined && ms >= 100 && ms <= 600_000;
    },
    { message: 'must be a duration between 100ms and 10m, like 5s' },
  );

export const throttleSchema = z
  .strictObject({
    maxReplicaLagSeconds: z
      .number()
      .positive()
      .max(86_400)
      .optional()
      .describe(
        "Pause while any physical standby of the source replays more than this many seconds behind it (the source's " +
          'pg_stat_replication: the largest of replay_lag and write_lag, none for a standby that has replayed ' +
          "all the source's WAL; logical walsenders, the migration included, are not standbys, nor is a " +
          'standby not connected). Default: not checked.',
      ),
    maxActiveConnections: z
      .number()
      .int()
      .min(1)
      .max(100_000)
      .optional()
      .describe(
        "Pause while more than this many client sessions run a statement on the source server (pg_stat_activity's " +
          "state 'active'), dbmig's own sessions not counted. The migration user needs pg_read_all_stats to see " +
          "other users' sessions. Default: not checked.",
      ),
    check: z
      .string()
      .regex(/\S/, 'must be a SQL query')
      .max(4_000)
      .optional()
      .describe(
        'A query run on the source database as the migration user, in a read-only transaction, that returns one ' +
          'row of one boolean column: true means go on, false means pause (e.g. select not paused from ops.flags). ' +
          'An error, no row or a null also pauses, and the status shows why. Default: none.',
      ),
    maxCpuPercent: z
      .number()
      .positive()
      .max(100)
      .optional()
      .describe(
        "Pause while the source host's CPU is busier than this percentage. Visible only when the source runs on the " +
          "worker's own machine (host localhost, 127.0.0.1, ::1 or a socket directory: read from /proc/stat); " +
          'elsewhere it is not applied, and the worker logs so once per step. Default: not checked.',
      ),
    pollInterval: pollInterval
      .optional()
      .describe(
        'How often the limits are read: at most once per interval while the copy runs, and at this pace while ' +
          `paused. 100ms to 10m. Default ${THROTTLE_POLL_DEFAULT_MS / 1000}s.`,
      ),
  })
  .describe(
    "Limits on the source's own load (local platform): the copy and the live validation pause before their next " +
      'range or chunk while one is crossed, and go on by themselves once none is. Nothing is read when none is set.',
  );

export type ThrottlePlan = z.output<typeof throttleSchema>;

/** What the engine applies: the plan's limits, the interval in ms. */
export interface ThrottleSettings {
  maxReplicaLagSeconds?: number;
  maxActiveConnections?: number;
  check?: string;
  maxCpuPercent?: number;
  pollIntervalMs: number;
}

/** The limits `p` sets, or undefined when it sets none (then nothing is ever read). */
export function throttleSettings(p: ThrottlePlan | undefined): ThrottleSettings | undefined {
  if (!p) return undefined;
  const { pollInterval: every, ...limits } = p;
  if (!Object.values(limits).some((v) => v !== undefined)) return undefined;
  return { ...limits, pollIntervalMs: every ? parseDuration(every)! : THROTTLE_POLL_DEFAULT_MS };
}

/** Which limit holds the work: the label of the dbmig_throttled metric. */
export type ThrottleReason = 'replica-lag' | 'active-connections' | 'check' | 'cpu' | 'unreadable';

/** A pause in force, as heartbeat details carry it. */
export interface Throttled {
  why: string;
  /** When the pause began (ISO). */
  since: string;
  reason: ThrottleReason;
}

/** "throttled: <why> (for 1m3s)", the clause the status lines end with. */
export function describeThrottled(t: Throttled, now = Date.now()): string {
  const since = Date.parse(t.since);
  const age = Number.isFinite(since) ? ` (for ${formatDuration(Math.max(0, now - since))})` : '';
  return `throttled: ${t.why}${age}`;
}
