// What the snapshot copy has done, kept on the TARGET in dbmig's own schema (which publications,
// pg_dump and validation leave out), so any worker on any host resumes it:
//   dbmig.copy_state(job)   the slot, the snapshot its keeper holds open (snapshot-keeper.ts), the
//                           LSN the slot starts at, and whether the copy and the indexes are done;
//   dbmig.copy_range(job, table, first_block)  one row per range, with `done_at` set in the same
//                           transaction that COPYs the range's rows into the table: a range is
//                           copied again after a crash, never twice into the table.
import type pg from 'pg';

export interface CopyState {
  job: string;
  slot: string;
  /** The exported snapshot's name, once the keeper has created the slot. */
  snapshot: string | null;
  /** The slot's consistent point: the subscription's changes start exactly here. */
  consistentLsn: string | null;
  keeperPid: number | null;
  /** Set when the keeper may end: the rows are copied (or the job is being removed). */
  releasedAt: Date | null;
  rangesPlanned: boolean;
  postDataDone: boolean;
  /** How many times the copy started over because the snapshot was lost with its keeper. */
  restarts: number;
  /** Why the keeper could not create the slot, when it could not. */
  keeperError: string | null;
}

export interface CopyRange {
  table: string;
  /** Heap blocks [firstBlock, endBlock); endBlock null: to the end of the table; both null: the whole table. */
  firstBlock: number | null;
  endBlock: number | null;
  /** Pages the range covers at planning time (relpages share): its weight in the progress. */
  pages: number;
  rows: number | null;
  bytes: number | null;
  done: boolean;
}

export async function ensureCopyTables(t: pg.Client): Promise<void> {
  await t.query(`create schema if not exists dbmig`);
  await t.query(`create table if not exists dbmig.copy_state (
      job text primary key, slot text not null, snapshot text, consistent_lsn pg_lsn, keeper_pid int,
      released_at timestamptz, ranges_planned boolean not null default false,
      post_data_done boolean not null default false, restarts int not null default 0)`);
  // Why the keeper could not make the slot (its server's words; never a connection string).
  await t.query(`alter table dbmig.copy_state add column if not exists keeper_error text`);
  await t.query(`create table if not exists dbmig.copy_range (
      job text not null, tbl text not null, first_block bigint, end_block bigint, pages bigint not null,
      rows bigint, bytes bigint, done_at timestamptz)`);
  // A whole-table range has no first block: coalesce keeps one row per range on any server version.
  await t.query(
    `create unique index if not exists copy_range_key on dbmig.copy_range (job, tbl, coalesce(first_block, -1))`,
  );
}

export async function readCopyState(t: pg.Client, job: string): Promise<CopyState | undefined> {
  const exists = await t.query(`select to_regclass('dbmig.copy_state') is not null as ok`);
  if (!exists.rows[0].ok) return undefined;
  const { rows } = await t.query(
    `select job, slot, snapshot, consistent_lsn::text as lsn, keeper_pid, released_at, ranges_planned,
            post_data_done, restarts, keeper_error from dbmig.copy_state where job = $1`,
    [job],
  );
  if (!rows.length) return undefined;
  const r = rows[0];
  return {
    job: r.job,
    slot: r.slot,
    snapshot: r.snapshot,
    consistentLsn: r.lsn,
    keeperPid: r.keeper_pid,
    releasedAt: r.released_at,
    rangesPlanned: r.ranges_planned,
    postDataDone: r.post_data_done,
    restarts: r.restarts,
    keeperError: r.keeper_error,
  };
}

/** A fresh state for `job` (get-or-create); the keeper fills in the snapshot. */
export async function startCopyState(t: pg.Client, job: string, slot: string): Promise<void> {
  await t.query(`insert into dbmig.copy_state (job, slot) values ($1, $2) on conflict (job) do nothing`, [job, slot]);
}

export async function readRanges(t: pg.Client, job: string): Promise<CopyRange[]> {
  const { rows } = await t.query(
    `select tbl, first_block, end_block, pages, rows, bytes, done_at is not null as done
       from dbmig.copy_range where job = $1 order by pages desc, tbl, first_block nulls first`,
    [job],
  );
  return rows.map((r) => ({
    table: r.tbl,
    firstBlock: r.first_block === null ? null : Number(r.first_block),
    endBlock: r.end_block === null ? null : Number(r.end_block),
    pages: Number(r.pages),
    rows: r.rows === null ? null : Number(r.rows),
    bytes: r.bytes === null ? null : Number(r.bytes),
    done: r.done,
  }));
}

