// Opt-in fault injection for test/superseded-attempt.test.ts: OFF unless the environment variable
// DBMIG_FAULT_FREEZE_BEFORE_RECORD is set (then the store is returned unchanged otherwise).
//
//   DBMIG_FAULT_FREEZE_BEFORE_RECORD=<phase>   e.g. drained
//   DBMIG_FAULT_FREEZE_MARKER=<file>           written when the process freezes, and after the write
//
// On an activity's first attempt, the first time this process is about to write a job record whose
// phase is <phase>, it writes the marker and stops itself (SIGSTOP): a worker frozen in the middle
// of a step, holding what it holds (the fence session, with the record about to be written). A
// kill from outside could not land between two statements that take a millisecond. Once continued
// (SIGCONT) it writes the record as it would have, and the marker says how that went.
import { randomBytes } from 'node:crypto';
import { renameSync, writeFileSync } from 'node:fs';
import { Context } from '@temporalio/activity';
import type { JobRecord, JobRecordStore } from '../../engines/postgres/job-record';

export const FREEZE_BEFORE_RECORD_ENV = 'DBMIG_FAULT_FREEZE_BEFORE_RECORD';
export const FREEZE_MARKER_ENV = 'DBMIG_FAULT_FREEZE_MARKER';

export interface FreezeMarker {
  state: 'frozen' | 'wrote' | 'refused';
  pid: number;
  phase: string;
  /** The frozen attempt's lease epoch. */
  epoch?: number;
  /** Why the write was refused. */
  error?: string;
  at: number;
}

let frozen = false; // once per process

function firstAttempt(): boolean {
  try {
    return Context.current().info.attempt === 1;
  } catch {
    return false;
  }
}

function writeMarker(file: string | undefined, marker: FreezeMarker): void {
  if (!file) return;
  const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, JSON.stringify(marker), { mode: 0o600 });
  renameSync(tmp, file);
}

export function withRecordFault(store: JobRecordStore, env: NodeJS.ProcessEnv = process.env): JobRecordStore {
  const phase = env[FREEZE_BEFORE_RECORD_ENV];
  if (!phase) return store;
  const file = env[FREEZE_MARKER_ENV];
  return {
    read: () => store.read(),
    take: () => store.take(),
    clear: (lease) => store.clear(lease),
    async write(rec: JobRecord) {
      if (frozen || rec.phase !== phase || !firstAttempt()) return store.write(rec);
      frozen = true;
      const base = { pid: process.pid, phase, epoch: rec.lease?.epoch };
      writeMarker(file, { ...base, state: 'frozen', at: Date.now() });
      process.kill(process.pid, 'SIGSTOP');
      try {
        await store.write(rec);
        writeMarker(file, { ...base, state: 'wrote', at: Date.now() });
      } catch (err) {
        writeMarker(file, { ...base, state: 'refused', error: (err as Error).message, at: Date.now() });
        throw err;
      }
    },
  };
}
