// One attempt's lease on one job: the cutover, its undo, the rollback and the finalize each take it
// before anything else (job-record.ts: the epoch moves on by one, atomically where the record
// lives), and then:
//
//   - every job-record write is a compare-and-swap on it: a superseded attempt's write is refused
//     and changes nothing;
//   - every session the attempt opens carries the lease in its application_name and is admitted
//     only once the lease is seen to be still held, after the session exists;
//   - the new holder ends the sessions of older attempts of the job (and any fence session of the
//     database) before its first statement, and waits until they have exited.
//
// Those two orders close the race: either an old attempt's session existed when the new holder
// looked (it is ended), or it was opened after the lease moved on (its admission fails and it is
// ended before its first statement). An attempt that learns it lost (a refused write, a failed
// admission, or Temporal saying it gave the attempt up) ends all its own sessions at once, so
// nothing it runs afterwards reaches a database. A frozen worker (SIGSTOP, a lost network) thus
// cannot add a block, reopen anything or overwrite a newer attempt's record when it resumes.
import type pg from 'pg';
import { onSuperseded } from '../../cancellation';
import { MigrationError } from '../../../common/failures';
import type { JobRecord, JobRecordStore, LeaseRecord } from './job-record';
import { warn } from '../../log';
import type { ConnectionParams } from './sessions';

/** The fence session's name (fence.ts): it outlives nothing but its attempt, so any found is an older one's. */
const FENCE_APPLICATION = 'dbmig fence';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Lease {
  private readonly sessions = new Set<pg.Client>();
  private lost?: MigrationError;
  private readonly unsubscribe: () => void;

  private constructor(
    private readonly store: JobRecordStore,
    private readonly job: string,
    readonly held: LeaseRecord,
  ) {
    this.unsubscribe = onSuperseded(
      (why) =>
        void this.lose(
          new MigrationError('LeaseLost', `Temporal gave this attempt on ${job} up (${why}); it changes nothing more`),
        ).catch(() => undefined),
    );
  }

  /** Takes the job's lease: the record as it stands once this attempt holds it. */
  static async take(store: JobRecordStore, job: string): Promise<{ lease: Lease; rec: JobRecord }> {
    const rec = await store.take();
    return { lease: new Lease(store, job, rec.lease!), rec };
  }

  /** Sessions of this job carry `dbmig lease <job> `, then the epoch and the token's start. */
  private prefix(): string {
    return `dbmig lease ${this.job.slice(0, 32)} `;
  }

  get applicationName(): string {
    return `${this.prefix()}${this.held.epoch}.${this.held.token.slice(0, 8)}`;
  }

  /** `p` with this lease's name and admission: every session opened from it is this attempt's. */
  params(p: ConnectionParams): ConnectionParams {
    return { ...p, applicationName: this.applicationName, admit: (c) => this.admit(c) };
  }

  private async admit(c: pg.Client): Promise<void> {
    this.sessions.add(c);
    c.once('end', () => this.sessions.delete(c));
    await this.check();
  }

  /** Throws LeaseLost, after ending this attempt's sessions, once a newer attempt holds the job. */
  async check(): Promise<void> {
    if (this.lost) throw this.lost;
    const now = (await this.store.read()).lease;
    if (now?.token !== this.held.token)
      await this.lose(
        new MigrationError(
          'LeaseLost',
          `a newer attempt took over ${this.job} (epoch ${now?.epoch ?? 'none'} after this attempt's ` +
            `${this.held.epoch}); this attempt changes nothing more`,
        ),
      );
  }

  /** Writes the record if this attempt still holds the lease (compare-and-swap); else ends its sessions and throws. */
  async write(rec: JobRecord): Promise<void> {
    await this.guarded(() => this.store.write({ ...rec, lease: this.held }));
  }

  /** Removes the record on the same condition. */
  async clear(): Promise<void> {
    await this.guarded(() => this.store.clear(this.held));
  }

  private async guarded(fn: () => Promise<void>): Promise<void> {
    if (this.lost) throw this.lost;
    try {
      await fn();
    } catch (err) {
      if (err instanceof MigrationError && err.type === 'LeaseLost') await this.lose(err);
      throw err;
    }
  }

  /**
   * Ends older attempts' sessions of this job in `c`'s database, and any fence session there (one
   * job per database: it can only be an older attempt's), then waits until they have exited: a
   * statement of theirs still running (a COMMIT) has landed or not by then, for good.
   */
  async sweep(c: pg.Client): Promise<string[]> {
    const own = [...this.sessions].map((s) => (s as unknown as { processID: number | null }).processID ?? 0);
    const { rows } = await c.query<{ pid: number; who: string }>(
      `select pid, pg_terminate_backend(pid) as signalled, format('pid %s (%s)', pid, application_name) as who
         from pg_stat_activity
        where datname = current_database() and backend_type = 'client backend' and pid <> all($4::int[])
          and ((left(application_name, length($1)) = $1 and application_name <> $2) or application_name = $3)`,
      [this.prefix(), this.applicationName, FENCE_APPLICATION, own],
    );
    const until = Date.now() + 30_000;
    for (let left = rows.map((r) => r.pid); left.length;) {
      if (Date.now() > until)
        throw new Error(`sessions of an older attempt did not exit within 30 s: pids ${left.join(', ')}`);
      await sleep(10);
      const r = await c.query<{ pid: number }>('select pid from pg_stat_activity where pid = any($1::int[])', [left]);
      left = r.rows.map((x) => x.pid);
    }
    if (rows.length) warn(`${this.job}: ended the sessions of an older attempt: ${rows.map((r) => r.who).join(', ')}`);
    return rows.map((r) => r.who);
  }

  /** Stops listening to Temporal for this attempt (it is over either way). */
  release(): void {
    this.unsubscribe();
  }

  /** Ends every session of this attempt, then throws `err`: nothing it runs afterwards reaches a database. */
  private async lose(err: MigrationError): Promise<never> {
    if (!this.lost) {
      this.lost = err;
      warn(`${this.job}: lease lost (epoch ${this.held.epoch}): ${err.message}; ending this attempt's sessions`);
    }
    await Promise.all([...this.sessions].map(endSession));
    throw this.lost;
  }
}

/** Ends a session whatever state it is in; a socket that does not close in time is destroyed. */
async function endSession(c: pg.Client): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 5_000)));
  const ended = c.end().then(
    () => true,
    () => true,
  );
  const inTime = await Promise.race([ended, late]);
  clearTimeout(timer);
  if (!inTime) (c as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}
