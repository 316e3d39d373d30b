// The IAM permissions the worker's identity needs, per API method the gcp platform calls (named by
// its discovery id, as the dry run and the test fake name it: activities/platforms/gcp/planned.ts,
// test/fakes/gcp), reads included: exactly the methods the platform's modules call through
// GcpClients (clients.ts), nothing more. Each method's REST reference page says "Authorization
// requires the following IAM permission"; the services' permission lists are in
// https://cloud.google.com/iam/docs/permissions-reference and:
// - DMS: https://cloud.google.com/database-migration/docs/reference/rest/v1/projects.locations.migrationJobs
//   (and .connectionProfiles, .operations); https://cloud.google.com/database-migration/docs/access-control
// - Cloud SQL: https://cloud.google.com/sql/docs/mysql/iam-permissions (operations.get: cloudsql.instances.get)
// - AlloyDB: https://cloud.google.com/alloydb/docs/reference/iam-roles-permissions
// - Compute: https://cloud.google.com/compute/docs/reference/rest/v1 (resize requests are authorised as
//   updates of their instance group manager; a MIG reads its template: compute.instanceTemplates.useReadOnly)
// - Monitoring: https://cloud.google.com/monitoring/access-control#permissions (dashboards and alert
//   policies are replaced by patch: monitoring.dashboards.update, monitoring.alertPolicies.update)
// - Secret Manager: https://cloud.google.com/secret-manager/docs/access-control
// test/gcp-check.test.ts runs every database of the shared plan through the platform on the fake
// and checks that every method it sent has an entry here, and that every entry was sent.

const DMS = 'datamigration.projects.locations';
const ALLOYDB = 'alloydb.projects.locations';

