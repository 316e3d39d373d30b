// One database of a plan: where from, where to, and how it is judged ready.
import { z } from 'zod';
import { backupsSchema } from './plan-sqlserver';
import { connectivitySchema } from './plan-gcp';
import { sourceSchema, targetSchema } from './plan-endpoints';
import { healthCheckSchema } from './health-check-plan';
import { throttleSchema } from './throttle-plan';
import { approversSchema, dependsOnSchema } from './plan-waves';
import { NAME, NAME_RULE, readinessOverrides } from './plan-fields';

export const databaseSchema = z
  .strictObject({
    name: z
      .string()
      .regex(NAME, NAME_RULE)
      .describe(
        'Unique name of this database in the plan, used in commands (dbmig approve ID NAME) and resource names.',
      ),
    engine: z
      .enum(['postgresql', 'mysql', 'sqlserver'])
      .describe(
        "The source's engine. The local platform migrates postgresql only; sqlserver is gcp only (onto Cloud SQL " +
          'for SQL Server, from backup files in Cloud Storage: see backups).',
      ),
    priority: z
      .enum(['high', 'medium', 'low'])
      .default('medium')
      .describe(
        'Start order: high first, then medium, then low (plan order within one priority). On gcp, high also asks ' +
          'for calendar-mode capacity where the machine type allows it.',
      ),
    sizeGb: z
      .number()
      .positive()
      .describe(
        "The database's size in GB. It sizes the copy: one migration worker per 50 GB, from 1 to 8, and on gcp the " +
          "target's default storage.",
      ),
    source: sourceSchema,
    target: targetSchema,
    connectivity: connectivitySchema
      .optional()
      .describe("gcp only: how DMS reaches this database's source, in place of gcp.connectivity. Default: gcp's."),
    backups: backupsSchema
      .optional()
      .describe(
        'engine sqlserver only, and required there: where the backup files DMS restores are (a full backup, ' +
          'then transaction log backups as they are taken).',
      ),
    ...readinessOverrides,
    throttle: throttleSchema
      .optional()
      .describe(
        "This database's limits on its source's load, in place of defaults's (whole: {} sets none for it). " +
          "Default: defaults's.",
      ),
    dependsOn: dependsOnSchema,
    approvers: approversSchema,
    healthCheck: healthCheckSchema
      .optional()
      .describe("This database's health check after the cutover, in place of cutover.healthCheck's. Default: that."),
  })
  .describe('One database to migrate: where from, where to, and how it is judged ready.');
