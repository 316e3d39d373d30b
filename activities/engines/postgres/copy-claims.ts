// Who copies which range now, when several worker processes copy one database: each takes the next
// range no one holds from dbmig.copy_range on the target (FOR UPDATE SKIP LOCKED, so two never
// take the same one) and writes a lease on it, renewed while it copies. A claim is only a way to
// share the work: what keeps a range's rows from landing twice is still its done mark, set in the
// transaction that copies its rows (copy-state.ts markRangeDone). A holder that dies, or freezes
// and stops renewing, loses its range when the lease runs out and another process copies it again;
// should the first wake up and finish, its mark finds the range done and its rows roll back.
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { CopyRange } from './copy-state';
import { withClient, type ConnectionParams } from './sessions';

/**
 * How long a claim holds without renewal. Renewed every third of it: a killed holder's range is
 * taken again within this, a frozen one's too; shorter would let a stall of the target (a
 * checkpoint, a lock) pass a live holder's range to another, which costs a copy, never a row.
 */
export const CLAIM_LEASE_MS = 30_000;

/** Who holds a range, and (copied_by, set with its done mark) who copied it: host:pid:attempt. */
export async function ensureClaimColumns(t: pg.Client): Promise<void> {
  await t.query(
    `alter table dbmig.copy_range add column if not exists claimed_by text,
       add column if not exists claimed_until timestamptz, add column if not exists copied_by text`,
  );
}

/** A name for one participant in one process: the host and pid say where, the rest tells attempts apart. */
export function claimantName(): string {
  return `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
}

/** The largest range nobody holds and nobody has copied, now held by `me`; undefined when none is free. */
export async function claimRange(t: pg.Client, job: string, me: string): Promise<CopyRange | undefined> {
  const { rows } = await t.query(
    `update dbmig.copy_range r set claimed_by = $2, claimed_until = now() + $3 * interval '1 millisecond'
      where r.ctid = (select ctid from dbmig.copy_range
                       where job = $1 and done_at is null and (claimed_until is null or claimed_until < now())
                       order by pages desc, tbl, first_block nulls first
                       limit 1 for update skip locked)
      returning tbl, first_block, end_block, pages`,
    [job, me, CLAIM_LEASE_MS],
  );
  if (!rows.length) return undefined;
  const r = rows[0];
  return {
    table: r.tbl,
    firstBlock: r.first_block === null ? null : Number(r.first_block),
    endBlock: r.end_block === null ? null : Number(r.end_block),
    pages: Number(r.pages),
    rows: null,
    bytes: null,
    done: false,
  };
}

/** A claim given back (its copy failed): the range is free at once, not when the lease runs out. */
export async function releaseClaim(t: pg.Client, job: string, me: string, r: CopyRange): Promise<void> {
  await t.query(
    `update dbmig.copy_range set claimed_until = null
      where job = $1 and tbl = $2 and first_block is not distinct from $3 and claimed_by = $4 and done_at is null`,
    [job, r.table, r.firstBlock, me],
  );
}

/** Ranges not yet copied, and how many of them someone holds now. */
export async function pendingRanges(t: pg.Client, job: string): Promise<{ pending: number; held: number }> {
  const { rows } = await t.query(
    `select count(*)::int as pending, count(*) filter (where claimed_until >= now())::int as held
       from dbmig.copy_range where job = $1 and done_at is null`,
    [job],
  );
  return rows[0];
}

/** Renews `me`'s claims on `job` every third of the lease, on a session of its own, until stopped. */
export function renewClaims(target: ConnectionParams, job: string, me: string): { stop(): void } {
  const renew = () =>
    withClient(target, (t) =>
      t.query(
        `update dbmig.copy_range set claimed_until = now() + $3 * interval '1 millisecond'
          where job = $1 and claimed_by = $2 and done_at is null and claimed_until is not null`,
        [job, me, CLAIM_LEASE_MS],
      ),
    ).catch(() => undefined); // a missed renewal costs at most a copy again, never a row
  const timer = setInterval(() => void renew(), CLAIM_LEASE_MS / 3);
  return { stop: () => clearInterval(timer) };
}
