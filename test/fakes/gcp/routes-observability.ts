// Cloud Monitoring v3 timeSeries.list for the DMS lag metrics (google/monitoring/v3/metric_service.proto),
// and Secret Manager v1 versions.access (google/cloud/secretmanager/v1/service.proto).
import { ApiError, ok, type FakeGcp } from './server';
import { jobView, type DmsBehaviour, type FakeJob } from './routes-dms';

const SEG = '([^/:]+)';

export function monitoringRoutes(f: FakeGcp, b: DmsBehaviour): void {
  f.route('GET', new RegExp(`^/v3/projects/${SEG}/timeSeries$`), 'monitoring.projects.timeSeries.list', ({ query }) => {
    const filter = query.get('filter') ?? '';
    const metric = /metric\.type\s*=\s*"([^"]+)"/.exec(filter)?.[1];
    const jobId = /resource\.labels\.migration_job_id\s*=\s*"([^"]+)"/.exec(filter)?.[1];
    if (!metric || !query.get('interval.endTime'))
      throw new ApiError(400, 'filter with metric.type and interval.endTime are required');
    const entry = [...f.resources.entries()].find(
      ([k]) => k.startsWith('dms/') && k.endsWith(`/migrationJobs/${jobId}`),
    );
    if (!entry) return ok({ timeSeries: [] });
    const job = entry[1] as FakeJob & { runningSince?: number };
    const view = jobView(job, b);
    if (view.state !== 'RUNNING' || !job.runningSince || view.phase === 'FULL_DUMP') return ok({ timeSeries: [] });
    const cdcSince = job.runningSince + b.fullDumpMs;
    const now = Date.now();
    const points = [0, 1, 2, 3, 4].map((ago) => {
      const at = now - ago * 1000;
      const lag = Math.max(0.3, b.lagStartSeconds - (b.lagDecayPerSecond * Math.max(0, at - cdcSince)) / 1000);
      const value = metric.endsWith('bytes_lag')
        ? { int64Value: String(Math.round(lag * 4096)) }
        : { doubleValue: lag };
      return { interval: { startTime: new Date(at - 1000).toISOString(), endTime: new Date(at).toISOString() }, value };
    });
    return ok({
      timeSeries: [
        {
          metric: { type: metric },
          resource: { type: 'datamigration.googleapis.com/MigrationJob', labels: { migration_job_id: jobId } },
          points,
        },
      ],
    });
  });
}

export function secretRoutes(f: FakeGcp, secrets: Map<string, string>): void {
  f.route(
    'GET',
    new RegExp(`^/v1/(projects/${SEG}/secrets/${SEG})/versions/${SEG}:access$`),
    'secretmanager.projects.secrets.versions.access',
    ({ params: [name, , , version] }) => {
      const value = secrets.get(name);
      if (value === undefined) throw new ApiError(404, `secret ${name} not found`);
      return ok({
        name: `${name}/versions/${version === 'latest' ? '1' : version}`,
        payload: { data: Buffer.from(value).toString('base64') },
      });
    },
  );
}
