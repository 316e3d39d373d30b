// The job record of an embedded target: stateDir/jobs/<job>.json, for any worker of this machine (the
// clusters live here too). It holds connection facts of the source (pids, the ACL), hence mode 0600;
// it is replaced by rename so a crash never leaves half a file. What a record holds, and the lease
// every write checks, are the engine's (job-record.ts).
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  refuseStale,
  withLease,
  type JobRecord,
  type JobRecordStore,
  type LeaseRecord,
} from '../../engines/postgres/job-record';
import { acquireLock } from './lockfile';

export class JobRecords implements JobRecordStore {
  constructor(private readonly file: string) {}

  async read(): Promise<JobRecord> {
    return existsSync(this.file) ? (JSON.parse(await readFile(this.file, 'utf8')) as JobRecord) : {};
  }

  take(): Promise<JobRecord> {
    return this.locked(async () => {
      const rec = withLease(await this.read());
      await this.replace(rec);
      return rec;
    });
  }

  write(rec: JobRecord): Promise<void> {
    return this.locked(async () => {
      refuseStale(this.job(), rec.lease, await this.read());
      await this.replace(rec);
    });
  }

  clear(lease?: LeaseRecord): Promise<void> {
    return this.locked(async () => {
      if (!existsSync(this.file)) return;
      refuseStale(this.job(), lease, await this.read());
      await rm(this.file, { force: true });
    });
  }

  private job(): string {
    return this.file.replace(/^.*\//, '').replace(/\.json$/, '');
  }

  /**
   * Read, compare and write under a lock file every worker of this machine honours (one whose
   * process died is taken over): no write lands between another writer's read and its write.
   */
  private async locked<T>(fn: () => Promise<T>): Promise<T> {
    // Parents as any directory is made (the clusters' postgres user passes through the state
    // directory), the records' own directory private, whatever an older version made it.
    await mkdir(dirname(dirname(this.file)), { recursive: true });
    await mkdir(dirname(this.file), { recursive: true, mode: 0o700 });
    await chmod(dirname(this.file), 0o700);
    const release = await acquireLock(`${this.file}.lock`);
    try {
      return await fn();
    } finally {
      await release();
    }
  }

  /** Replaced by rename, so a crash never leaves half a file. */
  private async replace(rec: JobRecord): Promise<void> {
    const tmp = `${this.file}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(rec), { mode: 0o600 });
    await rename(tmp, this.file);
  }
}
