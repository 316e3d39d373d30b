// The plan's copy.workerStreams: at most that many copy streams (and index builds) of one
// migration's databases run at once in this worker process, however many of its databases the
// worker copies at once (each still runs at most copy.streams). One counter per migration id, in
// this module, because the copies of one worker process are separate activities that share
// nothing else; a range or an index waits here for its turn, holding no claim on anything.
import { availableParallelism } from 'node:os';

/**
 * Without a plan setting: one stream per core of this machine, at least 2. A stream keeps a source
 * backend reading and a target backend parsing and writing, and the local platform's clusters
 * usually share this machine with the worker: more streams than cores only queue for the CPU.
 * At least 2, so that even on one core one range is read while another is written.
 */
export function defaultWorkerStreams(): number {
  return Math.max(2, availableParallelism());
}

class Semaphore {
  active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(public limit: number) {}

  async acquire(signal?: AbortSignal): Promise<void> {
    while (this.active >= this.limit) {
      signal?.throwIfAborted();
      await new Promise<void>((resolve) => {
        const wake = () => {
          signal?.removeEventListener('abort', wake);
          resolve();
        };
        this.waiting.push(wake);
        signal?.addEventListener('abort', wake, { once: true });
      });
    }
    signal?.throwIfAborted();
    this.active++;
  }

  release(): void {
    this.active--;
    this.waiting.shift()?.();
  }

  hasWaiters(): boolean {
    return this.waiting.length > 0;
  }

  /** A raised limit lets waiters in at once (each checks again). */
  setLimit(limit: number): void {
    const raised = limit > this.limit;
    this.limit = limit;
    if (raised) for (const wake of this.waiting.splice(0)) wake();
  }
}

const perMigration = new Map<string, Semaphore>();

/**
 * Runs `fn` once one of `migrationId`'s `limit` stream places in this process is free. The
 * limit is the plan's (every database of a migration has the same), set anew by each caller so a
 * changed plan applies from the next range on.
 */
export async function withWorkerStream<T>(
  migrationId: string,
  limit: number | undefined,
  fn: () => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  let s = perMigration.get(migrationId);
  if (!s) perMigration.set(migrationId, (s = new Semaphore(limit ?? defaultWorkerStreams())));
  else s.setLimit(limit ?? defaultWorkerStreams());
  await s.acquire(signal);
  try {
    return await fn();
  } finally {
    s.release();
    // A migration whose copies have all ended leaves nothing behind in a long-lived worker.
    if (s.active === 0 && perMigration.get(migrationId) === s && !s.hasWaiters()) perMigration.delete(migrationId);
  }
}
