// The post-cutover watcher (activity): while a COMPLETED database keeps its rollback possible, it
// looks at reverse replication every few seconds (the platform's watchReverse) and tells the
// workflow only when what it reports changes: a break, a recovery, new writes on the closed source.
// Everything else travels in heartbeat details, so weeks of watching add no history (safety rule 4).
// It runs until the workflow cancels it; a retry resumes from the last heartbeat.
import { Context, log } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';
import { reverseHealthSignal, type ReverseHealth } from '../common/messages';
import type { DatabaseTask, ReverseWatch } from './steps';
import type { MigrationPlatform } from './platforms/platform';

/** What the watcher heartbeats and resumes from. */
export interface ReverseWatchProgress {
  /** Row changes found on the closed source so far, by "table kind". */
  writes: Record<string, number>;
  /** Sessions seen on the closed source when writes were found (at most MAX_SESSIONS). */
  sessions: string[];
  firstWriteAt?: string;
  problem?: string;
  /** The apply error count the watch began with, and when the count last grew (ms). */
  baselineErrors?: number;
  lastErrors?: number;
  lastErrorAt?: number;
  unwatched?: string;
  /** Read up to here and told: the slot is moved past it (again, if the last move failed). */
  pendingUpTo?: string;
  /** What the workflow was last told. */
  toldOk: boolean;
  toldWrites: string;
  at: string;
}

const MAX_SESSIONS = 10;
/** New apply errors this recent mean reverse replication is failing now (PostgreSQL retries every ~5 s). */
const STILL_FAILING_MS = 60_000;

/** The cumulative description the status shows; empty while nothing was written. */
export function describeSourceWrites(p: ReverseWatchProgress): string {
  const entries = Object.entries(p.writes);
  if (!entries.length) return '';
  const n = entries.reduce((sum, [, c]) => sum + c, 0);
  const byTable = entries.map(([k, c]) => `${k.replace(' ', ': ')} ${c}`).join(', ');
  const who = p.sessions.length
    ? `sessions connected to it then: ${p.sessions.join('; ')}`
    : 'no session other than dbmig was still connected when they were found';
  const since = `since ${p.firstWriteAt} not made by reverse replication`;
  return `${n} row change(s) on the closed source ${since} (${byTable}); ${who}`;
}

export function reverseWatchActivity(platformOf: (task: DatabaseTask) => MigrationPlatform | undefined) {
  return async function watchReverseReplication(task: DatabaseTask, pollMs = 2_000): Promise<void> {
    const platform = platformOf(task);
    if (!platform?.watchReverse) return; // nothing to watch on this platform
    const ctx = Context.current();
    const p: ReverseWatchProgress = (ctx.info.heartbeatDetails as ReverseWatchProgress | undefined) ?? {
      writes: {},
      sessions: [],
      toldOk: true,
      toldWrites: '',
      at: new Date().toISOString(),
    };
    const beat = setInterval(() => ctx.heartbeat(p), 5_000);
    const advance = async (upTo: string) => {
      await platform.advanceReverseWatch?.(task, upTo);
      if (p.pendingUpTo === upTo) p.pendingUpTo = undefined;
    };
    try {
      for (;;) {
        let problem: string | undefined;
        /** This look's writes added to the ones told before; kept only once the workflow knows them. */
        let seen = p.writes;
        let upTo: string | undefined;
        try {
          if (p.pendingUpTo) await advance(p.pendingUpTo);
          const w: ReverseWatch = await platform.watchReverse(task);
          upTo = w.watchedUpTo;
          const now = Date.now();
          if (w.applyErrors !== undefined) {
            p.baselineErrors ??= w.applyErrors;
            if (p.lastErrors !== undefined && w.applyErrors > p.lastErrors) p.lastErrorAt = now;
            p.lastErrors = w.applyErrors;
          }
          const newErrors = (p.lastErrors ?? 0) - (p.baselineErrors ?? 0);
          problem =
            w.problem ??
            (newErrors > 0 && p.lastErrorAt !== undefined && now - p.lastErrorAt < STILL_FAILING_MS
              ? `reverse replication (target to source) is broken: the source failed to apply it ${newErrors} ` +
                'time(s) since the watch began (see the source log; DDL on the target is the usual cause)'
              : undefined);
          seen = { ...p.writes };
          for (const x of w.sourceWrites as ReverseWatch['sourceWrites']) {
            const key = `${x.table} ${x.kind}`;
            seen[key] = (seen[key] ?? 0) + x.count;
          }
          if (w.sourceWrites.length) p.firstWriteAt ??= new Date(now).toISOString();
          for (const s of w.sessions)
            if (!p.sessions.includes(s) && p.sessions.length < MAX_SESSIONS) p.sessions.push(s);
          p.unwatched = w.unwatched;
        } catch (err) {
          if (ctx.cancellationSignal.aborted) throw err;
          problem = `reverse replication cannot be read: ${(err as Error).message}`;
        }
        p.problem = problem;
        p.at = new Date().toISOString();
        ctx.heartbeat(p);
        const ok = problem === undefined;
        const writes = describeSourceWrites({ ...p, writes: seen });
        let told = true;
        if (ok !== p.toldOk || writes !== p.toldWrites) {
          const h: ReverseHealth = {
            ok,
            ...(problem ? { problem } : {}),
            ...(writes ? { sourceWrites: writes } : {}),
            at: p.at,
          };
          const sent = await tell(h);
          if (sent === 'closed') return;
          if (sent) [p.toldOk, p.toldWrites] = [ok, writes];
          told = sent;
        }
        if (told) {
          // The workflow knows what was read: only now is the slot moved past it.
          p.writes = seen;
          if (upTo) {
            p.pendingUpTo = upTo;
            ctx.heartbeat(p);
            await advance(upTo).catch(() => undefined);
          }
        }
        await ctx.sleep(pollMs);
      }
    } finally {
      clearInterval(beat);
    }
  };
}

/** Tells the workflow; a lost signal is sent again on the next poll. */
async function tell(h: ReverseHealth): Promise<boolean | 'closed'> {
  const { workflowId, runId } = Context.current().info.workflowExecution!;
  try {
    await Context.current().client.workflow.getHandle(workflowId, runId).signal(reverseHealthSignal, h);
    return true;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return 'closed';
    log.warn('could not tell the workflow about reverse replication', { error: (err as Error).message });
    return false;
  }
}
