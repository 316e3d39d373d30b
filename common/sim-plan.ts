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

const lagCurve = z
  .array(
    z
      .strictObject({
        after: duration.describe('Time since the start of CDC.'),
        seconds: z.number().min(0).describe('The lag at that time, in seconds.'),
      })
      .describe('A point of the lag curve.'),
  )
  .min(1, 'must have at least one point');

/** A rate as steps: each point's rate holds from its time until the next point's. */
const rateCurve = z
  .array(
    z
      .strictObject({
        after: duration.describe('Time since the start of the phase.'),
        mbPerSecond: z.number().min(0).describe('The rate from then on, in MB (1,048,576 bytes) per second.'),
      })
      .describe('A step of the rate curve.'),
  )
  .min(1, 'must have at least one point');

export const simSchema = z
  .strictObject({
    pollInterval: duration
      .default('1s')
      .describe(
        'How often the waits and the watcher poll the simulated job (the real platforms: every 250 ms to 2 s).',
      ),
    steps: z
      .partialRecord(z.enum(SIM_STEPS), duration)
      .default({})
      .describe(
        'How long each platform call takes, e.g. { provisionTarget: 2s }. Default: every call returns at once.',
      ),
    fullDump: duration.default('0s').describe('How long the initial copy takes, plus fullDumpPerGb per GB.'),
    fullDumpPerGb: duration.default('0s').describe("Added to fullDump for each GB of the database's sizeGb."),
    lag: lagCurve
      .default([{ after: '0s', seconds: 0 }])
      .describe(
        'Lag during CDC as a curve from its start: points joined by straight lines, the last one held. ' +
          'Default: no lag.',
      ),
    byDatabase: z
      .record(
        z.string(),
        z
          .strictObject({
            lag: lagCurve.optional().describe("This database's lag curve instead of the plan's."),
            applyErrors: z
              .strictObject({
                after: duration.describe('Time since the start of CDC when the target starts failing to apply.'),
                every: duration.describe('One apply error this often.'),
                until: duration.optional().describe('When it stops failing (since the start of CDC). Default never.'),
              })
              .optional()
              .describe('Apply errors the target reports, as a DDL the target lacks would cause.'),
            copyMbPerSecond: rateCurve
              .optional()
              .describe(
                "This database's initial copy rate, as steps from the start of the copy: the copy moves " +
                  'sizeGb (GB of 1024³ bytes) at it, instead of taking fullDump + fullDumpPerGb. ' +
                  'Every sim copy reports the bytes it moved, so copy-slow judges it against the expected rate.',
              ),
            applyMbPerSecond: rateCurve
              .optional()
              .describe(
                "The target's apply rate during CDC, as steps from the start of CDC: reported as the position " +
                  'applied so far, which the watcher turns into the apply rate apply-slow judges. ' +
                  'Default: not reported (apply-slow gives no verdict).',
              ),
          })
          .describe("One database's own behaviour."),
      )
      .default({})
      .describe(
        'Per database: its own lag curve, apply errors, copy and apply rates, to rehearse anomaly detection. ' +
          'Default none.',
      ),
    failures: z
      .array(
        z
          .strictObject({
            step: z.enum(SIM_STEPS).describe('The platform call that fails.'),
            database: z.string().optional().describe('Only for this database. Default: every database.'),
            times: z.number().int().min(1).default(1).describe('How many attempts in a row fail.'),
            type: z
              .string()
              .default('SimulatedFailure')
              .describe('A failure type from common/failures.ts; an unknown one is retried like any error.'),
            message: z.string().optional().describe("The failure's message."),
          })
          .describe('A call that fails.'),
      )
      .default([])
      .describe('Calls that fail, to rehearse retries and compensation. Default none.'),
  })
  .describe('platform sim only: how long each step takes, the lag curve, and which calls fail.');
export type SimSettings = z.output<typeof simSchema>;
