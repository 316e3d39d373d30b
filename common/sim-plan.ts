// The simulated platform's part of a plan (platform: sim): how long each step takes, how the
// initial copy and lag behave, and which steps fail. It moves no data; it exists for the fan-out
// benchmark, the scale tests and rehearsing the orchestration of a large fleet in minutes.
import { z } from 'zod';
import { parseDuration } from './durations';

/** The platform calls the simulation can slow down or fail. */
export const SIM_STEPS = [
  'assessSource',
  'provisionTarget',
  'reserveCapacity',
  'createMigrationJob',
  'verifyMigrationJob',
  'startMigrationJob',
  'getReplicationStatus',
  'validateData',
  'cutover',
  'rollbackCutover',
  'rollbackAfterCutover',
  'finalizeCutover',
  'stopMigrationJob',
  'deleteMigrationJob',
  'releaseCapacity',
  'deleteTarget',
] as const;
export type SimStep = (typeof SIM_STEPS)[number];

const duration = z.string().refine((s) => parseDuration(s) !== undefined, {
  message: 'must be a duration like 5ms, 30s, 5m or 24h',
});

export const simSchema = z.strictObject({
  /** How often the waits and the watcher poll the simulated job (the real platforms poll every 250 ms–2 s). */
  pollInterval: duration.default('1s'),
  /** How long each call takes, e.g. { provisionTarget: '2s' }; absent steps return at once. */
  steps: z.partialRecord(z.enum(SIM_STEPS), duration).default({}),
  /** How long the initial copy takes, plus `fullDumpPerGb` for each GB of the database's sizeGb. */
  fullDump: duration.default('0s'),
  fullDumpPerGb: duration.default('0s'),
  /**
   * Lag in CDC, in seconds, as a curve from the start of CDC: points joined by straight lines, the
   * last one held. The default is no lag at all.
   */
  lag: z
    .array(z.strictObject({ after: duration, seconds: z.number().min(0) }))
    .min(1, 'must have at least one point')
    .default([{ after: '0s', seconds: 0 }]),
  /** Calls that fail: `times` attempts in a row (default 1) of `step`, for one database or all. */
  failures: z
    .array(
      z.strictObject({
        step: z.enum(SIM_STEPS),
        database: z.string().optional(),
        times: z.number().int().min(1).default(1),
        /** A failure type from common/failures.ts; an unknown one is retried like any error. */
        type: z.string().default('SimulatedFailure'),
        message: z.string().optional(),
      }),
    )
    .default([]),
});
export type SimSettings = z.output<typeof simSchema>;
