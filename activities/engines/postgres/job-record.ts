// The cutover's job record, written after every step so a retry resumes where the last attempt
// stopped. For embedded targets: stateDir/jobs/<job>.json, for any worker of this machine (the
// clusters live here too). It holds connection facts of the source (pids, the ACL), hence mode 0600;
// it is replaced by rename so a crash never leaves half a file. For existing servers (kind
// postgres), workers keep no state: the record lives with the target database (dbmig.job_record),
// so any worker on any host resumes from it.
//
// Every write is a compare-and-swap on the job's lease (lease.ts): an attempt that works on the job
// takes the lease first (the epoch moves on by one, with a token of its own), and a write or a
// clear goes through only while the record still carries that token. An attempt that was cut off
// or outlived its timeout, and resumed after a newer one took over, is refused and changes nothing.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { MigrationError } from '../../../common/failures';
import { type CarriedSequence, type CutoverResult, type RollbackResult, type ValidationResult } from '../../steps';
import type { SourceAccess } from './close-source';
import type { FenceSnapshotIds } from './fence-snapshot';
import { withClient, type ConnectionParams } from './sessions';

/**
 * How far the cutover got. Before 'closing' nothing of the source outlives the fence session;
 * 'closing' is only as far as the fence token on the source says (committed or not); from
 * 'closed' on, the source is closed for good: the point of no return.
 */
export type CutoverPhase = 'blocked' | 'drained' | 'closing' | 'closed' | 'switched';

export interface FenceRef {
  /** The backend holding the lock: a retry ends it if it outlived its worker. */
  pid: number;
  backendStart: string;
}

export interface BlockRecord extends FenceRef {
  /** When the lock was requested (ms since the epoch): the write-block window starts here. */
  startedAt: number;
  /** startedAt + cutover.timeout: PostgreSQL ends the fence session by then (fence.ts). */
  deadline: number;
}

/** Who may write the record: the attempt holding this token (lease.ts). */
export interface LeaseRecord {
  /** 1 for the job's first attempt, one more for each attempt that took over since. */
  epoch: number;
  token: string;
  /** When it was taken, ms since the epoch. */
  at: number;
}

export interface JobRecord {
  /** The attempt that may write this record; absent in records of older versions until an attempt takes it. */
  lease?: LeaseRecord;
  phase?: CutoverPhase;
  /** Blocks this cutover has taken; more than one only when a block ended before the point of no return. */
  blocks?: number;
  block?: BlockRecord;
  /** The fence the target applied under the block. */
  fence?: { token: string; lsn: string };
  /** What closing the source changes, as it was before, and the token committed with the close. */
  close?: { token: string; before: SourceAccess };
  /** The source's state the target took over at (the last fence, after every other session ended). */
  switched?: {
    at: number;
    finalLsn: string;
    writeBlockMs: number;
    sequences: CarriedSequence[];
    materializedViews: string[];
  };
  /**
   * The cutover stops the subscription (only past the point of no return), once the last fence is
   * drained and `final` carried: a retry resumes after the drain, since nothing arrives any more.
   */
  subscriptionDisabled?: boolean;
  final?: { finalLsn: string; sequences: CarriedSequence[]; materializedViews: string[] };
  /** Replication from the target back to the source (reverse.ts), from the switch until finalized or rolled back. */
  reverse?: ReverseRecord;
  /**
   * The final comparison at the cutover's fence (fence-snapshot.ts, final-validation.ts): the
   * snapshots the switch took, then the comparison's result once the final validation ran.
   */
  atFence?: { snapshots: FenceSnapshotIds; result?: ValidationResult };
  result?: CutoverResult;
}

export interface ReverseRecord {
  /** On the target. */
  publication: string;
  /** On the target. */
  slot: string;
  /** On the source, owned by the migration user. */
  subscription: string;
  /**
   * The migration user's own default_transaction_read_only in the source database (null: none)
   * before the reverse subscription's apply worker was let write (reverse.ts); restored when it goes.
   */
  applyRoleReadOnly?: { role: string; before: string | null };
  /**
   * The target's WAL position once the forward apply had exited: the reverse slot starts here, so
   * what the forward apply wrote never flows back and whatever an application wrote after is carried.
   */
  from?: string;
  /** When the subscription was in place, and what stopping forward replication and this setup added to the block. */
  at?: number;
  setupMs?: number;
  /** When the operator finalized: reverse replication was dropped, no rollback since. */
  finalized?: { at: number };
  rollback?: RollbackRecord;
}

/** The rollback after the cutover: the cutover protocol again, with the target fenced and closed. */
export interface RollbackRecord {
  phase?: CutoverPhase;
  blocks?: number;
  /** The fence session on the target. */
  block?: BlockRecord;
  /** The fence the source applied under the block. */
  fence?: { token: string; lsn: string };
  /** What closing the target changes, as it was before, and the token committed with the close. */
  close?: { token: string; before: SourceAccess };
  /** Past the target's close: the last fence drained and what was carried to the source. */
  final?: { finalLsn: string; sequences: CarriedSequence[]; materializedViews: string[] };
  /** The source took writes again: the write-block window ends here. */
  reopened?: { at: number; writeBlockMs: number };
  result?: RollbackResult;
}

/** Past the point of no return: the source stays closed, nothing reopens it automatically. */
export function pastPointOfNoReturn(rec: JobRecord): boolean {
  return rec.phase === 'closed' || rec.phase === 'switched' || !!rec.result;
}

