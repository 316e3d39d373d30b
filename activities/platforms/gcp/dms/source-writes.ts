// The RDS flow's wait for the source's writes to stop (dms/phases.ts): a MySQL source whose
// migration user has no SUPER (Amazon RDS, Aurora) gets its initial dump only once "writing [is]
// stopped to the source database", until "the status changes to Running | Full dump in progress"
// (about 20 seconds; https://cloud.google.com/database-migration/docs/mysql/rds-no-superuser).
//
// Where the worker reaches the source (source.access 'direct'), it stops them itself with the
// cutover's fence session (engines/mysql/fence-session.ts): LOCK TABLES ... READ on every base
// table of the database, on a session the SERVER drops at cutover.timeout whatever happens to this
// worker (rule 2), under the job's fence lock name, so a retry's endStaleMysqlFences ends a session
// a hung attempt left. Reads go on (DMS's dump reads); the lock is released as soon as DMS shows
// the dump under way. Elsewhere (source.access 'dms-only') the operator is told, in the
// replication status's detail, what to do and when to stop.
import { cutoverLimits } from '../../../../common/plan-settings';
import { baseTables, FenceSession } from '../../../engines/mysql/fence-session';
import { endStaleMysqlFences, mysqlFenceLockName } from '../../../engines/mysql/fence';
import { withMysql } from '../../../engines/mysql/sessions';
import type { DatabaseTask } from '../../../steps';
import type { GcpClients } from '../clients';
import { fenceJob, fencesOverSql, sourceParams } from '../cutover/fence';
import { gcpNames } from '../names';
import type { PollOptions } from '../poll';
import { getJob } from './job';
import { describeJob, waitsForWritesToStop } from './phases';

export type WritesStop = 'not waiting' | 'operator' | 'stopped by the worker';

/**
 * When DMS waits for the source's writes to stop: stops them for the time it needs where the worker
 * reaches the source ('stopped by the worker'), else leaves it to the operator ('operator').
 */
export async function stopWritesForDump(
  c: GcpClients,
  task: DatabaseTask,
  poll: PollOptions,
  progress: (step: string) => void = () => {},
): Promise<WritesStop> {
  const first = await getJob(c, task);
  if (!first || !waitsForWritesToStop(first)) return 'not waiting';
  if (task.database.engine !== 'mysql' || !fencesOverSql(task)) return 'operator';
  const job = fenceJob(task);
  const { timeoutMs } = cutoverLimits(task.settings);
  const source = await sourceParams(task);
  return withMysql(source, async (h): Promise<WritesStop> => {
    await endStaleMysqlFences(h, job);
    const fence = await FenceSession.open(source, mysqlFenceLockName(job), await baseTables(h), timeoutMs);
    progress(
      `DMS job ${gcpNames(task).migrationJob} is ${describeJob(first)}: the source's writes are stopped ` +
        `(LOCK TABLES ... READ, until ${new Date(fence.deadline).toISOString()} at most) until its dump begins`,
    );
    try {
      for (;;) {
        const now = await getJob(c, task);
        if (!now || !waitsForWritesToStop(now)) return 'stopped by the worker';
        if (!(await fence.alive(h)) || Date.now() >= fence.deadline)
          throw new Error(
            `DMS job ${gcpNames(task).migrationJob} still waits for the source's writes to stop ` +
              `(${describeJob(now)}) after cutover.timeout; the source takes writes again (retryable)`,
          );
        await new Promise((r) => setTimeout(r, Math.min(poll.intervalMs, 1_000)));
      }
    } finally {
      await fence.end();
    }
  });
}
