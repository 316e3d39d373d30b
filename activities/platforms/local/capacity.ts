// Local stand-in for Dynamic Workload Scheduler: a bounded pool of copy workers shared by every
// worker process on the machine. Reservations are keyed by a deterministic name, so reserving
// twice holds the workers once. A full pool is a retryable error: the activity waits, as flex-start does.
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CapacityMode } from '../../../common/capacity';
import { MigrationError } from '../../../common/failures';
import { type CapacityReservation } from '../../steps';
import { acquireLock } from './lockfile';

type Pool = Record<string, { workers: number; mode: CapacityMode }>;

export class CapacityPool {
  constructor(
    private readonly stateDir: string,
    readonly totalWorkers = Number(process.env.DBMIG_LOCAL_CAPACITY_WORKERS ?? 16),
  ) {}

  private get file() {
    return join(this.stateDir, 'capacity.json');
  }

  private async update<T>(fn: (pool: Pool) => T): Promise<T> {
    await mkdir(this.stateDir, { recursive: true, mode: 0o700 });
    const release = await acquireLock(`${this.file}.lock`);
    try {
      const pool: Pool = existsSync(this.file) ? JSON.parse(await readFile(this.file, 'utf8')) : {};
      const result = fn(pool);
      await writeFile(this.file, JSON.stringify(pool, null, 2), { mode: 0o600 });
      return result;
    } finally {
      await release();
    }
  }

  reserve(name: string, workers: number, mode: CapacityMode): Promise<CapacityReservation> {
    return this.update((pool) => {
      const held = pool[name];
      if (held) {
        if (held.workers !== workers || held.mode !== mode) {
          throw new MigrationError(
            'AlreadyExistsMismatch',
            `reservation ${name} holds ${held.workers} ${held.mode} workers, expected ${workers} ${mode}`,
          );
        }
        return { name, workers, mode };
      }
      const used = Object.values(pool).reduce((n, r) => n + r.workers, 0);
      if (used + workers > this.totalWorkers) {
        throw new MigrationError(
          'CapacityUnavailable',
          `capacity unavailable: ${used}/${this.totalWorkers} copy workers in use, ` +
            `${workers} needed (${mode}); waiting`,
        );
      }
      pool[name] = { workers, mode };
      return { name, workers, mode };
    });
  }

  release(name: string): Promise<void> {
    return this.update((pool) => {
      delete pool[name];
    });
  }

  held(): Promise<Pool> {
    return this.update((pool) => ({ ...pool }));
  }
}
