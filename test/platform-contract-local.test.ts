// The platform contract against the local platform: real PostgreSQL clusters (one source, one
// target for every scenario, each scenario with its own small source database), no Temporal.
import { rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import pg from 'pg';
import { LocalPlatform } from '../activities/platforms/local';
import { writeMark } from '../activities/engines/postgres/target-mark';
import { withClient } from '../activities/engines/postgres/sessions';
import { type ClusterInfo } from '../activities/platforms/local/clusters';
import type { DatabaseTask } from '../activities/steps';
import { resourceNames } from '../common/naming';
import { effectiveSettings } from '../common/plan-settings';
import { validatePlan } from '../common/plan';
import { createSourceDatabase, planFor } from './fixtures/fleet';
import { describeLocalWorld } from './helpers/local-world';
import { platformContract, type TaskOptions } from './helpers/platform-contract';

const PASSWORD_ENV = 'DBMIG_CONTRACT_SOURCE_PASSWORD';
const TARGET = 'contract-target';
const stateDir = resolve('.local-platform', 'test-platform-contract');
// 300 GB asks for 6 copy workers, more than the clusters' 4 sync workers, so reserveCapacity
// also raises the target's setting; the pool must hold every scenario's reservation at once.
process.env.DBMIG_LOCAL_CAPACITY_WORKERS = '100';
const platform = new LocalPlatform(stateDir);
let source: ClusterInfo;
const sourceDbs = new Set<string>();

const names = (t: DatabaseTask) => resourceNames(t.migrationId, t.database.name);
const onSource = <T>(t: DatabaseTask, fn: (c: pg.Client) => Promise<T>) =>
  withClient({ ...source, database: t.database.source.database }, fn);
async function onTarget<T>(t: DatabaseTask, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const info = await platform.clusters.ensure(t.database.target.instance);
  return withClient({ ...info, database: t.settings.targetDatabase }, fn);
}

async function task(scenario: string, opts: TaskOptions = {}): Promise<DatabaseTask> {
  const db = { name: `contract_${scenario.replace(/-/g, '_')}`, rows: 200, priority: 'medium' as const, sizeGb: 300 };
  if (!sourceDbs.has(db.name)) await createSourceDatabase(source, db);
  sourceDbs.add(db.name);
  const plan = validatePlan(planFor(source, [db], `env:${PASSWORD_ENV}`));
  const database = {
    ...plan.databases[0],
    target: { ...plan.databases[0].target, instance: opts.absentTarget ? `absent-${scenario}` : TARGET },
  };
  return {
    migrationId: opts.migrationId ?? `contract-${scenario}`,
    platform: 'local',
    database,
    settings: effectiveSettings(plan, database),
  };
}

platformContract({
  name: 'local',
  async start() {
    await rm(stateDir, { recursive: true, force: true });
    [source] = await Promise.all([platform.clusters.ensure('source'), platform.clusters.ensure(TARGET)]);
    process.env[PASSWORD_ENV] = source.password;
    return platform;
  },
  async stop() {
    for (const c of ['source', TARGET]) await platform.clusters.destroy(c);
    await rm(stateDir, { recursive: true, force: true });
  },
  task,
  copiesRows: true,
  describeWorld: () => describeLocalWorld(platform),
  conflicts: [
    {
      operation: 'provisionTarget',
      what: 'a target database it did not create',
      async arrange(t) {
        const info = await platform.clusters.ensure(TARGET);
        await withClient({ ...info, database: 'postgres' }, (c) =>
          c.query(`create database ${pg.escapeIdentifier(t.settings.targetDatabase)}`),
        );
        return new RegExp(
          `${t.settings.targetDatabase} .*already exists and belongs to no dbmig migration, ` +
            `not to migration ${t.migrationId}`,
        );
      },
    },
    {
      operation: 'provisionTarget',
      what: 'its own target, once that target has taken over (a re-run of a finished migration)',
      async arrange(t) {
        const info = await platform.clusters.ensure(TARGET);
        await withClient({ ...info, database: 'postgres' }, async (c) => {
          await c.query(`create database ${pg.escapeIdentifier(t.settings.targetDatabase)}`);
          await writeMark(
            c,
            t.settings.targetDatabase,
            { migrationId: t.migrationId, database: t.database.name },
            'cutover',
          );
        });
        return new RegExp(`${t.settings.targetDatabase} .*has already taken over from the source`);
      },
    },
    {
      operation: 'reserveCapacity',
      what: 'a reservation of another size and mode',
      async arrange(t) {
        await platform.capacity.reserve(names(t).capacityReservation, 1, 'calendar');
        return /holds 1 calendar workers, expected 6 flex-start/;
      },
    },
    {
      operation: 'createMigrationJob',
      what: 'a publication of other tables',
      async arrange(t) {
        await onSource(t, (c) => c.query(`create publication ${pg.escapeIdentifier(names(t).publication)}`));
        return /exists with tables \[\], expected \[dbmig\.fence, dbmig\.heartbeat, public\.items\]/;
      },
    },
    {
      operation: 'createMigrationJob',
      what: 'a replication slot of another database',
      async arrange(t) {
        await withClient({ ...source, database: 'postgres' }, (c) =>
          c.query(`select pg_create_logical_replication_slot($1, 'pgoutput')`, [names(t).slot]),
        );
        return new RegExp(`exists for postgres/pgoutput, expected ${t.database.source.database}/pgoutput`);
      },
    },
    {
      operation: 'createMigrationJob',
      what: 'a subscription to another publication',
      async arrange(t) {
        const n = names(t);
        // connect = false: the subscription is only a catalog entry, as one left by an older plan.
        await onTarget(t, (c) =>
          c.query(
            `create subscription ${pg.escapeIdentifier(n.subscription)}
               connection 'host=${source.host} port=${source.port} dbname=postgres'
               publication other with (connect = false, slot_name = ${pg.escapeLiteral(n.slot)})`,
          ),
        );
        return new RegExp(`exists with publications \\[other\\] .*expected \\[${n.publication}\\]`);
      },
    },
  ],
});