/** The ranges, written once in one transaction with the flag that says they are planned. */
export async function saveRanges(t: pg.Client, job: string, ranges: CopyRange[]): Promise<void> {
  await t.query('begin');
  try {
    for (const r of ranges)
      await t.query(
        `insert into dbmig.copy_range (job, tbl, first_block, end_block, pages) values ($1, $2, $3, $4, $5)
         on conflict do nothing`,
        [job, r.table, r.firstBlock, r.endBlock, r.pages],
      );
    await t.query(`update dbmig.copy_state set ranges_planned = true where job = $1`, [job]);
    await t.query('commit');
  } catch (err) {
    await t.query('rollback').catch(() => undefined);
    throw err;
  }
}

/**
 * Inside the transaction that copied the range's rows: the range is done exactly when its rows are
 * there. Two attempts copying one range (a superseded one still running beside its successor, on
 * one worker or two) meet on the range's row lock: the second sees `done_at` set and rolls back.
 * Rows read in `snapshot` land only while the copy still uses it: an attempt that outlived a copy
 * started over in a new snapshot (its keeper lost) cannot mark the new copy's range, whose
 * restart truncated the tables in the transaction that forgot the old ranges (snapshot-copy.ts).
 */
export async function markRangeDone(
  t: pg.Client,
  job: string,
  snapshot: string,
  r: CopyRange,
  rows: number,
  bytes: number,
  /** Who copied it (copy-claims.ts claimantName), where the copied_by column exists. */
  by?: string,
) {
  const { rowCount } = await t.query(
    `update dbmig.copy_range r set done_at = now(), rows = $4, bytes = $5${by ? ', copied_by = $7' : ''}
       from dbmig.copy_state s
      where r.job = $1 and r.tbl = $2 and r.first_block is not distinct from $3 and r.done_at is null
        and s.job = r.job and s.snapshot = $6`,
    [job, r.table, r.firstBlock, rows, bytes, snapshot, ...(by ? [by] : [])],
  );
  // Another attempt committed this range first, or the copy started over: ours must not land.
  if (rowCount !== 1) throw new Error(`range ${describeRange(r)} was copied by another attempt`);
}

/**
 * The copy starts over (its snapshot was lost with its keeper): the target's tables emptied and the
 * old ranges forgotten in ONE transaction. An attempt still copying in the old snapshot either
 * committed its range before the truncate (which then empties it), or gets the table only after
 * this commits and finds the new state, which it cannot mark (markRangeDone): never twice.
 */
export async function startOver(t: pg.Client, job: string, slot: string, tables: string[], restarts: number) {
  await t.query('begin');
  try {
    if (tables.length) await t.query(`truncate ${tables.join(', ')}`);
    await forgetCopy(t, job);
    await startCopyState(t, job, slot);
    await t.query(`update dbmig.copy_state set restarts = $2 where job = $1`, [job, restarts]);
    await t.query('commit');
  } catch (err) {
    await t.query('rollback').catch(() => undefined);
    throw err;
  }
}

export async function releaseKeeper(t: pg.Client, job: string): Promise<void> {
  if (!(await t.query(`select to_regclass('dbmig.copy_state') is not null as ok`)).rows[0].ok) return;
  await t.query(`update dbmig.copy_state set released_at = coalesce(released_at, now()) where job = $1`, [job]);
}

/** Everything about `job`'s copy, before it starts over or when the job is removed. */
export async function forgetCopy(t: pg.Client, job: string): Promise<void> {
  if (!(await t.query(`select to_regclass('dbmig.copy_state') is not null as ok`)).rows[0].ok) return;
  await t.query(`delete from dbmig.copy_range where job = $1`, [job]);
  await t.query(`delete from dbmig.copy_state where job = $1`, [job]);
}

/** Removes `job`'s copy and, once no job's copy is left, the tables (dbmig's schema can then go: owned.ts). */
export async function removeCopyTables(t: pg.Client, job: string): Promise<void> {
  await forgetCopy(t, job);
  if (!(await t.query(`select to_regclass('dbmig.copy_state') is not null as ok`)).rows[0].ok) return;
  const left = await t.query(`select 1 from dbmig.copy_state limit 1`);
  if (!left.rowCount) await t.query(`drop table if exists dbmig.copy_range, dbmig.copy_state`);
}

export function describeRange(r: Pick<CopyRange, 'table' | 'firstBlock' | 'endBlock'>): string {
  if (r.firstBlock === null) return `${r.table} (whole)`;
  return `${r.table} blocks ${r.firstBlock}..${r.endBlock ?? 'end'}`;
}
