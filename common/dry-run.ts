// `dbmig plan`: the operations a plan would perform, per database in start order, with the
// exact resource names the platforms derive. Pure: it calls nothing.
import { byPriority, capacityMode, workerCount } from './capacity';
import { effectiveSettings, type DatabasePlan, type Plan } from './plan';
import { gcpResourceNames, resourceNames } from './naming';
import { formatDuration } from './durations';
import type { MigrationState } from './states';

export interface PlannedOperation {
  state: MigrationState;
  api: string;
  resource: string;
  detail: string;
}

export interface PlannedDatabase {
  database: DatabasePlan;
  capacity: { mode: string; workers: number };
  operations: PlannedOperation[];
}

function gcpOperations(plan: Plan, migrationId: string, db: DatabasePlan): PlannedOperation[] {
  const gcp = plan.gcp!;
  const n = gcpResourceNames(migrationId, db.name);
  const s = effectiveSettings(plan, db);
  const t = db.target;
  const workers = workerCount(db.sizeGb);
  const mode = capacityMode(db.priority);
  const loc = `projects/${gcp.project}/locations/${gcp.region}`;
  const engine = db.engine === 'mysql' ? 'MYSQL' : 'POSTGRESQL';
  const target: PlannedOperation[] =
    t.kind === 'cloudsql'
      ? [
          {
            state: 'PROVISIONING_TARGET',
            api: 'sqladmin instances.get → instances.insert',
            resource: `projects/${gcp.project}/instances/${t.instance}`,
            detail: `${db.engine === 'mysql' ? 'MYSQL_8_0' : 'POSTGRES_15'}, ${t.tier ?? 'db-custom-4-16384'}, ${t.highAvailability === false ? 'ZONAL' : 'REGIONAL'}, PD_SSD auto-resize, backups, maintenance day ${gcp.maintenanceWindow.day} ${gcp.maintenanceWindow.hour}:00 UTC, private network`,
          },
        ]
      : [
          {
            state: 'PROVISIONING_TARGET',
            api: 'alloydb clusters.get → clusters.create',
            resource: `${loc}/clusters/${t.instance}`,
            detail: `network ${gcp.network}`,
          },
          {
            state: 'PROVISIONING_TARGET',
            api: 'alloydb instances.get → instances.create',
            resource: `${loc}/clusters/${t.instance}/instances/${n.alloydbPrimary(t.instance)}`,
            detail: `PRIMARY, ${t.cpuCount ?? 4} vCPU`,
          },
        ];
  const capacity: PlannedOperation =
    mode === 'calendar'
      ? {
          state: 'RESERVING_CAPACITY',
          api: 'compute futureReservations.insert',
          resource: `zones/${gcp.zone}/futureReservations/${n.futureReservation}`,
          detail: `calendar mode: ${workers} x ${gcp.machineType}`,
        }
      : {
          state: 'RESERVING_CAPACITY',
          api: 'compute instanceGroupManagers.resizeRequests.insert',
          resource: `zones/${gcp.zone}/instanceGroupManagers/${gcp.migrationWorkerGroup}/resizeRequests/${n.resizeRequest}`,
          detail: `flex-start: +${workers} workers`,
        };
  const job = `${loc}/migrationJobs/${n.migrationJob}`;
  return [
    {
      state: 'ASSESSING',
      api: 'datamigration connectionProfiles.create (validateOnly)',
      resource: n.sourceProfile,
      detail: `${db.engine} ${db.source.host}:${db.source.port}, password from ${db.source.passwordRef}`,
    },
    ...target,
    capacity,
    {
      state: 'CREATING_JOB',
      api: 'datamigration connectionProfiles.create',
      resource: `${loc}/connectionProfiles/${n.sourceProfile}`,
      detail: `source ${db.engine}, user ${db.source.user}`,
    },
    {
      state: 'CREATING_JOB',
      api: 'datamigration connectionProfiles.create',
      resource: `${loc}/connectionProfiles/${n.destinationProfile}`,
      detail: `destination ${t.kind} ${t.instance}`,
    },
    {
      state: 'CREATING_JOB',
      api: 'datamigration migrationJobs.create',
      resource: job,
      detail: `CONTINUOUS ${engine} → ${t.kind === 'alloydb' ? 'ALLOYDB' : 'CLOUDSQL'}${db.engine === 'mysql' && gcp.dumpBucket ? `, dump ${gcp.dumpBucket}/${n.migrationJob}` : ''}`,
    },
    { state: 'VERIFYING', api: 'datamigration migrationJobs.verify', resource: job, detail: '' },
    {
      state: 'FULL_DUMP',
      api: 'datamigration migrationJobs.start',
      resource: job,
      detail: 'then migrationJobs.get until phase CDC',
    },
    {
      state: 'CDC',
      api: 'monitoring timeSeries.list',
      resource: 'migration_job/max_replica_sec_lag, max_replica_bytes_lag',
      detail: `until lag <= ${s.lagThresholdSeconds}s for ${formatDuration(s.stableWindowMs)}`,
    },
    { state: 'VALIDATING', api: 'datamigration migrationJobs.get', resource: job, detail: 'RUNNING without error' },
    approval(plan, migrationId, db),
    {
      state: 'CUTTING_OVER',
      api: 'datamigration migrationJobs.promote',
      resource: job,
      detail: 'stop writes to the source first',
    },
    { state: 'VERIFYING_TARGET', api: 'datamigration migrationJobs.get', resource: job, detail: 'COMPLETED' },
    {
      state: 'COMPLETED',
      api: 'datamigration migrationJobs.delete, connectionProfiles.delete x2; release capacity',
      resource: n.migrationJob,
      detail: mode === 'calendar' ? 'futureReservations.delete' : 'resizeRequests.cancel + delete',
    },
  ];
}

