// Replication lag from Cloud Monitoring (API v3, projects.timeSeries.list:
// https://cloud.google.com/monitoring/api/ref_v3/rest/v3/projects.timeSeries/list): DMS publishes
// per-job max lag in seconds and bytes (datamigration metrics in https://cloud.google.com/monitoring/api/metrics_gcp).
// Every reading carries the age of its sample; a stale sample is no evidence of low lag. The
// metrics are "sampled every 60 seconds; after sampling, data is not visible for up to 180
// seconds" (https://cloud.google.com/monitoring/api/metrics_gcp#gcp-datamigration), so a reading
// that must describe the source after some instant (the cutover's zero lag once writes stopped)
// waits for a sample taken after that instant: freshLag.
//
// Both metrics carry a `database` label: a job that migrates several databases publishes one series
// per database, each with its own lag. The newest point of whichever series would let one database's
// drained lag pass the gate (and the dms-only promote) of another, so only the series of the
// migration's own database is read (seriesOfDatabase); a job publishing no database label has one
// series, the job's.
import { formatDuration } from '../../../../common/durations';
import type { DatabaseTask, PlannedOperation } from '../../../steps';
import type { GcpClients } from '../clients';
import { call } from '../errors';
import { gcpNames } from '../names';
import { planned } from '../planned';
import { pollUntil, type PollOptions } from '../poll';

export const LAG_SECONDS_METRIC = 'datamigration.googleapis.com/migration_job/max_replica_sec_lag';
export const LAG_BYTES_METRIC = 'datamigration.googleapis.com/migration_job/max_replica_bytes_lag';
/** Older samples are treated as no sample at all. */
export const MAX_SAMPLE_AGE_S = 300;

export interface LagSample {
  value: number;
  ageSeconds: number;
  /** When the sample was taken (its interval's end). */
  at: Date;
}

/** How a lag metric is published: sampled every 60 s, visible up to 180 s later. */
export const LAG_SAMPLE_PERIOD_S = 60;
export const LAG_PUBLISH_DELAY_S = 180;

type TimeSeries = { metric?: { labels?: Record<string, string> | null } | null };

/**
 * The series of `database` among a job's: those labelled with it; when no series carries a
 * database label at all, every series (the job's own). A database no series names has none.
 */
export function seriesOfDatabase<T extends TimeSeries>(series: T[], database: string): T[] {
  const labelled = series.filter((ts) => ts.metric?.labels?.database !== undefined);
  if (!labelled.length) return series;
  return labelled.filter((ts) => ts.metric!.labels!.database === database);
}

/** The newest sample of `metric` for the job's series of `database` (seriesOfDatabase), under MAX_SAMPLE_AGE_S old. */
export async function latestSample(
  c: GcpClients,
  project: string,
  jobId: string,
  metric: string,
  database: string,
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
  for (const ts of seriesOfDatabase(series ?? [], database)) {
    for (const p of ts.points ?? []) {
      const end = p.interval?.endTime;
      const at = end ? Number(end.seconds ?? 0) * 1000 + Math.floor((end.nanos ?? 0) / 1e6) : 0;
      const value = p.value?.doubleValue ?? Number(p.value?.int64Value ?? NaN);
      if (!Number.isFinite(value) || !at) continue;
      const ageSeconds = Math.max(0, (now - at) / 1000);
      if (!best || ageSeconds < best.ageSeconds) best = { value, ageSeconds, at: new Date(at) };
    }
  }
  return best && best.ageSeconds <= MAX_SAMPLE_AGE_S ? best : undefined;
}

/** The newest lag sample (seconds) taken strictly after `since`, or undefined while there is none (no wait). */
export async function lagSampleAfter(
  c: GcpClients,
  task: DatabaseTask,
  since: Date,
): Promise<{ seconds: number; sampledAt: Date } | undefined> {
  const s = await latestSample(
    c,
    task.gcp!.project,
    gcpNames(task).migrationJob,
    LAG_SECONDS_METRIC,
    task.database.source.database,
  );
  return s && s.at.getTime() > since.getTime() ? { seconds: s.value, sampledAt: s.at } : undefined;
}

/**
 * The newest lag sample (seconds) of this task's job taken strictly after `since`, waiting for one
 * to be published (up to a sample period plus the publication delay, unless `poll` says less):
 * the cutover's "fresh zero lag" after the source's writes stopped. Fails retryably when none came.
 */
export async function freshLag(
  c: GcpClients,
  task: DatabaseTask,
  since: Date,
  poll: PollOptions = { intervalMs: 10_000, timeoutMs: (LAG_SAMPLE_PERIOD_S + LAG_PUBLISH_DELAY_S + 60) * 1000 },
  metric = LAG_SECONDS_METRIC,
): Promise<LagSample> {
  const id = gcpNames(task).migrationJob;
  const sample = await pollUntil(
    `a ${metric.split('/').pop()} sample of ${id} taken after ${since.toISOString()}`,
    () => latestSample(c, task.gcp!.project, id, metric, task.database.source.database),
    (s) => !!s && s.at.getTime() > since.getTime(),
    poll,
  );
  return sample!;
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
        `job ${gcpNames(task).migrationJob}, the series of database ${task.database.source.database}, ` +
        `samples under ${MAX_SAMPLE_AGE_S} s old; ` +
        `until lag <= ${s.lagThresholdSeconds}s for ${formatDuration(s.stableWindowMs)}`,
    }),
  ];
}
