// The undo of a cutover that stopped: rollbackCutover, the compensation of the runbook's
// source-blocked phase (docs/architecture.md, The runbook of one database). Before the point of no
// return it gives the source its writes back and never touches the target's data; past it, it
// reopens nothing and says so, so the runbook resumes the cutover or ends NEEDS_ATTENTION instead
// of reporting the source restored.
import type { CutoverUndo } from '../../steps';
import { withClient } from './sessions';
import { resolveClosing, withLease } from './cutover';
import type { CutoverEnv } from './cutover-env';
import { endFence } from './fence';
import { pastPointOfNoReturn, type JobRecord } from './job-record';
import type { Lease } from './lease';
import { setSubscriptionEnabled } from './replication';
import { dropPreparedReverse } from './reverse';

/**
 * Gives the source its writes back after a cutover that stopped before the point of no return:
 * ends a fence session that is still there (PostgreSQL rolls back the lock and the uncommitted
 * close with it, so the source is exactly as before) and starts replication again if the
 * cutover had stopped it. Past the point of no return it changes nothing.
 */
export async function rollbackCutover(env: CutoverEnv): Promise<CutoverUndo> {
  const seen = await env.records.read();
  // A lease without a phase: an attempt began (and may still run, unrecorded fence and all): it is stopped.
  if (!seen.phase && !seen.result && !seen.lease) return { pastPointOfNoReturn: false };
  // Rolled back after the cutover (rollback.ts): the source is open again, by an operator's decision.
  if (seen.reverse?.rollback?.result) return { pastPointOfNoReturn: true };
  if (pastPointOfNoReturn(seen)) return keptClosed(env);
  // The lease first: a cutover attempt still at work (cut off, frozen) is stopped before anything here.
  return withLease(env, (leased, lease, rec) => undo(leased, lease, rec));
}

async function undo(env: CutoverEnv, lease: Lease, rec: JobRecord): Promise<CutoverUndo> {
  return withClient(env.source, async (h) => {
    // First: a hung attempt whose session is gone can no longer commit the close after this check.
    await lease.sweep(h);
    if (rec.block && !pastPointOfNoReturn(rec)) await endFence(h, rec.block);
    await resolveClosing(h, env.names.job, rec, (p) => lease.write(Object.assign(rec, p)));
    if (pastPointOfNoReturn(rec)) return keptClosed(env);
    await withClient(env.target, async (t) => {
      await lease.sweep(t);
      if (rec.subscriptionDisabled) await setSubscriptionEnabled(t, env.names.subscription, true);
      // A slot made for reverse replication would hold the target's WAL (and its database) until
      // the next attempt: the next attempt prepares it again.
      await dropPreparedReverse(t, env.names);
    });
    await lease.clear();
    return { pastPointOfNoReturn: false };
  });
}

/** Past the point of no return the undo changes nothing, the job record included, and says so. */
function keptClosed(env: CutoverEnv): CutoverUndo {
  env.log(
    `rollbackCutover: ${env.source.database} is not reopened: its cutover passed the point of no return ` +
      `(the source was closed and the target took over); reverse replication or an operator decides`,
  );
  return { pastPointOfNoReturn: true };
}
