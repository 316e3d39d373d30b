// How far a rollback after the cutover got (platform.ts, RollbackProgress), for the runbook to read
// a failed rollback by its progress instead of by its error's type (docs/architecture.md, safety
// rule 5). The job record says how far each step got; where it stops at 'closing' (the close may or
// may not have committed) or earlier, the target itself is asked, after ending any block of an
// attempt that outlived its worker: then "before the close" is true and stays true.
import type { RollbackProgress } from '../../steps';
import { readSourceAccess } from './close-source';
import { withClient } from './sessions';
import { closeCommitted } from './cutover';
import type { CutoverEnv } from './cutover-env';
import { endFence } from './fence';

export async function rollbackProgress(env: CutoverEnv): Promise<RollbackProgress> {
  const rec = await env.records.read();
  const rb = rec.reverse?.rollback;
  if (rb?.result) return { stage: 'done', detail: 'rolled back: the source takes the writes' };
  if (rb?.phase === 'switched')
    return {
      stage: 'source-reopened',
      detail:
        `the source took writes again at ${new Date(rb.reopened!.at).toISOString()}; ` +
        'only removing reverse replication is left',
    };
  if (rb?.phase === 'closed')
    return {
      stage: 'target-closed',
      detail: 'the rollback closed the target and has not reopened the source yet',
    };
  if (!rb?.phase) return { stage: 'none', detail: 'no rollback attempt is recorded: the target takes writes' };
  return withClient(env.target, async (tg) => {
    // First: a block that outlived its attempt can no longer close the target once it is ended.
    const ended = rb.block ? await endFence(tg, rb.block) : false;
    if (rb.phase === 'closing' && rb.close && (await closeCommitted(tg, env.names.job, rb.close.token)))
      return {
        stage: 'target-closed',
        detail: "the rollback's close of the target committed and the source is not reopened yet",
      };
    const fences = await tg.query<{ pid: number }>(
      `select pid from pg_stat_activity where datname = current_database() and application_name = 'dbmig fence'`,
    );
    const access = await readSourceAccess(tg);
    const before = rb.close?.before;
    const changed = before && (access.readOnly !== before.readOnly || access.acl !== before.acl);
    if (fences.rowCount || changed)
      return {
        stage: 'unverified',
        detail:
          'the rollback stopped before its close committed, but the target cannot be shown to take writes: ' +
          (fences.rowCount
            ? `a dbmig fence session (pid ${fences.rows.map((r) => r.pid).join(', ')}) still holds it`
            : `its access differs from before the rollback (read-only default ${access.readOnly ?? 'unset'})`),
      };
    return {
      stage: 'target-open',
      detail:
        `the rollback stopped at "${rb.phase}", before its close committed; ` +
        (ended ? 'its block, which outlived it, was ended; ' : '') +
        "no dbmig block is held and the target's access is as before: the target takes writes",
    };
  });
}
