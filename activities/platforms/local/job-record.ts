// The cutover's job record: stateDir/jobs/<job>.json, written after every step so a retry on any
// worker of this machine resumes where the last attempt stopped. It holds connection facts of the
// source (pids, the ACL), hence mode 0600; it is replaced by rename so a crash never leaves half a file.
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { CarriedSequence, CutoverResult, RollbackResult } from '../platform';
import type { SourceAccess } from './close-source';

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

export interface JobRecord {
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

export class JobRecords {
  constructor(private readonly file: string) {}

  async read(): Promise<JobRecord> {
    return existsSync(this.file) ? (JSON.parse(await readFile(this.file, 'utf8')) as JobRecord) : {};
  }

  async write(rec: JobRecord): Promise<void> {
    // Parents as any directory is made (the clusters' postgres user passes through the state
    // directory), the records' own directory private, whatever an older version made it.
    await mkdir(dirname(dirname(this.file)), { recursive: true });
    await mkdir(dirname(this.file), { recursive: true, mode: 0o700 });
    await chmod(dirname(this.file), 0o700);
    const tmp = `${this.file}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(rec), { mode: 0o600 });
    await rename(tmp, this.file);
  }

  async clear(): Promise<void> {
    await rm(this.file, { force: true });
  }
}
