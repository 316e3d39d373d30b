// Migration metrics through the SDK's metric meter, so they leave the worker on the same
// Prometheus endpoint as the SDK's own (Runtime telemetry). Tagged by migration and database. A
// database's gauges are its running step's: they go back to no value when the activity that set
// them ends (gauge-owner.ts), so an ended database and another worker's old step leave none.
import { Context, log } from '@temporalio/activity';
import type { DatabaseTask, ReplicationStatus } from './steps';
import type { ThrottleReason, Throttled } from '../common/throttle-plan';
import type { CopyProgress } from '../common/copy-progress';
import type { CatchUp } from '../common/catch-up';
import type { ValidationProgress } from '../common/validation-progress';
import { setOwned } from './gauge-owner';
import { ANOMALY_KINDS } from '../common/anomaly';

/**
 * Progress gauges are per database, not per table: a fleet of 1,000 databases with hundreds of
 * tables each would be hundreds of thousands of series. Per table is in `dbmig status --json` and
 * the heartbeat details. An unknown value (a total not estimated yet, an ETA while nothing moves)
 * is NaN (the SDK refuses negative gauges), so a gauge never keeps a stale promise and no alert
 * compares true on it. Every gauge is a float for that reason: an int gauge turns NaN into 0.
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

const tagsOf = (task: DatabaseTask) => ({ migration_id: task.migrationId, database: task.database.name });

function meter(task: DatabaseTask, extra: Record<string, string> = {}) {
  const tags = { ...tagsOf(task), ...extra };
  const m = Context.current().metricMeter.withTags(tags);
  /** Sets gauge `name` of this database, owned by the running activity (NaN, or `cleared`, once it ends). */
  const set = (name: string, unit: string, help: string, value: number, cleared = NaN) =>
    setOwned(m.createGauge(name, 'float', unit, help), tags, value, cleared);
  return { m, set };
}

export function createMigrationMetrics() {
  return {
    lag(task: DatabaseTask, s: ReplicationStatus): void {
      safely('lag', () => {
        const { set } = meter(task);
        set('dbmig_replication_lag_seconds', 's', 'Replication lag of a database in migration', known(s.lagSeconds));
        set('dbmig_replication_lag_bytes', 'By', 'WAL bytes the target has not confirmed', known(s.lagBytes));
        set('dbmig_rows_on_target', '1', 'Rows present on the target (estimate)', s.rowsOnTarget);
      });
    },
    /**
     * 1 while the replication watch runs: the database waits for its cutover's approval or window
     * (MigrationStalled is silent then: nothing has to move while a human decides).
     */
    waitingForCutover(task: DatabaseTask): void {
      safely('waiting', () =>
        meter(task).set(
          'dbmig_waiting_for_cutover',
          '1',
          "1 while the database waits for its cutover's approval or window",
          1,
          0,
        ),
      );
    },
    /**
     * dbmig_anomaly{kind} 1 while the detector finds that kind active, 0 otherwise; 0 again once the
     * watch ends (the database moved on), so an alert on it clears with the step.
     */
    anomalies(task: DatabaseTask, active: readonly string[]): void {
      safely('anomaly', () => {
        for (const kind of ANOMALY_KINDS)
          meter(task, { kind }).set(
            'dbmig_anomaly',
            '1',
            '1 while the anomaly detector finds this kind active (docs/operations.md, Anomalies)',
            active.includes(kind) ? 1 : 0,
            0,
          );
      });
    },
    copy(task: DatabaseTask, p: CopyProgress): void {
      safely('copy', () => copyGauges(meter(task), p));
    },
    catchUp(task: DatabaseTask, c: CatchUp): void {
      safely('catch-up', () =>
        meter(task).set(
          'dbmig_catchup_eta_seconds',
          's',
          'Seconds until the lag is caught up (NaN: not falling)',
          known(c.etaSeconds),
        ),
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
          meter(task, { step, reason }).set(
            'dbmig_throttled',
            '1',
            "1 while the copy or validation waits for the source's load",
            on ? 1 : 0,
            0,
          ),
        );
      let shown: ThrottleReason | undefined;
      return (t: Throttled | undefined) => {
        if (t?.reason === shown) return;
        if (shown) set(shown, false);
        if (t) set(t.reason, true);
        shown = t?.reason;
      };
    },
    /** In seconds, into buckets in seconds (worker/metrics-exporter.ts: the SDK's default ones are ms). */
    cutover(task: DatabaseTask, writeBlockMs: number): void {
      meter(task)
        .m.createHistogram(
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

function copyGauges({ set }: Meter, p: CopyProgress): void {
  const f = (name: string, unit: string, help: string, v: number | null | undefined) => set(name, unit, help, known(v));
  f('dbmig_copy_fraction', '1', 'Share of the initial copy done, 0..1', p.fraction);
  f('dbmig_copy_bytes', 'By', 'Bytes the initial copy has moved', p.bytesCopied);
  f('dbmig_copy_bytes_total', 'By', 'Bytes the initial copy will move (estimate; NaN unknown)', p.bytesTotal);
  f('dbmig_copy_rows', '1', 'Rows the initial copy has committed', p.rowsCopied);
  f('dbmig_copy_rows_total', '1', 'Rows the initial copy will move (estimate; NaN unknown)', p.rowsTotal);
  f('dbmig_copy_bytes_per_second', 'By/s', 'Copy rate over the last 30 s (NaN unknown)', p.bytesPerSecond);
  const eta = p.phase === 'copy' || p.fraction === 1 ? p.etaSeconds : null;
  f('dbmig_copy_eta_seconds', 's', 'Seconds until the rows are copied (NaN unknown)', eta);
}

function validationGauges({ set }: Meter, v: ValidationProgress): void {
  const f = (name: string, unit: string, help: string, x: number | null) => set(name, unit, help, known(x));
  f('dbmig_validation_fraction', '1', 'Share of the live validation done, 0..1', v.fraction);
  f('dbmig_validation_rows', '1', 'Source rows the live validation has compared', v.rowsDone);
  f('dbmig_validation_rows_total', '1', 'Rows it will compare (estimate; NaN unknown)', v.rowsTotal);
  f('dbmig_validation_eta_seconds', 's', 'Seconds until it is done (NaN unknown)', v.etaSeconds);
}
