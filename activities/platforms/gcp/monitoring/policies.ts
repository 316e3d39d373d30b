// The migration's alert policies (google/monitoring/v3/alert.proto, AlertPolicy), as the bodies
// alertPolicies.create sends: DMS replication lag above the plan's warning and critical levels,
// and errors logged by the migration's DMS jobs (a failed job).
import type { protos } from '@google-cloud/monitoring';
import type { FleetTask } from '../../../steps';
import { LAG_SECONDS_METRIC } from './lag';
import {
  ALERT_LABEL,
  DMS_JOB_RESOURCE,
  MAX_CONDITIONS,
  MAX_FILTER_CHARS,
  SPEC_LABEL,
  jobPatterns,
  migrationLabels,
  specLabel,
} from './scope';

type AlertPolicy = protos.google.monitoring.v3.IAlertPolicy;
type Condition = protos.google.monitoring.v3.AlertPolicy.ICondition;

export type AlertKey = 'lag-warning' | 'lag-critical' | 'job-failed';

export interface PolicySpec {
  key: AlertKey;
  body: AlertPolicy;
}

/**
 * Every DMS job in the project whose id dbmig made: the fallback when the migration's jobs do not
 * fit in six 2048-character filters (more than about 1,200 databases). It also watches other
 * migrations' jobs, which the policy's documentation says.
 */
const ALL_DBMIG_JOBS = 'dbmig-.*';

/** The filters selecting the migration's jobs for one metric: one per condition, at most six. */
function lagFilters(fleet: FleetTask, metric: string): string[] {
  const head = `metric.type="${metric}" AND resource.type="${DMS_JOB_RESOURCE}" AND `;
  const filter = (p: string) => `${head}resource.labels.migration_job_id=monitoring.regex.full_match("${p}")`;
  const patterns = jobPatterns(fleet, MAX_FILTER_CHARS - filter('').length);
  return (patterns.length <= MAX_CONDITIONS ? patterns : [ALL_DBMIG_JOBS]).map(filter);
}

function lagConditions(fleet: FleetTask, threshold: number): Condition[] {
  const filters = lagFilters(fleet, LAG_SECONDS_METRIC);
  const part = (i: number) => (filters.length > 1 ? ` (jobs ${i + 1}/${filters.length})` : '');
  return filters.map((filter, i) => ({
    displayName: `DMS replication lag above ${threshold}s${part(i)}`,
    conditionThreshold: {
      filter,
      // DMS samples the lag every 60 s: the worst sample of each minute, per job.
      aggregations: [{ alignmentPeriod: { seconds: 60 }, perSeriesAligner: 'ALIGN_MAX' }],
      // "Only COMPARISON_LT and COMPARISON_GT are supported" (MetricThreshold.comparison): a lag of
      // exactly the level does not alert, which at one-second resolution is the same thing.
      comparison: 'COMPARISON_GT',
      thresholdValue: threshold,
      // A multiple of a minute (MetricThreshold.duration): two samples above the level, not a blip.
      duration: { seconds: 120 },
      trigger: { count: 1 },
    },
  }));
}

/**
 * DMS writes structured logs for its jobs on the datamigration.googleapis.com/MigrationJob resource
 * (https://cloud.google.com/database-migration/docs/oracle-to-alloydb/logging); Cloud Monitoring has
 * no job-state metric (https://cloud.google.com/monitoring/api/metrics_gcp#gcp-datamigration lists
 * lag, throughput and progress only), so a failed job is an ERROR entry from one of the jobs: a
 * log-based condition (https://cloud.google.com/monitoring/alerts/log-based-alerts).
 */
function failedJobCondition(fleet: FleetTask): Condition {
  const patterns = jobPatterns(fleet, MAX_FILTER_CHARS);
  const jobs = patterns.map((p) => `resource.labels.migration_job_id=~"^${p}$"`).join(' OR ');
  return {
    displayName: 'DMS migration job errors',
    conditionMatchedLog: {
      filter: `resource.type="${DMS_JOB_RESOURCE}" AND severity>=ERROR AND (${jobs})`,
      labelExtractors: { migration_job_id: 'EXTRACT(resource.labels.migration_job_id)' },
    },
  };
}

function documentation(fleet: FleetTask, what: string, broad: boolean): AlertPolicy['documentation'] {
  return {
    mimeType: 'text/markdown',
    subject: `dbmig ${fleet.migrationId}: ${what}`,
    content:
      `${what} in migration **${fleet.migrationId}** (${fleet.databases.length} database(s)). ` +
      `See \`dbmig status ${fleet.migrationId}\` and the dashboard "dbmig ${fleet.migrationId}".` +
      (broad ? ' This policy watches every dbmig DMS job in the project: the migration has too many to list.' : ''),
  };
}

/** The three policies, each labelled with the migration, its key and a fingerprint of its definition. */
export function alertPolicySpecs(fleet: FleetTask): PolicySpec[] {
  const m = fleet.gcp!.monitoring;
  const broad = lagFilters(fleet, LAG_SECONDS_METRIC).some((f) => f.includes(`"${ALL_DBMIG_JOBS}"`));
  const base = (key: AlertKey, what: string, rest: AlertPolicy): PolicySpec => {
    const body: AlertPolicy = {
      displayName: `dbmig ${fleet.migrationId}: ${what}`,
      documentation: documentation(fleet, what, broad),
      combiner: 'OR',
      notificationChannels: [...m.notificationChannels],
      ...rest,
    };
    return { key, body: { ...body, userLabels: { ...migrationLabels(fleet), [ALERT_LABEL]: key } } };
  };
  return [
    base('lag-warning', `DMS lag above ${m.lagWarningSeconds}s`, {
      severity: 'WARNING',
      conditions: lagConditions(fleet, m.lagWarningSeconds),
    }),
    base('lag-critical', `DMS lag above ${m.lagCriticalSeconds}s`, {
      severity: 'CRITICAL',
      conditions: lagConditions(fleet, m.lagCriticalSeconds),
    }),
    base('job-failed', 'DMS migration job failed', {
      severity: 'ERROR',
      conditions: [failedJobCondition(fleet)],
      // "Required for log-based alerting policies" (AlertPolicy.AlertStrategy.notification_rate_limit).
      alertStrategy: { notificationRateLimit: { period: { seconds: 300 } }, autoClose: { seconds: 1800 } },
    }),
  ].map(withSpec);
}

/** Adds the fingerprint of everything else in the body as a label. */
function withSpec(s: PolicySpec): PolicySpec {
  return { ...s, body: { ...s.body, userLabels: { ...s.body.userLabels, [SPEC_LABEL]: specLabel(s.body) } } };
}
