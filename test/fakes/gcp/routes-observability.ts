// Cloud Monitoring v3 timeSeries.list for the DMS lag metrics (google/monitoring/v3/metric_service.proto),
// and Secret Manager v1 versions.access (google/cloud/secretmanager/v1/service.proto).
import { ApiError, ok, type FakeGcp } from './server';
import { jobView, type DmsBehaviour, type FakeJob } from './routes-dms';

const SEG = '([^/:]+)';

/**
 * The DMS lag metrics (datamigration.googleapis.com/migration_job/max_replica_sec_lag and
 * max_replica_bytes_lag, https://cloud.google.com/monitoring/api/metrics_gcp#gcp-datamigration):
 * "sampled every 60 seconds; after sampling, data is not visible for up to 180 seconds". Points
 * lie on the job's sampling grid from the start of CDC, and a point is served only once its
 * publication delay has passed; both periods come from DmsBehaviour (short in tests).
 */
export function monitoringRoutes(f: FakeGcp, b: DmsBehaviour): void {
  f.route('GET', new RegExp(`^/v3/projects/${SEG}/timeSeries$`), 'monitoring.projects.timeSeries.list', ({ query }) => {
    const filter = query.get('filter') ?? '';
    const metric = /metric\.type\s*=\s*"([^"]+)"/.exec(filter)?.[1];
    const jobId = /resource\.labels\.migration_job_id\s*=\s*"([^"]+)"/.exec(filter)?.[1];
    const endParam = query.get('interval.endTime');
    // ListTimeSeriesRequest (google/monitoring/v3/metric_service.proto): `filter` is required and
    // "must specify a single metric type"; `interval` is required, and TimeInterval.end_time is
    // "Required. The end of the time interval"
    // (https://cloud.google.com/monitoring/api/ref_v3/rest/v3/projects.timeSeries/list).
    if (!metric || !endParam) throw new ApiError(400, 'filter with metric.type and interval.endTime are required');
    const entry = [...f.resources.entries()].find(
      ([k]) => k.startsWith('dms/') && k.endsWith(`/migrationJobs/${jobId}`),
    );
    if (!entry) return ok({ timeSeries: [] });
    const job = entry[1] as FakeJob;
    jobView(job, b);
    if (!job._cdcSince) return ok({ timeSeries: [] });
    const period = b.lagSamplePeriodMs ?? 1000;
    const delay = b.lagPublishDelayMs ?? 0;
    const now = Date.now();
    const parseTime = (v: string | null) => (v ? (/^\d+$/.test(v) ? Number(v) * 1000 : Date.parse(v)) : NaN);
    const startParam = parseTime(query.get('interval.startTime'));
    const from = Math.max(job._cdcSince, Number.isFinite(startParam) ? startParam : 0);
    // Sampling stops while the job is not replicating.
    const until = Math.min(parseTime(endParam) || now, now - delay, job._stoppedAt ?? Infinity);
    // One series per database the job carries, labelled `database` (the metric's label in
    // https://cloud.google.com/monitoring/api/metrics_gcp#gcp-datamigration), each with its own lag.
    const timeSeries = (job._databases ?? ['']).flatMap((database) => {
      const curve = b.lagByDatabase?.get(database) ?? {
        startSeconds: b.lagStartSeconds,
        decayPerSecond: b.lagDecayPerSecond,
      };
      const points = [];
      for (let k = Math.ceil((from - job._cdcSince!) / period); job._cdcSince! + k * period <= until; k++) {
        const at = job._cdcSince! + k * period;
        const lag = Math.max(0, curve.startSeconds - (curve.decayPerSecond * (at - job._cdcSince!)) / 1000);
        const value = metric.endsWith('bytes_lag')
          ? { int64Value: String(Math.round(lag * 4096)) }
          : { doubleValue: lag };
        points.unshift({
          interval: { startTime: new Date(at - period).toISOString(), endTime: new Date(at).toISOString() },
          value,
        });
      }
      if (!points.length) return [];
      return [
        {
          metric: { type: metric, ...(database ? { labels: { database } } : {}) },
          resource: { type: 'datamigration.googleapis.com/MigrationJob', labels: { migration_job_id: jobId } },
          // Newest first, as timeSeries.list returns points.
          points: points.slice(0, 100),
        },
      ];
    });
    return ok({ timeSeries });
  });
}

export function secretRoutes(f: FakeGcp, secrets: Map<string, string>): void {
  f.route(
    'GET',
    new RegExp(`^/v1/(projects/${SEG}/secrets/${SEG})/versions/${SEG}:access$`),
    'secretmanager.projects.secrets.versions.access',
    ({ params: [name, , , version] }) => {
      const value = secrets.get(name);
      // A secret that does not exist is NOT_FOUND (https://google.aip.dev/131, "Errors";
      // https://cloud.google.com/secret-manager/docs/reference/rest/v1/projects.secrets.versions/access).
      if (value === undefined) throw new ApiError(404, `secret ${name} not found`);
      return ok({
        name: `${name}/versions/${version === 'latest' ? '1' : version}`,
        payload: { data: Buffer.from(value).toString('base64') },
      });
    },
  );
}
