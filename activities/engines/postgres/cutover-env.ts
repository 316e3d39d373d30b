// What a cutover, its undo, the rollback, the finalize and the watch after the cutover work on: the
// task, its names, both sides' connections and the job's record. Apart from cutover.ts, so the
// checks and the watch that cutover.ts uses can name it without importing it back.
import type { DatabaseTask } from '../../steps';
import type { ConnectionParams } from './sessions';
import type { JobRecordStore } from './job-record';
import type { JobNames } from './replication';

export interface CutoverEnv {
  task: DatabaseTask;
  names: JobNames;
  source: ConnectionParams;
  target: ConnectionParams;
  records: JobRecordStore;
  /** The target's own words for failing apply (its log): the catalog only counts errors. */
  applyErrors(): Promise<string[]>;
  log(message: string): void;
}