function approval(plan: Plan, migrationId: string, db: DatabasePlan): PlannedOperation {
  return plan.approval.policy === 'auto'
    ? { state: 'AWAITING_APPROVAL', api: 'none (approval policy auto)', resource: '', detail: '' }
    : {
        state: 'AWAITING_APPROVAL',
        api: 'workflow Update approveCutover',
        resource: `${migrationId}/${db.name}`,
        detail: `dbmig approve ${migrationId} ${db.name} --approver NAME (within ${plan.approval.timeout})`,
      };
}

function localOperations(plan: Plan, migrationId: string, db: DatabasePlan): PlannedOperation[] {
  const n = resourceNames(migrationId, db.name);
  const s = effectiveSettings(plan, db);
  const src = `${db.source.host}:${db.source.port}/${db.source.database}`;
  const tgt = `local cluster ${db.target.instance}/${s.targetDatabase}`;
  return [
    {
      state: 'ASSESSING',
      api: 'SQL on the source',
      resource: src,
      detail: `wal_level, slots, keys (noPrimaryKey: ${s.noPrimaryKey}), large objects`,
    },
    {
      state: 'PROVISIONING_TARGET',
      api: 'CREATE DATABASE + pg_dump --schema-only',
      resource: tgt,
      detail: 'embedded PostgreSQL 15',
    },
    {
      state: 'RESERVING_CAPACITY',
      api: 'local copy-worker pool',
      resource: n.capacityReservation,
      detail: `${workerCount(db.sizeGb)} workers (${capacityMode(db.priority)})`,
    },
    {
      state: 'CREATING_JOB',
      api: 'CREATE PUBLICATION, slot, CREATE SUBSCRIPTION',
      resource: `${n.publication}, ${n.slot}, ${n.subscription}`,
      detail: 'subscription disabled until start',
    },
    { state: 'VERIFYING', api: 'catalog checks', resource: n.job, detail: '' },
    { state: 'FULL_DUMP', api: 'ALTER SUBSCRIPTION ENABLE', resource: n.subscription, detail: 'initial table copy' },
    {
      state: 'CDC',
      api: 'pg_replication_slots / pg_stat_replication',
      resource: n.slot,
      detail: `until lag <= ${s.lagThresholdSeconds}s for ${formatDuration(s.stableWindowMs)}`,
    },
    { state: 'VALIDATING', api: 'row counts + checksums', resource: src, detail: 'per table' },
    approval(plan, migrationId, db),
    {
      state: 'CUTTING_OVER',
      api: 'read-only source, final LSN, sequences, drop replication',
      resource: src,
      detail: 'write-block window measured',
    },
    { state: 'VERIFYING_TARGET', api: 'row counts + checksums', resource: tgt, detail: 'exact' },
  ];
}

export function planOperations(plan: Plan, migrationId: string): PlannedDatabase[] {
  return byPriority(plan.databases).map((db) => ({
    database: db,
    capacity: { mode: capacityMode(db.priority), workers: workerCount(db.sizeGb) },
    operations: plan.platform === 'gcp' ? gcpOperations(plan, migrationId, db) : localOperations(plan, migrationId, db),
  }));
}
