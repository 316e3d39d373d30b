// The gcp cutover: DMS carries the writes, the worker stops them and proves they arrived, then DMS
// promotes. Google's procedure for a loss-less promotion is "stop all writes ... wait until the
// replication delay is at zero ... promote" (https://cloud.google.com/database-migration/docs/postgres/promote-migration,
// .../postgresql-to-alloydb/promote-migration, .../mysql/promote-migration). Where the worker reaches a
// PostgreSQL source (source.access 'direct') it does the first two steps itself, with the local
// platform's fence (engines/postgres/fence.ts, engines/postgres/close-source.ts):
//
//   gate      the job is RUNNING in CDC, the target has dbmig.fence (cutover/fence.ts: created on the
//             source before the job started, or DMS would not carry it), no prepared transactions,
//             a token written now reaches the target within cutover.maxLagSeconds, and a DMS lag
//             sample taken after the cutover began reads at most cutover.maxLagSeconds (Google's
//             "replication delay at zero"). The metric is sampled every 60 s and published up to
//             180 s late, so this waits minutes; it does so here, before anything is blocked,
//             which keeps the block short. A failure leaves the database replicating.
//   block     a fence session locks every table DMS carries IN SHARE MODE; PostgreSQL ends it at the
//             deadline (cutover.timeout from the LOCK) whatever happens to this worker (rule 2).
//   drain     a fresh token in dbmig.fence, written after the lock, must show on the TARGET (read
//             over SQL: DMS applies in commit order, so every write committed before the lock is
//             there, rule 3). The token is the proof; no time or lag is guessed.
//   mark      the target gets its took-over label (took-over.ts, target-mark.ts) before anything is
//             blocked: from then on no later run provisions, demotes or deletes it.
//   close     a second session (also a fence: the same server-side deadline) runs closeSource
//             (CONNECT revoked, read-only by default) and records what it took on the source
//             (source-close-record.ts) in the same transaction, and COMMITS, while the lock holds;
//             every other session is then ended (writers queued behind the lock exit rolled back).
//             The drain must leave gcp.promoteTimeout plus a margin each to close and to reopen
//             before the deadline; a plan whose cutover.timeout cannot hold that is refused before
//             anything is blocked (cutover/dms.ts requireDeadlineCoversPromote).
//   promote   migrationJobs.promote. Its acceptance is the POINT OF NO RETURN: DMS stops reading
//             the source, which is closed already, so no write can land where DMS no longer reads,
//             whether the promote is slow or the worker dies right after it. The source stays
//             closed until DMS's answer is KNOWN (promote-outcome.ts): accepted (the request
//             returned, or the job shows PROMOTE_IN_PROGRESS/COMPLETED, or its promote operation is
//             done) it stays closed for good and the lock is released; refused (the request failed,
//             the job is not promoting and no promote operation runs) the source is reopened from
//             its record and the cutover fails retryably with replication running. An answer
//             still unknown at the deadline releases the lock only: the close holds, and the wait
//             goes on (a source closed a little longer loses nothing; a write after the promote does).
//
// A retry first ends fence sessions an earlier attempt left (a hung worker). If the job is past
// the point of no return (phase PROMOTE_IN_PROGRESS, or COMPLETED) it never blocks again: it makes
// sure the source is closed, ends the sessions that connected before the close, and awaits the
// promotion. If the job is not past it but the source carries an earlier attempt's close record,
// the retry reads DMS (the job and its promote operation) until the promote's outcome is known, and
// only a promote known not to have happened reopens the source. A source found OPEN after DMS
// promoted (a promote by hand) is closed and reported as a failure naming the gap, durably (the
// close record says so), never only in a progress line.
//
// Without SQL access (source.access 'dms-only') no fence is possible: the operator stops the
// writes before approving, and the cutover promotes only after a lag sample taken after it began
// reads at most cutover.maxLagSeconds. MySQL sources with 'direct' access get the same shape with
// MySQL's means (LOCK TABLES, read_only): cutover/mysql.ts.
import { withClient } from '../../../engines/postgres/sessions';
import { MigrationError } from '../../../../common/failures';
import { type CutoverResult, type DatabaseTask } from '../../../steps';
import type { GcpCutoverDeps } from './dms';
import { dmsOnlyCutover } from './dms-only';
import { fencesOverSql, sourceParams } from './fence';
import { mysqlFencedCutover } from './mysql';
import { FencedCutover } from './postgres';
import { sqlServerCutover, type SqlServerCutoverDeps } from './sqlserver';

export { promoted, type GcpCutoverDeps, type LagReading } from './dms';

type Progress = (step: string) => void;

/**
 * Why this task cannot have a fenced cutover, or undefined: for the assessment, so a plan learns
 * it before the migration runs rather than at the cutover.
 */
export function cutoverRefusal(task: DatabaseTask): string | undefined {
  void task; // every engine has a fence now (MySQL: cutover/mysql.ts); kept for the assessment's call
  return undefined;
}

export async function gcpCutover(
  task: DatabaseTask,
  deps: GcpCutoverDeps & Partial<SqlServerCutoverDeps>,
  onProgress: Progress,
): Promise<CutoverResult> {
  const endpoint = `${task.database.target.kind}://${task.gcp!.project}/${task.database.target.instance}`;
  const result = (writeBlockMs: number): CutoverResult => ({
    endpoint,
    finalLsn: 'n/a (DMS)',
    sequencesCopied: 0,
    writeBlockMs,
  });
  const refusal = cutoverRefusal(task);
  if (refusal) throw new MigrationError('InvalidPlan', refusal);
  // SQL Server: the tail-log backup is the fence (cutover/sqlserver.ts).
  if (task.database.engine === 'sqlserver') return result(await sqlServerCutover(task, deps, onProgress));
  if (!fencesOverSql(task)) return result(await dmsOnlyCutover(task, deps, onProgress));
  if (!deps.target)
    // Permanent: nothing changes between retries, and a guess (lag alone) is what rule 3 forbids.
    throw new MigrationError(
      'PlatformUnavailable',
      `not cutting over ${task.database.name}: the worker cannot reach the target over SQL, so it cannot see ` +
        'the fence arrive; nothing was blocked. Give the worker SQL access to the target (its private IP on the ' +
        "plan's network, target.user and target.passwordRef), or set source.access: dms-only and stop the " +
        'writes by hand',
    );
  const source = deps.source ?? (await sourceParams(task));
  if (task.database.engine === 'mysql')
    return result(await mysqlFencedCutover(task, deps, source, deps.target, onProgress));
  return withClient(source, (h) =>
    withClient(deps.target!, async (t) => {
      const cut = new FencedCutover(task, deps, source, h, t, onProgress);
      return result(await cut.run());
    }),
  );
}
