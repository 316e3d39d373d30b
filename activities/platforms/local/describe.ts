// The local dry run: what LocalPlatform does for a task on the happy path, in runbook order, with
// the names it derives (common/naming) and the settings it reads. Calls nothing.
import { workerCount } from '../../../common/capacity';
import { formatDuration } from '../../../common/durations';
import { cutoverLimits } from '../../../common/plan-settings';
import { resourceNames } from '../../../common/naming';
import type { DatabaseTask, PlannedOperation, PlannedSummary } from '../../steps';

/** An embedded cluster the worker starts, or an existing server; copy workers from this machine's pool. */
export function summarizeLocal(task: DatabaseTask): PlannedSummary {
  const { target, sizeGb } = task.database;
  if (target.kind === 'postgres')
    return {
      target: `existing server ${target.host}:${target.port ?? 5432} (${target.instance})`,
      capacity: "the server's own sync workers",
    };
  const version = target.version ? `PostgreSQL ${target.version}` : "PostgreSQL (the source's major)";
  return {
    target: `embedded ${version} cluster ${target.instance}`,
    capacity: `local copy-worker pool x${workerCount(sizeGb)} workers`,
  };
}

export function describeLocal(task: DatabaseTask): PlannedOperation[] {
  const db = task.database;
  const s = task.settings;
  const n = resourceNames(task.migrationId, db.name);
  const src = `${db.source.host}:${db.source.port}/${db.source.database}`;
  const existing = db.target.kind === 'postgres';
  const tgt = existing
    ? `server ${db.target.host}:${db.target.port ?? 5432}/${s.targetDatabase}`
    : `local cluster ${db.target.instance}/${s.targetDatabase}`;
  const replication = `${n.publication}, ${n.slot}, ${n.subscription}`;
  const limits = cutoverLimits(s);
  return [
    {
      state: 'ASSESSING',
      api: 'SQL on the source',
      resource: src,
      detail: `version, wal_level, slots, keys (noPrimaryKey: ${s.noPrimaryKey}), large objects, a pg_dump for it`,
    },
    {
      state: 'PROVISIONING_TARGET',
      api: 'CREATE DATABASE + pg_dump --schema-only',
      resource: tgt,
      detail: existing
        ? 'existing server: only the database is created (and marked); wal_level, slots and privileges assessed first'
        : `embedded PostgreSQL ${db.target.version ?? "(the source's major)"} cluster, started on first use`,
    },
    {
      state: 'RESERVING_CAPACITY',
      api: existing ? 'none (the server uses its own sync workers)' : 'local copy-worker pool',
      resource: n.capacityReservation,
      detail: existing
        ? `${workerCount(db.sizeGb)} workers noted; the server's settings left alone`
        : `${workerCount(db.sizeGb)} of the pool's workers (DBMIG_LOCAL_CAPACITY_WORKERS), ` +
          'max_sync_workers_per_subscription',
    },
    {
      state: 'CREATING_JOB',
      api: 'schema dbmig (heartbeat, fence), CREATE PUBLICATION, slot, CREATE SUBSCRIPTION',
      resource: replication,
      detail: `subscription disabled until start${
        s.noPrimaryKey === 'replica-identity-full' ? '; REPLICA IDENTITY FULL on tables without a key' : ''
      }`,
    },
    { state: 'VERIFYING', api: 'catalog checks', resource: n.job, detail: 'publication, slot, subscription, tables' },
    { state: 'FULL_DUMP', api: 'ALTER SUBSCRIPTION ENABLE', resource: n.subscription, detail: 'initial table copy' },
    {
      state: 'CDC',
      api: 'dbmig.heartbeat (lag in seconds) / pg_replication_slots (bytes)',
      resource: n.slot,
      detail: `until lag <= ${s.lagThresholdSeconds}s for ${formatDuration(s.stableWindowMs)}`,
    },
    { state: 'VALIDATING', api: 'row counts + checksums', resource: src, detail: 'per table' },
    {
      state: 'CUTTING_OVER',
      api: 'LOCK published tables IN SHARE MODE, drain to a dbmig.fence token, REVOKE CONNECT, sequences, matviews',
      resource: src,
      detail:
        `only if lag <= ${limits.maxLagSeconds}s; the source is blocked at most ${formatDuration(limits.timeoutMs)}, ` +
        `then closed; reverse replication (${n.publication}_rev, ${n.slot}_rev, ${n.subscription}_rev, no copy) ` +
        'keeps a rollback possible until finalized; write-block window measured',
    },
    { state: 'VERIFYING_TARGET', api: 'row counts + checksums', resource: tgt, detail: 'exact' },
    {
      state: 'COMPLETED',
      api: 'DROP SUBSCRIPTION, publication, slot; release copy workers',
      resource: replication,
      detail: 'the target database stays',
    },
  ];
}
