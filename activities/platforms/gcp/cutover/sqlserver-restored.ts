// The SQL Server cutover's wait for DMS to restore every uploaded backup (cutover/sqlserver.ts): the
// database's object must be READY_FOR_PROMOTE with an updateTime at or after the tail-log backup's
// upload; without that time, READY_FOR_PROMOTE read twice settleMs apart, unchanged.
// (https://cloud.google.com/database-migration/docs/sqlserver/finalize-migration: "determine when
// Database Migration Service processed all files".)
import { formatDuration } from '../../../../common/durations';
import { MigrationError } from '../../../../common/failures';
import { type DatabaseTask } from '../../../steps';

type Progress = (step: string) => void;

/** The database's MigrationJobObject, as the cutover reads it. */
export interface ObjectReading {
  state?: string;
  phase?: string;
  updateTime?: string;
}

export interface RestoreReader {
  /** The database's job object (migrationJobs.objects.list). */
  databaseObject(): Promise<ObjectReading | undefined>;
  /** The fallback's interval between two READY_FOR_PROMOTE reads (default 60 s). */
  settleMs?: number;
  jobPollMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Until the database's object shows every backup up to `after` restored (see the header). */
export async function waitRestored(
  task: DatabaseTask,
  deps: RestoreReader,
  after: Date | undefined,
  until: number,
  progress: Progress,
): Promise<void> {
  const settleMs = deps.settleMs ?? 60_000;
  const pollMs = Math.min(deps.jobPollMs ?? 1_000, settleMs);
  let ready: { updateTime?: string; at: number } | undefined;
  const started = Date.now();
  for (;;) {
    const o = await deps.databaseObject();
    if (o?.state === 'FAILED')
      throw new MigrationError('ReplicationBroken', `DMS failed to restore ${task.database.source.database}`);
    const isReady = o?.phase === 'READY_FOR_PROMOTE';
    if (isReady && after && o.updateTime && Date.parse(o.updateTime) >= after.getTime()) return;
    if (isReady && !after) {
      if (ready && ready.updateTime === o.updateTime && Date.now() - ready.at >= settleMs) return;
      if (!ready || ready.updateTime !== o.updateTime) ready = { updateTime: o.updateTime, at: Date.now() };
    } else ready = undefined;
    if (Date.now() + pollMs > until)
      throw new MigrationError(
        'CutoverNotReady',
        `not promoting: in ${formatDuration(Date.now() - started)} DMS did not show database ` +
          `${task.database.source.database} READY_FOR_PROMOTE after the tail-log backup ` +
          `(it is ${o?.phase ?? 'not listed'})`,
      );
    progress(`database ${task.database.source.database} is ${o?.phase ?? 'not listed'} in DMS`);
    await sleep(pollMs);
  }
}
