// A database's gauges belong to the activity that measures them, on the worker that runs it: when
// the activity ends (returns, fails, is cancelled), that worker sets them back to "no value" (NaN;
// 0 for the 0/1 gauges). So a database that has ended (completed, failed, cancelled, rolled back)
// leaves no stale value for alerts, and of several workers only the one running a database's step
// exports a number for it: `max by (migration_id, database)` over every worker's series is that
// number, since PromQL's max skips NaN. The SDK's meter cannot delete a series; NaN is the absence
// a gauge can say (docs/operations.md, Metrics).
import { AsyncLocalStorage } from 'node:async_hooks';
import { log } from '@temporalio/activity';
import type { MetricGauge } from '@temporalio/common';

/** What each gauge set inside the running activity goes back to when it ends, by name and tags. */
const owned = new AsyncLocalStorage<Map<string, () => void>>();

/** Sets `gauge` (tagged `tags`) to `value`, to go back to `cleared` when the activity ends. */
export function setOwned(gauge: MetricGauge, tags: object, value: number, cleared = NaN): void {
  gauge.set(value);
  owned.getStore()?.set(`${gauge.name} ${JSON.stringify(tags)}`, () => gauge.set(cleared));
}

/** Runs one activity; the gauges it set go back to no value once it has ended, however it ends. */
export async function ownGauges<T>(fn: () => Promise<T>): Promise<T> {
  const mine = new Map<string, () => void>();
  try {
    return await owned.run(mine, fn);
  } finally {
    for (const clear of mine.values())
      try {
        clear();
      } catch (err) {
        log.warn('could not clear a gauge', { error: (err as Error).message });
      }
  }
}

/** Every function of `activities` runs under ownGauges. */
export function withOwnedGauges<T extends object>(activities: T): T {
  return Object.fromEntries(
    Object.entries(activities).map(([name, fn]) => [
      name,
      typeof fn === 'function'
        ? {
            // Named as registered: the worker registers activities by their key, the SDK logs by fn.name.
            [name]: (...args: unknown[]) => ownGauges(() => Promise.resolve(fn(...args))),
          }[name]
        : fn,
    ]),
  ) as T;
}
