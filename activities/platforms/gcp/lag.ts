// Replication lag from Cloud Monitoring (API v3, projects.timeSeries.list:
// https://cloud.google.com/monitoring/api/ref_v3/rest/v3/projects.timeSeries/list): DMS publishes
// per-job max lag in seconds and bytes (datamigration metrics in https://cloud.google.com/monitoring/api/metrics_gcp).
// Every reading carries the age of its sample; a stale sample is no evidence of low lag.
import { formatDuration } from '../../../common/durations';
import type { DatabaseTask, PlannedOperation } from '../platform';
import type { GcpClients } from './clients';
import { call } from './errors';
import { gcpNames } from './names';
import { planned } from './planned';

export const LAG_SECONDS_METRIC = 'datamigration.googleapis.com/migration_job/max_replica_sec_lag';
export const LAG_BYTES_METRIC = 'datamigration.googleapis.com/migration_job/max_replica_bytes_lag';
/** Older samples are treated as no sample at all. */
export const MAX_SAMPLE_AGE_S = 300;

export interface LagSample {
  value: number;
  ageSeconds: number;
}

export async function latestSample(
  c: GcpClients,
  project: string,
  jobId: string,
  metric: string,
  now = Date.now(),
): Promise<LagSample | undefined> {
  const [series] = await call(`read ${metric}`, () =>
    c.monitoring.listTimeSeries(
      {
        name: `projects/${project}`,
        filter: `metric.type = "${metric}" AND resource.labels.migration_job_id = "${jobId}"`,
        interval: {
          startTime: { seconds: Math.floor((now - 15 * 60_000) / 1000) },
          endTime: { seconds: Math.ceil(now / 1000) },
        },
        view: 'FULL' as never,
      },
      { autoPaginate: false },
    ),
  );
  let best: LagSample | undefined;
  for (const ts of series ?? []) {
    for (const p of ts.points ?? []) {
      const end = p.interval?.endTime;
      const at = end ? Number(end.seconds ?? 0) * 1000 + Math.floor((end.nanos ?? 0) / 1e6) : 0;
      const value = p.value?.doubleValue ?? Number(p.value?.int64Value ?? NaN);
      if (!Number.isFinite(value) || !at) continue;
      const ageSeconds = Math.max(0, (now - at) / 1000);
      if (!best || ageSeconds < best.ageSeconds) best = { value, ageSeconds };
    }
  }
  return best && best.ageSeconds <= MAX_SAMPLE_AGE_S ? best : undefined;
}

/** The dry run of the CDC watch: getReplicationStatus reads both metrics until the lag is stable. */
export function describeLagWatch(task: DatabaseTask): PlannedOperation[] {
  const s = task.settings;
  const metrics = [LAG_SECONDS_METRIC, LAG_BYTES_METRIC].map((m) => m.split('/').slice(1).join('/'));
  return [
    planned({
      state: 'CDC',
      reads: ['monitoring.projects.timeSeries.list'],
      resource: metrics.join(', '),
      detail:
        `job ${gcpNames(task).migrationJob}, samples under ${MAX_SAMPLE_AGE_S} s old; ` +
        `until lag <= ${s.lagThresholdSeconds}s for ${formatDuration(s.stableWindowMs)}`,
    }),
  ];
}
