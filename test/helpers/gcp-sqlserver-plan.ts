// A gcp plan with one SQL Server database onto Cloud SQL for SQL Server. Its source is a
// documentation address (RFC 5737) the worker cannot reach, so it is dms-only and the operator takes
// the tail-log backup; the backups are in the fake's bucket.
import type { PlanInput } from '../../common/plan';
import { PROJECT, WORKER_IMAGE } from './gcp-plan';

export const SQLSERVER_BUCKET = 'dbmig-contract-mssql-backups';

export function sqlServerPlan(extra: Partial<PlanInput> = {}): PlanInput {
  return {
    platform: 'gcp',
    gcp: {
      project: PROJECT,
      region: 'us-central1',
      zone: 'us-central1-a',
      network: `projects/${PROJECT}/global/networks/migration-network`,
      workerImage: WORKER_IMAGE,
      workerTemporal: { address: 'temporal.migration.internal:7233' },
    },
    databases: [
      {
        name: 'inventory',
        engine: 'sqlserver',
        sizeGb: 30,
        source: {
          host: '203.0.113.40',
          database: 'inventory',
          user: 'migrator',
          passwordRef: 'env:GCP_TEST_SOURCE_PASSWORD',
          access: 'dms-only',
          version: '2019',
        },
        target: {
          kind: 'cloudsql',
          instance: 'inventory-mssql',
          version: '2022',
          edition: 'enterprise',
          tier: 'db-custom-4-16384',
          passwordRef: 'env:GCP_TEST_TARGET_PASSWORD',
        },
        backups: { bucket: SQLSERVER_BUCKET, prefix: 'sqlserver/inventory/' },
      },
    ],
    ...extra,
  };
}
