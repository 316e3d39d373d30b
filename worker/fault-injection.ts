// Opt-in fault injection for the reliability benchmark (bench/reliability.ts). OFF unless the
// environment variable DBMIG_FAULT_HOLD_AFTER is set: without it no interceptor is installed at all.
//
//   DBMIG_FAULT_HOLD_AFTER=<activityType>[/<argument>][:<ms>]   e.g. cutover, validateData/final:60000
//   DBMIG_FAULT_MARKER=<file>                                     optional: written when the hold begins
//
// The named activity does its work; then, on its first attempt only and once per process, the
// worker holds the result for <ms> (default 10 minutes) instead of reporting it. The marker says
// the effect is applied and the completion not yet sent, so a SIGKILL then lands in the worst
// spot: the world has changed and Temporal does not know. Local steps take milliseconds, which
// makes a kill "while the step runs" racy without this. `/<argument>` narrows the match to calls
// with that string argument (validateData runs twice: `live`, then `final`).
import { randomBytes } from 'node:crypto';
import { renameSync, writeFileSync } from 'node:fs';
import { Context } from '@temporalio/activity';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';

export const HOLD_AFTER_ENV = 'DBMIG_FAULT_HOLD_AFTER';
export const MARKER_ENV = 'DBMIG_FAULT_MARKER';
const DEFAULT_HOLD_MS = 10 * 60_000;

export interface FaultSpec {
  activityType: string;
  argument?: string;
  holdMs: number;
}

/** What the marker file holds: enough for the bench to find the held attempt in the history. */
export interface FaultMarker {
  activityType: string;
  argument?: string;
  activityId: string;
  workflowId?: string;
  attempt: number;
  pid: number;
  /** When the hold began, ms since the epoch. */
  at: number;
}

export function parseFaultSpec(text: string): FaultSpec {
  const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:\/([^:]+))?(?::(\d+))?$/.exec(text.trim());
  if (!m) throw new Error(`${HOLD_AFTER_ENV}=${text}: expected <activityType>[/<argument>][:<ms>]`);
  return { activityType: m[1], ...(m[2] ? { argument: m[2] } : {}), holdMs: m[3] ? Number(m[3]) : DEFAULT_HOLD_MS };
}

/** Replaced by rename, so the bench never reads half a marker. 0600: it is nobody else's business. */
function writeMarker(file: string, marker: FaultMarker): void {
  const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, JSON.stringify(marker), { mode: 0o600 });
  renameSync(tmp, file);
}

/**
 * The activity interceptors for `createMigrationWorker`, or undefined when fault injection is off
 * (the production case: DBMIG_FAULT_HOLD_AFTER unset).
 */
export function faultInjectionInterceptors(
  env: NodeJS.ProcessEnv = process.env,
): ActivityInterceptorsFactory[] | undefined {
  const text = env[HOLD_AFTER_ENV];
  if (!text) return undefined;
  const spec = parseFaultSpec(text);
  const markerFile = env[MARKER_ENV];
  let held = false; // once per process: a worker that was not killed goes on normally
  process.stderr.write(
    `dbmig worker: FAULT INJECTION ON: holding the result of ${text} (attempt 1) for ${spec.holdMs} ms\n`,
  );
  const factory: ActivityInterceptorsFactory = (ctx: Context) => ({
    inbound: {
      async execute(input, next) {
        const result = await next(input);
        const { activityType, attempt, activityId, workflowExecution } = ctx.info;
        const matches =
          activityType === spec.activityType &&
          (spec.argument === undefined || input.args.some((a) => a === spec.argument));
        if (held || !matches || attempt !== 1) return result;
        held = true;
        const marker: FaultMarker = {
          activityType,
          ...(spec.argument ? { argument: spec.argument } : {}),
          activityId,
          workflowId: workflowExecution?.workflowId,
          attempt,
          pid: process.pid,
          at: Date.now(),
        };
        if (markerFile) writeMarker(markerFile, marker);
        // No heartbeat while holding: to the server this is a worker that hung after the effect.
        await ctx.sleep(spec.holdMs);
        return result;
      },
    },
  });
  return [factory];
}