/** Past the rollback's point of no return: the target is closed, a retry resumes forward. */
export function rollbackPastPointOfNoReturn(rb: RollbackRecord | undefined): boolean {
  return !!rb && (rb.phase === 'closed' || rb.phase === 'switched' || !!rb.result);
}

/** Reverse replication is (or may be) in place: dbmig's tables on both sides still carry its fence. */
export function reverseLive(rec: JobRecord): boolean {
  return !!rec.reverse && !rec.reverse.finalized && !rec.reverse.rollback?.result;
}

/** Where a job's record is kept: a file on this machine, or the target database. */
export interface JobRecordStore {
  read(): Promise<JobRecord>;
  /**
   * Takes the job's lease, atomically: the epoch moves on by one and a new token is written.
   * Returns the record with it; from now on only writes carrying that lease go through.
   */
  take(): Promise<JobRecord>;
  /** Writes `rec` if the stored record still carries `rec.lease`; else throws LeaseLost and writes nothing. */
  write(rec: JobRecord): Promise<void>;
  /** Removes the record, on the same condition as write (`lease`: the one the caller holds). */
  clear(lease?: LeaseRecord): Promise<void>;
}

/** The condition of every write: the stored lease is the writer's (both absent in an older version's record). */
export function refuseStale(job: string, held: LeaseRecord | undefined, stored: JobRecord | undefined): void {
  if (held?.token === stored?.lease?.token) return;
  const now = stored?.lease;
  throw new MigrationError(
    'LeaseLost',
    `the job record of ${job} was not written: this attempt's lease (epoch ${held?.epoch ?? 'none'}) was taken by ` +
      (now ? `a newer attempt (epoch ${now.epoch}, ${new Date(now.at).toISOString()})` : 'an undo that cleared it') +
      '; this attempt changes nothing more',
  );
}

export function withLease(rec: JobRecord): JobRecord {
  const epoch = (rec.lease?.epoch ?? 0) + 1;
  return { ...rec, lease: { epoch, token: randomUUID(), at: Date.now() } };
}

/**
 * The record in the target database, table dbmig.job_record (the schema dbmig's own objects use;
 * pg_dump, validation and publications leave it out). It outlives the finalize, which drops only
 * the heartbeat and fence tables, so a late rollback is still refused from it. A database that does
 * not exist yet (or no more: compensation dropped it) has no record.
 */
export class DatabaseJobRecords implements JobRecordStore {
  constructor(
    private readonly target: ConnectionParams,
    private readonly job: string,
  ) {}

  private async session<T>(fn: (c: pg.Client) => Promise<T>, absent: T): Promise<T> {
    try {
      return await withClient(this.target, fn);
    } catch (err) {
      // 3D000: no such database; 42P01/3F000: the table or schema was never made.
      if (['3D000', '42P01', '3F000'].includes((err as { code?: string }).code ?? '')) return absent;
      throw err;
    }
  }

  read(): Promise<JobRecord> {
    return this.session(async (c) => (await this.select(c, false)) ?? {}, {});
  }

  private async select(c: pg.Client, forUpdate: boolean): Promise<JobRecord | undefined> {
    const { rows } = await c.query<{ record: JobRecord }>(
      `select record from dbmig.job_record where job = $1${forUpdate ? ' for update' : ''}`,
      [this.job],
    );
    return rows[0]?.record;
  }

  /**
   * One transaction that reads the record (row locked) and writes what `fn` returns: a compare-and-
   * swap. A worker frozen inside it holds the row: PostgreSQL ends its session after 30 s idle, and
   * others wait at most that long for it.
   */
  private cas(fn: (current: JobRecord | undefined) => JobRecord | null): Promise<void> {
    return withClient(this.target, async (c) => {
      await c.query('begin');
      try {
        await c.query(`set local lock_timeout = '30s'; set local idle_in_transaction_session_timeout = '30s'`);
        // Serialised with ensureOwnedObjects/removeOwnedObjects, which create and drop the same schema.
        await c.query(`select pg_advisory_xact_lock(hashtext('dbmig owned schema'))`);
        await c.query('create schema if not exists dbmig');
        await c.query(`create table if not exists dbmig.job_record (
          job text primary key, record jsonb not null, updated_at timestamptz not null default clock_timestamp())`);
        const next = fn(await this.select(c, true));
        if (next === null) await c.query(`delete from dbmig.job_record where job = $1`, [this.job]);
        else
          await c.query(
            `insert into dbmig.job_record (job, record) values ($1, $2)
             on conflict (job) do update set record = excluded.record, updated_at = clock_timestamp()`,
            [this.job, JSON.stringify(next)],
          );
        await c.query('commit');
      } catch (err) {
        await c.query('rollback').catch(() => undefined);
        throw err;
      }
    });
  }

  async take(): Promise<JobRecord> {
    let taken: JobRecord = {};
    await this.cas((current) => (taken = withLease(current ?? {})));
    return taken;
  }

  write(rec: JobRecord): Promise<void> {
    return this.cas((current) => {
      refuseStale(this.job, rec.lease, current);
      return rec;
    });
  }

  async clear(lease?: LeaseRecord): Promise<void> {
    const exists = await this.session(async (c) => (await this.select(c, false)) !== undefined, false);
    if (!exists) return;
    await this.cas((current) => {
      if (current) refuseStale(this.job, lease, current);
      return null;
    });
  }
}
