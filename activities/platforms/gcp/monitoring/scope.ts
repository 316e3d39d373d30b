// What the recipe's monitoring step watches and how its resources are known as this migration's:
// the DMS jobs of the migration's databases (selected in Monitoring and Logging filters) and the
// labels on the dashboard and alert policies.
import { fnv1a, gcpId, gcpResourceNames } from '../../../../common/naming';
import { MigrationError } from '../../../../common/failures';
import { type FleetTask } from '../../../steps';
import { OWNER_LABEL } from '../names';

/** The monitored resource DMS reports on (https://cloud.google.com/monitoring/api/resources#tag_datamigration.googleapis.com/MigrationJob). */
export const DMS_JOB_RESOURCE = 'datamigration.googleapis.com/MigrationJob';
/** With OWNER_LABEL on each alert policy: which of the migration's policies it is. */
export const ALERT_LABEL = 'dbmig-alert';
/**
 * A fingerprint of the definition the code sent: an existing resource whose fingerprint differs was
 * made from another definition (older code, other thresholds or channels) and is replaced.
 */
export const SPEC_LABEL = 'dbmig-spec';

/**
 * Monitoring filters "must not exceed 2048 Unicode characters" (google/monitoring/v3/alert.proto,
 * MetricThreshold.filter); a policy takes "from one to six conditions" (AlertPolicy.conditions).
 */
export const MAX_FILTER_CHARS = 2048;
export const MAX_CONDITIONS = 6;

export function monitoringProject(fleet: FleetTask): string {
  if (!fleet.gcp)
    throw new MigrationError(
      'InvalidPlan',
      "platform gcp needs the plan's gcp section (project, region, zone, network)",
    );
  return fleet.gcp.project;
}

/** The label value that marks this migration's resources: ownerLabels()'s OWNER_LABEL value (names.ts). */
export function ownerValue(fleet: FleetTask): string {
  return gcpId(fleet.migrationId, 63);
}

export function migrationLabels(fleet: FleetTask): Record<string, string> {
  return { [OWNER_LABEL]: ownerValue(fleet) };
}

export function isOurs(labels: Record<string, string> | null | undefined, fleet: FleetTask): boolean {
  return !!labels && labels[OWNER_LABEL] === ownerValue(fleet);
}

/** The DMS job id of each database (names.ts gcpNames().migrationJob). */
export function jobIds(fleet: FleetTask): string[] {
  return fleet.databases.map((db) => gcpResourceNames(fleet.migrationId, db).migrationJob);
}

/**
 * The migration's jobs as regular expressions over migration_job_id, each short enough for a filter
 * of `budget` characters. Job ids carry no per-migration prefix (dbmig-<database>-<hash of migration
 * and database>), so the jobs are listed; by their 8-character hash suffix, which keeps about 200
 * of them in one 2048-character filter.
 */
export function jobPatterns(fleet: FleetTask, budget: number): string[] {
  const hashes = jobIds(fleet).map((id) => id.slice(id.lastIndexOf('-') + 1));
  const chunks: string[][] = [];
  let current: string[] = [];
  const pattern = (hs: string[]) => `dbmig-.*-(${hs.join('|')})`;
  for (const h of hashes) {
    if (current.length && pattern([...current, h]).length > budget) {
      chunks.push(current);
      current = [];
    }
    current.push(h);
  }
  if (current.length) chunks.push(current);
  return chunks.map(pattern);
}

/** A label value (lower case, at most 63) fingerprinting a definition. */
export function specLabel(definition: unknown): string {
  const text = JSON.stringify(definition);
  return `${fnv1a(text)}${fnv1a(`spec:${text}`)}`;
}

/** The dashboard's caller-chosen id (projects/P/dashboards/ID): the same for every attempt. */
export function dashboardId(fleet: FleetTask): string {
  return `dbmig-${gcpId(fleet.migrationId, 40)}-${fnv1a(`dashboard:${fleet.migrationId}`)}`;
}
