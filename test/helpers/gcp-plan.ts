// The gcp plan the gcp tests share, one database per pair the recipe uses: MySQL to Cloud SQL
// (high), PostgreSQL to AlloyDB (low) and PostgreSQL to Cloud SQL (medium). Their sources are
// documentation addresses (RFC 5737) the worker cannot reach, so they are dms-only: DMS's verify
// is the assessment and the versions come from the plan.
import type { PlanInput } from '../../common/plan';

export const PROJECT = 'dbmig-contract';
export const WORKER_IMAGE = `us-central1-docker.pkg.dev/${PROJECT}/dbmig/worker:1.0.0`;

export function gcpPlan(extra: Partial<PlanInput> = {}): PlanInput {
  return {
    platform: 'gcp',
    gcp: {
      project: PROJECT,
      region: 'us-central1',
      zone: 'us-central1-a',
      network: `projects/${PROJECT}/global/networks/migration-network`,
      // What the reserved workers run (compute/worker-startup.ts): capacity is refused without them.
      workerImage: WORKER_IMAGE,
      workerTemporal: { address: 'temporal.migration.internal:7233' },
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
          access: 'dms-only',
          version: '8.0',
        },
        target: {
          kind: 'cloudsql',
          instance: 'orders-mysql',
          tier: 'db-custom-4-16384',
          passwordRef: 'env:GCP_TEST_TARGET_PASSWORD',
        },
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
          access: 'dms-only',
          version: '15',
        },
        target: { kind: 'alloydb', instance: 'ledger-alloy', cpuCount: 8, passwordRef: 'gcpsm:ledger-target-password' },
      },
      {
        name: 'billing',
        engine: 'postgresql',
        priority: 'medium',
        sizeGb: 60,
        source: {
          host: '203.0.113.30',
          port: 5432,
          database: 'billing',
          user: 'migrator',
          passwordRef: 'env:GCP_TEST_SOURCE_PASSWORD',
          access: 'dms-only',
          version: '14',
        },
        target: {
          kind: 'cloudsql',
          instance: 'billing-pg',
          tier: 'db-custom-2-8192',
          passwordRef: 'env:GCP_TEST_TARGET_PASSWORD',
        },
      },
    ],
    ...extra,
  };
}
