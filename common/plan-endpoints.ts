// Where a database comes from and where it goes: the plan's source and target.
import { z } from 'zod';
import { LOCAL_TARGET_MAJORS } from './plan-defaults';
import { GCP_NAME, PG_IDENT, SECRET_REF, SECRET_RULE, VERSION } from './plan-fields';
import { SQLSERVER_EDITIONS } from './plan-sqlserver';

export const sourceSchema = z
  .strictObject({
    host: z.string().min(1).describe('Host name or IP address the worker (and, on gcp, DMS) reaches the source at.'),
    port: z.number().int().min(1).max(65535).default(5432).describe('TCP port of the source server.'),
    database: z
      .string()
      .regex(PG_IDENT, 'must be a plain database name')
      .describe('The database to migrate, on the source server.'),
    user: z
      .string()
      .min(1)
      .describe(
        'User the worker connects as. PostgreSQL: needs REPLICATION (or superuser) to create the publication and ' +
          'slot; MySQL: the replication privileges DMS documents.',
      ),
    passwordRef: z
      .string()
      .regex(SECRET_REF, SECRET_RULE)
      .describe(
        "Where the worker reads the source user's password: env:NAME (an environment variable), file:PATH (a " +
          "file's contents) or gcpsm:NAME (a Secret Manager secret). Never the password itself.",
      ),
    access: z
      .enum(['direct', 'dms-only'])
      .default('direct')
      .describe(
        'gcp only. direct: the worker reaches the source over SQL, assesses its prerequisites and fences its ' +
          "writes at cutover. dms-only: only DMS reaches it; the assessment relies on DMS's verify and the " +
          'operator stops the writes before approving the cutover.',
      ),
    version: z
      .string()
      .regex(VERSION, 'must be a major version such as 15 or 8.0')
      .optional()
      .describe(
        "The source's major version (15, 8.0), for when the worker cannot ask the source itself " +
          '(access: dms-only). Default: read from the source.',
      ),
  })
  .describe('The database server to migrate from. It is only read, until the cutover closes it.');

export const targetSchema = z
  .strictObject({
    kind: z
      .enum(['cloudsql', 'alloydb', 'postgres'])
      .describe(
        'What the target is. On gcp: cloudsql (a Cloud SQL instance) or alloydb (an AlloyDB cluster and primary ' +
          'instance), created by the migration. On local: cloudsql and alloydb both mean an embedded PostgreSQL ' +
          'cluster the worker starts on this machine (so a gcp plan rehearses locally unchanged); postgres means an ' +
          'existing PostgreSQL server you run, at host and port.',
      ),
    instance: z
      .string()
      .regex(GCP_NAME, 'must be lower-case letters, digits or -, starting with a letter (at most 40)')
      .describe(
        'Name of the target instance (gcp: the Cloud SQL instance or AlloyDB cluster; local: the embedded cluster, ' +
          'or the existing server in messages). Databases naming the same instance share it.',
      ),
    host: z.string().min(1).optional().describe("kind postgres only, and required there: the existing server's host."),
    port: z
      .number()
      .int()
      .min(1)
      .max(65535)
      .optional()
      .describe("kind postgres only: the existing server's TCP port. Default 5432."),
    database: z
      .string()
      .regex(PG_IDENT, 'must be a plain database name')
      .optional()
      .describe("Name of the database on the target. Default: the source's database name."),
    tier: z
      .string()
      .optional()
      .describe(
        'gcp, kind cloudsql: the Cloud SQL machine tier, e.g. db-custom-8-32768 (8 vCPUs, 32 GB). ' +
          'Default db-custom-4-16384.',
      ),
    highAvailability: z
      .boolean()
      .optional()
      .describe(
        'gcp, kind cloudsql: a regional (high-availability) instance with a standby in another zone; false for a ' +
          'zonal one. Default true.',
      ),
    cpuCount: z
      .number()
      .int()
      .min(2)
      .max(128)
      .optional()
      .describe('gcp, kind alloydb: vCPUs of the primary instance. Default 4.'),
    storageGb: z
      .number()
      .int()
      .min(10)
      .optional()
      .describe(
        "gcp, kind cloudsql: the instance's SSD size in GB (it grows on its own past it). Default 1.5 × the " +
          "database's sizeGb, at least 10.",
      ),
    version: z
      .string()
      .regex(VERSION, 'must be a major version such as 15 or 8.0')
      .optional()
      .describe(
        "The target's major version (17, 8.0). Default: the source's major. Local embedded clusters run " +
          `PostgreSQL ${LOCAL_TARGET_MAJORS.join(', ')}; an instance runs one version for all its databases.`,
      ),
    edition: z
      .enum(SQLSERVER_EDITIONS)
      .optional()
      .describe(
        'engine sqlserver only: the SQL Server edition of the Cloud SQL instance (its license). Default standard.',
      ),
    user: z
      .string()
      .min(1)
      .optional()
      .describe(
        "The target's administrative user. gcp: set on the instance or cluster the platform creates, and used by " +
          "DMS's destination connection profile (default postgres or root). kind postgres: required, the user the " +
          'worker connects as.',
      ),
    passwordRef: z
      .string()
      .regex(SECRET_REF, SECRET_RULE)
      .optional()
      .describe(
        "The target user's password, as a secret reference (env:NAME, file:PATH or gcpsm:NAME). Required on gcp " +
          'and for kind postgres.',
      ),
  })
  .describe('Where the database goes. Only what this migration created is ever deleted.');
