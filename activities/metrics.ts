// Migration metrics through the SDK's metric meter, so they leave the worker on the same
// Prometheus endpoint as the SDK's own (Runtime telemetry). Tagged by migration and database.
import { Context } from '@temporalio/activity';
import type { DatabaseTask, ReplicationStatus } from './steps';
import type { ThrottleReason } from '../common/throttle-plan';

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
    /** 1 while `step` waits for the source's load (by the limit crossed), 0 once it goes on. */
    throttled(task: DatabaseTask, step: 'copy' | 'validation', reason: ThrottleReason, on: boolean): void {
      meter(task)
        .withTags({ step, reason })
        .createGauge('dbmig_throttled', 'int', '1', "1 while the copy or validation waits for the source's load")
        .set(on ? 1 : 0);
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
