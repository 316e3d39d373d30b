// The simulated world: what exists for each (migration id, database), as a real platform would
// keep it, plus counters of how often each resource was created, found again and deleted, so tests
// can see that a repeated call made nothing twice. In memory: one worker process is the world.
import type { SimStep } from '../../../common/sim-plan';
import type { CapacityReservation, CutoverResult } from '../../steps';

export type SimResource = 'target' | 'capacity' | 'job';
export type Counts = Record<SimResource, number>;

export interface TargetRecord {
  /** Who created it; null: it was there before any migration (never ours to delete). */
  owner: { migrationId: string; database: string } | null;
  endpoint: string;
  /** The target took the writes: it is the database now, and nothing automatic deletes it. */
  cutOver: boolean;
}

export interface JobRecord {
  state: 'CREATED' | 'RUNNING' | 'STOPPED';
  startedAt?: number;
  stoppedAt?: number;
}

export interface CutoverRecord {
  /** blocked: the source's writes are blocked and the target has not taken over; done: it has. */
  state: 'blocked' | 'done';
  blockedAt: number;
  result?: CutoverResult;
}

export interface DatabaseRecord {
  job?: JobRecord;
  capacity?: CapacityReservation;
  cutover?: CutoverRecord;
  /** Calls per step, failed ones included: the failures' `times` counts them. */
  calls: Partial<Record<SimStep, number>>;
  created: Counts;
  found: Counts;
  deleted: Counts;
}

const zero = (): Counts => ({ target: 0, capacity: 0, job: 0 });

export class SimWorld {
  /** Targets by where they live (instance/database), as the target service names them. */
  readonly targets = new Map<string, TargetRecord>();
  private readonly databases = new Map<string, DatabaseRecord>();

  record(migrationId: string, database: string): DatabaseRecord {
    const key = `${migrationId}/${database}`;
    let rec = this.databases.get(key);
    if (!rec) {
      rec = { calls: {}, created: zero(), found: zero(), deleted: zero() };
      this.databases.set(key, rec);
    }
    return rec;
  }

  clear(): void {
    this.targets.clear();
    this.databases.clear();
  }
}
