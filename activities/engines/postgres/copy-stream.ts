// One copy stream: a source session inside the keeper's snapshot and a target session, moving one
// range at a time with COPY … TO STDOUT piped into COPY … FROM STDIN. The target commits a range's
// rows together with its done mark (copy-state.ts), so a crash at any instant leaves the range
// either whole and marked, or absent and copied again.
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { pauseAt } from '../../fault-pause';
import { copyColumns, rangeQuery } from './copy-ranges';
import { markRangeDone, type CopyRange } from './copy-state';

export interface StreamSessions {
  /** In a REPEATABLE READ transaction that SET the keeper's snapshot. */
  src: pg.Client;
  target: pg.Client;
  /** That snapshot's name: a range's rows land only while the copy still uses it (markRangeDone). */
  snapshot: string;
  /** Who copies (copy-claims.ts claimantName): kept with the range's done mark. */
  by?: string;
}

/** Opens the snapshot on `src`: every range this session reads sees the rows exactly as the slot began. */
export async function enterSnapshot(src: pg.Client, snapshot: string): Promise<void> {
  await src.query('begin isolation level repeatable read read only');
  await src.query(`set transaction snapshot '${snapshot.replace(/'/g, "''")}'`);
  // A throttled stream waits between ranges inside this transaction (throttle.ts): the source's own
  // idle-in-transaction timeout must not end it there.
  await src.query('set local idle_in_transaction_session_timeout = 0');
}

/** Copies `r` and marks it done in the same target transaction; returns the rows and bytes moved. */
export async function copyRange(
  s: StreamSessions,
  job: string,
  r: CopyRange,
  binary: boolean,
  onBytes: (n: number) => void,
  /** Whether the copy/range-streaming fault point may pause here (once some range is done). */
  mayPause = false,
): Promise<{ rows: number; bytes: number }> {
  const columns = await copyColumns(s.src, r.table);
  const format = binary ? '(format binary)' : '';
  let bytes = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      onBytes(chunk.length);
      // Tests kill the worker here: some of the range's rows have reached the target, uncommitted.
      if (mayPause && bytes > 64 * 1024) pauseAt('copy/range-streaming').then(() => done(null, chunk), done);
      else done(null, chunk);
    },
  });
  await s.target.query('begin');
  try {
    const out = s.src.query(copyTo(`copy (${rangeQuery(r, columns)}) to stdout ${format}`));
    const into = s.target.query(copyFrom(`copy ${r.table} (${columns.join(', ')}) from stdin ${format}`));
    await pipeline(out, counter, into);
    const rows = Number((into as unknown as { rowCount?: number }).rowCount ?? 0);
    await markRangeDone(s.target, job, s.snapshot, r, rows, bytes, s.by);
    await s.target.query('commit');
    return { rows, bytes };
  } catch (err) {
    await s.target.query('rollback').catch(() => undefined);
    throw err;
  }
}
