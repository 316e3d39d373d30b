// The migration's dashboard (google/monitoring/dashboard/v1/dashboard.proto, Dashboard), as
// dashboards.create sends it: DMS replication lag in seconds and bytes, one line per migration job
// of this migration, with the plan's warning and critical levels drawn on the seconds chart.
import type { protos } from '@google-cloud/monitoring-dashboards';
import type { FleetTask } from '../../../steps';
import { LAG_BYTES_METRIC, LAG_SECONDS_METRIC } from './lag';
import {
  DMS_JOB_RESOURCE,
  MAX_FILTER_CHARS,
  SPEC_LABEL,
  dashboardId,
  jobPatterns,
  migrationLabels,
  specLabel,
} from './scope';

type Dashboard = protos.google.monitoring.dashboard.v1.IDashboard;
type DataSet = protos.google.monitoring.dashboard.v1.XyChart.IDataSet;

/** One data set per filter: TimeSeriesFilter.filter follows the same 2048-character limit. */
function dataSets(fleet: FleetTask, metric: string): DataSet[] {
  const head = `metric.type="${metric}" AND resource.type="${DMS_JOB_RESOURCE}" AND `;
  const filter = (p: string) => `${head}resource.labels.migration_job_id=monitoring.regex.full_match("${p}")`;
  return jobPatterns(fleet, MAX_FILTER_CHARS - filter('').length).map((p) => ({
    timeSeriesQuery: {
      timeSeriesFilter: {
        filter: filter(p),
        // No cross-series reducer: a line per job, so the one that lags is named in the legend.
        aggregation: { alignmentPeriod: { seconds: 60 }, perSeriesAligner: 'ALIGN_MAX' },
      },
    },
    plotType: 'LINE',
    legendTemplate: '${resource.labels.migration_job_id}',
  }));
}

export function dashboardName(fleet: FleetTask): string {
  return `projects/${fleet.gcp!.project}/dashboards/${dashboardId(fleet)}`;
}

/** The full definition, named (the caller-chosen id makes create idempotent) and labelled. */
export function dashboardBody(fleet: FleetTask): Dashboard {
  const m = fleet.gcp!.monitoring;
  const body: Dashboard = {
    name: dashboardName(fleet),
    displayName: `dbmig ${fleet.migrationId}`,
    mosaicLayout: {
      columns: 12,
      tiles: [
        {
          xPos: 0,
          yPos: 0,
          width: 12,
          height: 2,
          widget: {
            title: `Migration ${fleet.migrationId}`,
            text: {
              format: 'MARKDOWN',
              content:
                `DMS replication lag of the ${fleet.databases.length} database(s) of migration ` +
                `**${fleet.migrationId}**: ${fleet.databases.join(', ')}. Alerts above ` +
                `${m.lagWarningSeconds}s (warning) and ${m.lagCriticalSeconds}s (critical).`,
            },
          },
        },
        {
          xPos: 0,
          yPos: 2,
          width: 6,
          height: 4,
          widget: {
            title: 'Replication lag (seconds), per migration job',
            xyChart: {
              dataSets: dataSets(fleet, LAG_SECONDS_METRIC),
              thresholds: [
                { label: 'warning', value: m.lagWarningSeconds },
                { label: 'critical', value: m.lagCriticalSeconds },
              ],
              yAxis: { label: 'seconds', scale: 'LINEAR' },
            },
          },
        },
        {
          xPos: 6,
          yPos: 2,
          width: 6,
          height: 4,
          widget: {
            title: 'Replication lag (bytes), per migration job',
            xyChart: { dataSets: dataSets(fleet, LAG_BYTES_METRIC), yAxis: { label: 'bytes', scale: 'LINEAR' } },
          },
        },
      ],
    },
  };
  return { ...body, labels: { ...migrationLabels(fleet), [SPEC_LABEL]: specLabel(body) } };
}
