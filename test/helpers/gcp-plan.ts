// The two-database gcp plan the gcp tests share: MySQL to Cloud SQL (high), PostgreSQL to AlloyDB (low).
import type { PlanInput } from '../../common/plan';

export const PROJECT = 'dbmig-contract';

export function gcpPlan(extra: Partial<PlanInput> = {}): PlanInput {
  return {
    platform: 'gcp',
    gcp: {
      project: PROJECT,
      region: 'us-central1',
      zone: 'us-central1-a',
      network: `projects/${PROJECT}/global/networks/migration-network`,
      dumpBucket: 'gs://dbmig-dumps',
    },
    databases: [
      {
        name: 'orders',
        engine: 'mysql',
        priority: 'high',
        sizeGb: 400,
        source: {
          host: '203.0.113.10',
          port: 3306,
          database: 'orders',
          user: 'migrator',
          passwordRef: 'env:GCP_TEST_SOURCE_PASSWORD',
        },
        target: { kind: 'cloudsql', instance: 'orders-mysql', tier: 'db-custom-4-16384' },
      },
      {
        name: 'ledger',
        engine: 'postgresql',
        priority: 'low',
        sizeGb: 120,
        source: {
          host: '203.0.113.20',
          port: 5432,
          database: 'ledger',
          user: 'migrator',
          passwordRef: 'gcpsm:ledger-source-password',
        },
        target: { kind: 'alloydb', instance: 'ledger-alloy', cpuCount: 8 },
      },
    ],
    ...extra,
  };
}