export const METHOD_PERMISSIONS: Record<string, string[]> = {
  // Database Migration Service (dms/profiles.ts, dms/job.ts, dms/actions.ts, dms/common.ts, target-users.ts)
  [`${DMS}.connectionProfiles.create`]: ['datamigration.connectionprofiles.create'],
  [`${DMS}.connectionProfiles.get`]: ['datamigration.connectionprofiles.get'],
  [`${DMS}.connectionProfiles.list`]: ['datamigration.connectionprofiles.list'],
  [`${DMS}.connectionProfiles.delete`]: ['datamigration.connectionprofiles.delete'],
  [`${DMS}.migrationJobs.create`]: ['datamigration.migrationjobs.create'],
  [`${DMS}.migrationJobs.get`]: ['datamigration.migrationjobs.get'],
  [`${DMS}.migrationJobs.list`]: ['datamigration.migrationjobs.list'],
  [`${DMS}.migrationJobs.delete`]: ['datamigration.migrationjobs.delete'],
  [`${DMS}.migrationJobs.verify`]: ['datamigration.migrationjobs.verify'],
  [`${DMS}.migrationJobs.start`]: ['datamigration.migrationjobs.start'],
  [`${DMS}.migrationJobs.restart`]: ['datamigration.migrationjobs.restart'],
  [`${DMS}.migrationJobs.resume`]: ['datamigration.migrationjobs.resume'],
  [`${DMS}.migrationJobs.stop`]: ['datamigration.migrationjobs.stop'],
  [`${DMS}.migrationJobs.promote`]: ['datamigration.migrationjobs.promote'],
  [`${DMS}.migrationJobs.demoteDestination`]: ['datamigration.migrationjobs.demoteDestination'],
  // Only where a database's connectivity uses them (dms/connectivity.ts; preflight/connectivity.ts
  // leaves them out of the check otherwise).
  [`${DMS}.privateConnections.get`]: ['datamigration.privateconnections.get'],
  [`${DMS}.migrationJobs.generateSshScript`]: ['datamigration.migrationjobs.generateSshScript'],
  [`${DMS}.fetchStaticIps`]: ['datamigration.locations.fetchStaticIps'],
  // Only where a database is SQL Server (preflight/sqlserver.ts leaves them out of the check
  // otherwise): its job's objects (the objects.get page names datamigration.objects.get; list by
  // the same resource), and its backup bucket (https://cloud.google.com/storage/docs/access-control/iam-json).
  [`${DMS}.migrationJobs.objects.list`]: ['datamigration.objects.list'],
  'storage.buckets.get': ['storage.buckets.get'],
  'storage.objects.list': ['storage.objects.list'],
  [`${DMS}.operations.get`]: ['datamigration.operations.get'],
  [`${DMS}.operations.list`]: ['datamigration.operations.list'],
  // Cloud SQL Admin (cloudsql.ts, target-address.ts; the took-over label: target-mark.ts)
  'sql.instances.list': ['cloudsql.instances.list'],
  'sql.instances.get': ['cloudsql.instances.get'],
  'sql.instances.insert': ['cloudsql.instances.create'],
  'sql.instances.patch': ['cloudsql.instances.update'],
  'sql.instances.delete': ['cloudsql.instances.delete'],
  'sql.operations.get': ['cloudsql.instances.get'],
  // AlloyDB (alloydb.ts, target-address.ts; the took-over label: target-mark.ts)
  [`${ALLOYDB}.clusters.create`]: ['alloydb.clusters.create'],
  [`${ALLOYDB}.clusters.get`]: ['alloydb.clusters.get'],
  [`${ALLOYDB}.clusters.patch`]: ['alloydb.clusters.update'],
  [`${ALLOYDB}.clusters.delete`]: ['alloydb.clusters.delete'],
  [`${ALLOYDB}.clusters.instances.create`]: ['alloydb.instances.create'],
  [`${ALLOYDB}.clusters.instances.get`]: ['alloydb.instances.get'],
  [`${ALLOYDB}.clusters.instances.list`]: ['alloydb.instances.list'],
  [`${ALLOYDB}.clusters.instances.delete`]: ['alloydb.instances.delete'],
  [`${ALLOYDB}.operations.get`]: ['alloydb.operations.get'],
  // Compute Engine: capacity (calendar.ts, flex-start.ts), the workers' template and MIG (worker-group.ts),
  // their operations (compute/operations.ts)
  'compute.advice.calendarMode': ['compute.advice.calendarMode'],
  'compute.futureReservations.get': ['compute.futureReservations.get'],
  'compute.futureReservations.insert': ['compute.futureReservations.create'],
  'compute.instanceGroupManagerResizeRequests.get': ['compute.instanceGroupManagers.get'],
  'compute.instanceGroupManagerResizeRequests.list': ['compute.instanceGroupManagers.get'],
  'compute.instanceGroupManagerResizeRequests.insert': ['compute.instanceGroupManagers.update'],
  'compute.instanceGroupManagerResizeRequests.cancel': ['compute.instanceGroupManagers.update'],
  'compute.instanceGroupManagerResizeRequests.delete': ['compute.instanceGroupManagers.update'],
  'compute.instanceGroupManagers.get': ['compute.instanceGroupManagers.get'],
  'compute.instanceGroupManagers.insert': [
    'compute.instanceGroupManagers.create',
    'compute.instanceTemplates.useReadOnly',
  ],
  'compute.instanceGroupManagers.delete': ['compute.instanceGroupManagers.delete'],
  'compute.instanceGroupManagers.resize': ['compute.instanceGroupManagers.update'],
  'compute.instanceTemplates.get': ['compute.instanceTemplates.get'],
  // A template whose VMs run as a service account needs the right to act as it
  // (https://cloud.google.com/compute/docs/access/create-enable-service-accounts-for-instances).
  'compute.instanceTemplates.insert': ['compute.instanceTemplates.create', 'iam.serviceAccounts.actAs'],
  'compute.instanceTemplates.delete': ['compute.instanceTemplates.delete'],
  'compute.zoneOperations.get': ['compute.zoneOperations.get'],
  'compute.globalOperations.get': ['compute.globalOperations.get'],
  // Cloud Monitoring: lag (lag.ts), the migration's dashboard and alert policies (monitoring.ts)
  'monitoring.projects.timeSeries.list': ['monitoring.timeSeries.list'],
  'monitoring.projects.notificationChannels.get': ['monitoring.notificationChannels.get'],
  'monitoring.projects.dashboards.get': ['monitoring.dashboards.get'],
  'monitoring.projects.dashboards.create': ['monitoring.dashboards.create'],
  'monitoring.projects.dashboards.patch': ['monitoring.dashboards.update'],
  'monitoring.projects.dashboards.delete': ['monitoring.dashboards.delete'],
  'monitoring.projects.alertPolicies.list': ['monitoring.alertPolicies.list'],
  'monitoring.projects.alertPolicies.create': ['monitoring.alertPolicies.create'],
  'monitoring.projects.alertPolicies.patch': ['monitoring.alertPolicies.update'],
  'monitoring.projects.alertPolicies.delete': ['monitoring.alertPolicies.delete'],
  // Secret Manager: gcpsm: password references (index.ts)
  'secretmanager.projects.secrets.versions.access': ['secretmanager.versions.access'],
};

