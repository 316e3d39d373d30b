// Migration metrics through the SDK's metric meter, so they leave the worker on the same
// Prometheus endpoint as the SDK's own (Runtime telemetry). Tagged by migration and database.
import { Context, log } from '@temporalio/activity';
import type { DatabaseTask, ReplicationStatus } from './steps';
import type { ThrottleReason, Throttled } from '../common/throttle-plan';
import type { CopyProgress } from '../common/copy-progress';
import type { CatchUp } from '../common/catch-up';
import type { ValidationProgress } from '../common/validation-progress';

/**
 * Progress gauges are per database, not per table: a fleet of 1,000 databases with hundreds of
 * tables each would be hundreds of thousands of series. Per table is in `dbmig status --json` and
 * the heartbeat details. An unknown value (a total not estimated yet, an ETA while nothing moves)
 * is NaN (the SDK refuses negative gauges), so a gauge never keeps a stale promise and no alert
 * compares true on it.
 */
const known = (n: number | null | undefined) => (n === null || n === undefined ? NaN : n);

/** Progress gauges are best effort: a metric the SDK refuses must never fail the step it describes. */
function safely(what: string, fn: () => void): void {
  try {
    fn();
  } catch (err) {
    log.warn(`could not record the ${what} metrics`, { error: (err as Error).message });
  }
}

function meter(task: DatabaseTask) {
  return Context.current().metricMeter.withTags({ migration_id: task.migrationId, database: task.database.name });
}

export function createMigrationMetrics() {
  return {
    lag(task: DatabaseTask, s: ReplicationStatus): void {
      const m = meter(task);
      if (s.lagSeconds !== null)
        m.createGauge('dbmig_replication_lag_seconds', 'float', 's', 'Replication lag of a database in migration').set(
          s.lagSeconds,
        );
      if (s.lagBytes !== null)
        m.createGauge('dbmig_replication_lag_bytes', 'int', 'By', 'WAL bytes the target has not confirmed').set(
          s.lagBytes,
        );
      m.createGauge('dbmig_rows_on_target', 'int', '1', 'Rows present on the target (estimate)').set(s.rowsOnTarget);
    },
    copy(task: DatabaseTask, p: CopyProgress): void {
      safely('copy', () => copyGauges(meter(task), p));
    },
    catchUp(task: DatabaseTask, c: CatchUp): void {
      safely('catch-up', () =>
        meter(task)
          .createGauge(
            'dbmig_catchup_eta_seconds',
            'float',
            's',
            'Seconds until the lag is caught up (NaN: not falling)',
          )
          .set(known(c.etaSeconds)),
      );
    },
    validation(task: DatabaseTask, v: ValidationProgress): void {
      safely('validation', () => validationGauges(meter(task), v));
    },
    /**
     * Follows a step's pause (its heartbeat's `throttled`) into dbmig_throttled: 1 for the limit
     * crossed while `step` waits for the source's load, 0 once it goes on or the limit changes.
     */
    throttleGauge(task: DatabaseTask, step: 'copy' | 'validation') {
      const set = (reason: ThrottleReason, on: boolean) =>
        safely('throttle', () =>
          meter(task)
            .withTags({ step, reason })
            .createGauge('dbmig_throttled', 'int', '1', "1 while the copy or validation waits for the source's load")
            .set(on ? 1 : 0),
        );
      let shown: ThrottleReason | undefined;
      return (t: Throttled | undefined) => {
        if (t?.reason === shown) return;
        if (shown) set(shown, false);
        if (t) set(t.reason, true);
        shown = t?.reason;
      };
    },
    cutover(task: DatabaseTask, writeBlockMs: number): void {
      meter(task)
        .createHistogram(
          'dbmig_cutover_write_block_seconds',
          'float',
          's',
          'Time the source refused writes during cutover',
        )
        .record(writeBlockMs / 1000);
    },
  };
}

type Meter = ReturnType<typeof meter>;

function copyGauges(m: Meter, p: CopyProgress): void {
  const f = (name: string, unit: string, help: string, v: number | null | undefined) =>
    m.createGauge(name, 'float', unit, help).set(known(v));
  f('dbmig_copy_fraction', '1', 'Share of the initial copy done, 0..1', p.fraction);
  f('dbmig_copy_bytes', 'By', 'Bytes the initial copy has moved', p.bytesCopied);
  f('dbmig_copy_bytes_total', 'By', 'Bytes the initial copy will move (estimate; NaN unknown)', p.bytesTotal);
  f('dbmig_copy_rows', '1', 'Rows the initial copy has committed', p.rowsCopied);
  f('dbmig_copy_rows_total', '1', 'Rows the initial copy will move (estimate; NaN unknown)', p.rowsTotal);
  f('dbmig_copy_bytes_per_second', 'By/s', 'Copy rate over the last 30 s (NaN unknown)', p.bytesPerSecond);
  const eta = p.phase === 'copy' || p.fraction === 1 ? p.etaSeconds : null;
  f('dbmig_copy_eta_seconds', 's', 'Seconds until the rows are copied (NaN unknown)', eta);
}

function validationGauges(m: Meter, v: ValidationProgress): void {
  const f = (name: string, unit: string, help: string, x: number | null) =>
    m.createGauge(name, 'float', unit, help).set(known(x));
  f('dbmig_validation_fraction', '1', 'Share of the live validation done, 0..1', v.fraction);
  f('dbmig_validation_rows', '1', 'Source rows the live validation has compared', v.rowsDone);
  f('dbmig_validation_rows_total', '1', 'Rows it will compare (estimate; NaN unknown)', v.rowsTotal);
  f('dbmig_validation_eta_seconds', 's', 'Seconds until it is done (NaN unknown)', v.etaSeconds);
}