/**
 * The reads `dbmig gcp check` itself sends (Service Usage batchGet needs serviceusage.services.get;
 * testIamPermissions needs no permission: https://cloud.google.com/resource-manager/reference/rest/v3/projects/testIamPermissions).
 */
export const PREFLIGHT_PERMISSIONS = [
  'serviceusage.services.get',
  // The workers' service account's roles (worker-account.ts).
  'resourcemanager.projects.getIamPolicy',
  'compute.networks.get',
  'compute.globalAddresses.get',
  'compute.instanceTemplates.get',
  'compute.instanceGroupManagers.get',
  'compute.zones.get',
  'compute.regions.get',
  'compute.machineTypes.get',
];

/**
 * What the migration workers' own service account (gcp.workerServiceAccount) needs, each with the
 * predefined role `dbmig gcp check` suggests and why: the data-plane steps the VMs run on gcp read
 * the DMS job (validateData, getReplicationStatus under waitForFullDump) and its lag
 * (monitoring timeSeries.list); the boot script reads the Temporal API key and the worker the plan's
 * gcpsm: passwords from Secret Manager, Docker pulls the image from Artifact Registry
 * (https://cloud.google.com/artifact-registry/docs/access-control), and the logs go to Cloud Logging
 * (https://cloud.google.com/logging/docs/access-control).
 */
export const WORKER_VM_PERMISSIONS: { permission: string; role: string; why: string }[] = [
  {
    permission: 'datamigration.migrationjobs.get',
    role: 'roles/datamigration.viewer',
    why: 'the data-plane steps read the DMS job',
  },
  { permission: 'monitoring.timeSeries.list', role: 'roles/monitoring.viewer', why: "they read the job's lag" },
  {
    permission: 'secretmanager.versions.access',
    role: 'roles/secretmanager.secretAccessor',
    why: 'the Temporal API key and the gcpsm: passwords',
  },
  {
    permission: 'artifactregistry.repositories.downloadArtifacts',
    role: 'roles/artifactregistry.reader',
    why: 'pulling gcp.workerImage',
  },
  { permission: 'logging.logEntries.create', role: 'roles/logging.logWriter', why: "the workers' logs" },
];

/**
 * The predefined roles that grant each WORKER_VM_PERMISSIONS entry, from
 * https://cloud.google.com/iam/docs/roles-permissions (basic roles: roles/editor and roles/owner
 * hold all five; roles/viewer the two reads). A custom role is not read: the check says so.
 */
export const ROLES_GRANTING: Record<string, string[]> = {
  'datamigration.migrationjobs.get': [
    'roles/datamigration.viewer',
    'roles/datamigration.admin',
    'roles/viewer',
    'roles/editor',
    'roles/owner',
  ],
  'monitoring.timeSeries.list': [
    'roles/monitoring.viewer',
    'roles/monitoring.editor',
    'roles/monitoring.admin',
    'roles/viewer',
    'roles/editor',
    'roles/owner',
  ],
  'secretmanager.versions.access': ['roles/secretmanager.secretAccessor', 'roles/secretmanager.admin', 'roles/owner'],
  'artifactregistry.repositories.downloadArtifacts': [
    'roles/artifactregistry.reader',
    'roles/artifactregistry.writer',
    'roles/artifactregistry.repoAdmin',
    'roles/artifactregistry.admin',
    'roles/editor',
    'roles/owner',
  ],
  'logging.logEntries.create': ['roles/logging.logWriter', 'roles/logging.admin', 'roles/editor', 'roles/owner'],
};

/** Every permission the platform's methods need, sorted, each once. */
export function requiredPermissions(methods: Iterable<string> = Object.keys(METHOD_PERMISSIONS)): string[] {
  const out = new Set<string>();
  for (const m of methods) for (const p of METHOD_PERMISSIONS[m] ?? []) out.add(p);
  return [...out].sort();
}

/** The methods (discovery ids) that need `permission`, to say what a missing one breaks. */
export function methodsNeeding(permission: string): string[] {
  return Object.entries(METHOD_PERMISSIONS)
    .filter(([, perms]) => perms.includes(permission))
    .map(([m]) => m);
}
