// The plan schema. Pure (zod only) so the workflow can validate before any activity runs,
// and the CLI can show the very same message before anything is started. Its parts: each database
// (plan-database.ts: its source and target in plan-endpoints.ts), gcp (plan-gcp.ts), the rules
// across fields (plan-rules.ts), and what the activities read of it (plan-settings.ts).
//
// The descriptions are the plan's documentation: plan.schema.json and docs/plan-reference.md are
// generated from them (npm run docs:plan). Each says what the field does, its unit and its default.
import { z } from 'zod';
import { DAYS, validTimeZone } from './cutover-window';
import { healthCheckSchema } from './health-check-plan';
import { notificationsSchema } from './notify-plan';
import { databaseSchema } from './plan-database';
import { COPY_DEFAULTS, CUTOVER_DEFAULTS, MAX_COPY_HELPERS, MAX_DATABASES, VALIDATION_DEFAULTS } from './plan-defaults';
import { cutoverTimeout, duration, HHMM, NAME, NAME_RULE, READINESS_DEFAULTS, readinessDefaults } from './plan-fields';
import { gcpSchema } from './plan-gcp';
import { planIssues, type PlanIssue } from './plan-issues';
import { planRules } from './plan-rules';
import { withSqlServerDefaults } from './plan-sqlserver';
import { policySchema, rolesSchema } from './plan-waves';
import { simSchema } from './sim-plan';
import { throttleSchema } from './throttle-plan';

const STREAMS_RULE = 'must be a whole number of sessions per side, 1 to 64';
const CHUNK_ROWS_RULE = 'must be a whole number of rows, 100 to 1000000';

const planShape = z
  .strictObject({
    migrationId: z
      .string()
      .regex(NAME, NAME_RULE)
      .optional()
      .describe(
        'The migration id: the workflow id, and the seed of every resource name. An id that has run is never ' +
          'run again. Default: --id, else migration-TIMESTAMP.',
      ),
    platform: z
      .enum(['local', 'gcp', 'sim'])
      .default('local')
      .describe(
        'Where the migration runs. local: embedded PostgreSQL clusters on this machine or existing servers ' +
          "(demos, tests, rehearsals, moves onto servers you run); gcp: Cloud SQL and AlloyDB with Google's " +
          'Database Migration Service; sim: simulated, nothing real is touched (benchmarks, scale tests).',
      ),
    concurrency: z
      .number()
      .int()
      .min(1)
      .max(100)
      .default(2)
      .describe('How many databases migrate at once; the others wait their turn in priority order.'),
    approval: z
      .strictObject({
        policy: z
          .enum(['manual', 'auto'])
          .default('manual')
          .describe(
            'manual: each cutover waits for dbmig approve (or an application) once the database is ready; ' +
              'auto: the cutover follows readiness without waiting.',
          ),
        timeout: duration
          .default('24h')
          .describe('How long a ready database waits for a decision before onTimeout applies.'),
        onTimeout: z
          .enum(['escalate', 'fail'])
          .default('escalate')
          .describe(
            'When no decision came within timeout: escalate (notify the escalation route and keep waiting; a ' +
              'synced target is never thrown away for a slow human) or fail the database (it is compensated).',
          ),
      })
      .default({ policy: 'manual', timeout: '24h', onTimeout: 'escalate' })
      .describe('Who decides that a ready database cuts over, and how long they have.'),
    defaults: z
      .strictObject({
        ...readinessDefaults,
        throttle: throttleSchema
          .optional()
          .describe(
            "Limits on the source's load for every database that does not set its own (local platform): the copy " +
              'and the live validation pause while one is crossed. Default: none, they read as fast as they can.',
          ),
      })
      .default(READINESS_DEFAULTS)
      .describe('Readiness settings for every database that does not set its own.'),
    cutoverWindow: z
      .strictObject({
        days: z
          .array(z.enum(DAYS))
          .min(1, 'must name at least one day')
          .describe('The days the window opens on (the day it starts, for a window past midnight).'),
        start: z.string().regex(HHMM, 'must be HH:MM').describe('When the window opens, HH:MM in timeZone.'),
        end: z
          .string()
          .regex(HHMM, 'must be HH:MM')
          .describe('When it closes, HH:MM in timeZone; earlier than start means the next day.'),
        timeZone: z
          .string()
          .refine(validTimeZone, { message: 'must be an IANA time zone such as Europe/Berlin' })
          .describe('An IANA time zone, e.g. Europe/Berlin or UTC.'),
      })
      .refine((w) => w.start !== w.end, { message: 'start and end must differ' })
      .optional()
      .describe(
        'Cutovers start only inside this window; approvals are accepted any time and wait for it. ' +
          'Default: no window, a cutover may start at any time.',
      ),
    cutover: z
      .strictObject({
        maxLagSeconds: z
          .number()
          .positive()
          .max(3600)
          .optional()
          .describe(
            'The cutover starts only when a fresh lag sample is at most this many seconds; otherwise nothing is ' +
              `blocked and it is retried. Default ${CUTOVER_DEFAULTS.maxLagSeconds}.`,
          ),
        timeout: cutoverTimeout
          .optional()
          .describe(
            'The longest the source stays blocked for writes during the cutover, 1s to 10m; past it writes come ' +
              `back and the cutover fails retryably. Default ${CUTOVER_DEFAULTS.timeoutMs / 1000}s.`,
          ),
        reverseReplicationFor: duration
          .optional()
          .describe(
            'How long after the cutover reverse replication (target to source) keeps a rollback possible before ' +
              'the database is finalized on its own; 0s finalizes at once. Default 24h.',
          ),
        healthCheck: healthCheckSchema.optional(),
      })
      .optional()
      .describe('The bounds of the cutover itself: when it may start, how long writes may be blocked.'),
    copy: z
      .strictObject({
        method: z
          .enum(['snapshot', 'native'])
          .optional()
          .describe(
            'How the local platform copies the rows before CDC. snapshot: its own streams read one exported ' +
              "snapshot in ranges, indexes are built after the data, resumable by range; native: the subscription's " +
              'own table sync (one stream per table, indexes maintained while it loads). ' +
              `Default ${COPY_DEFAULTS.method}.`,
          ),
        streams: z
          .number()
          .int()
          .min(1)
          .max(64)
          .optional()
          .describe(
            `Copy streams (and index builds) at once per database, snapshot method. Default ${COPY_DEFAULTS.streams}.`,
          ),
        rangeMb: z
          .number()
          .int()
          .min(1)
          .max(4096)
          .optional()
          .describe(
            'The size of the block ranges a large table is split into, in MB of heap (snapshot method). ' +
              `Default ${COPY_DEFAULTS.rangeMb}.`,
          ),
        workerStreams: z
          .number()
          .int()
          .min(1)
          .max(256)
          .optional()
          .describe(
            "Copy streams (and index builds) at once of this plan's databases in one worker process, whatever " +
              'number of databases it copies at once; each database still runs at most copy.streams. Default: ' +
              "the worker machine's cores, at least 2.",
          ),
        helpers: z
          .number()
          .int()
          .min(0)
          .max(MAX_COPY_HELPERS)
          .optional()
          .describe(
            "Other data-plane workers that may join each database's snapshot copy, each with its own " +
              'copy.streams, taking ranges the copy has not started (a worker already copying that database ' +
              `hands the help on). 0 to ${MAX_COPY_HELPERS}; default 0: one worker copies each database.`,
          ),
      })
      .optional()
      .describe('How the initial copy moves the rows (local platform).'),
    validation: z
      .strictObject({
        streams: z
          .number()
          .int(STREAMS_RULE)
          .min(1, STREAMS_RULE)
          .max(64, STREAMS_RULE)
          .optional()
          .describe(
            'Chunks compared at once per database by the live validation: each opens one session on the source ' +
              `and one on the target. Default ${VALIDATION_DEFAULTS.streams}.`,
          ),
        chunkRows: z
          .number()
          .int(CHUNK_ROWS_RULE)
          .min(100, CHUNK_ROWS_RULE)
          .max(1_000_000, CHUNK_ROWS_RULE)
          .optional()
          .describe(
            'Rows per chunk of the live validation, by primary-key range: a chunk that differs is ' +
              'read whole to name its keys, and a retried attempt compares its current chunks again. ' +
              `Default ${VALIDATION_DEFAULTS.chunkRows}.`,
          ),
      })
      .optional()
      .describe('How the live validation before the cutover compares the tables (local platform).'),
    continueAsNewAfterEvents: z
      .number()
      .int()
      .min(100)
      .optional()
      .describe(
        'The fleet workflow starts a fresh run (continue-as-new) once its history has this many events, carrying ' +
          "every database's state; Temporal's own suggestion to do so applies regardless. Default 5000.",
      ),
    roles: rolesSchema,
    policy: policySchema,
    gcp: gcpSchema.optional(),
    sim: simSchema.optional(),
    notifications: notificationsSchema.optional(),
    databases: z
      .array(databaseSchema)
      .min(1, 'must list at least one database')
      .max(
        MAX_DATABASES,
        `must list at most ${MAX_DATABASES} databases: one migration (one parent workflow) carries every ` +
          "database's state across continue-as-new, and Temporal refuses payloads over 2 MB; split the " +
          'fleet into several plans, each with its own migrationId',
      )
      .describe(`The databases to migrate, 1 to ${MAX_DATABASES}.`),
  })
  .describe('A dbmig plan: a fleet of databases to migrate, where, how many at once, and who approves each cutover.');

export const planSchema = planShape.superRefine(planRules);

export type PlanInput = z.input<typeof planSchema>;
// The shape's output, which the cross-field rules (plan-rules.ts) take: the refinement changes no type.
export type Plan = z.output<typeof planShape>;
export type DatabasePlan = Plan['databases'][number];
export type PlatformName = Plan['platform'];

export class InvalidPlanError extends Error {
  readonly type = 'InvalidPlan';
  constructor(readonly issues: PlanIssue[]) {
    super(`Invalid plan:\n${issues.map((i) => `  ${i.field}: ${i.message}`).join('\n')}`);
    this.name = 'InvalidPlan';
  }
}

/** Parses and normalises a plan; throws InvalidPlanError naming every bad field. */
export function validatePlan(input: unknown): Plan {
  const result = planSchema.safeParse(input);
  const removed = removedFields(input);
  if (!result.success || removed.length) {
    const named = new Set(removed.map((r) => r.field));
    const issues = result.success ? [] : planIssues(planSchema, result.error.issues);
    throw new InvalidPlanError([...removed, ...issues.filter((i) => !named.has(i.field))]);
  }
  return withSqlServerDefaults(input, withInstanceVersions(result.data));
}

/**
 * Fields earlier plans had and this one refuses by name, with why, rather than as an unknown key.
 * gcp.dumpBucket named one Cloud Storage dump (DMS's MigrationJob.dumpPath) for every MySQL source
 * of the plan and was never sent. DMS offers a manual dump in the flow where it creates the
 * destination (https://cloud.google.com/database-migration/docs/mysql/get-started-with-mysql-migrations:
 * "Migrate to a new destination instance ... using automatic or manual mysqldump files"), while
 * the gcp platform creates its targets and uses the existing-instance flow, where DMS takes the
 * dump itself; and one path cannot be the dump of several sources.
 */
function removedFields(input: unknown): PlanIssue[] {
  const gcp = (input as { gcp?: Record<string, unknown> } | null)?.gcp;
  if (!gcp || typeof gcp !== 'object' || gcp.dumpBucket === undefined) return [];
  return [
    {
      path: ['gcp', 'dumpBucket'],
      field: 'gcp.dumpBucket',
      message:
        'is no longer accepted: it was never sent to DMS, which takes the initial dump itself for the ' +
        'existing-instance migrations the gcp platform runs (a manual dump is offered only where DMS creates ' +
        'the destination, and one path cannot hold the dump of several sources): remove it',
    },
  ];
}

/**
 * An instance runs one version: a database that names none takes the version another database on
 * the same instance names (the schema refused two different ones). Without this, whichever database
 * reached the instance first would fix its version, and the other could be refused.
 */
function withInstanceVersions(plan: Plan): Plan {
  const named = new Map<string, string>();
  for (const d of plan.databases) if (d.target.version) named.set(d.target.instance, d.target.version);
  if (!plan.databases.some((d) => !d.target.version && named.has(d.target.instance))) return plan;
  return {
    ...plan,
    databases: plan.databases.map((d) =>
      d.target.version || !named.has(d.target.instance)
        ? d
        : { ...d, target: { ...d.target, version: named.get(d.target.instance) } },
    ),
  };
}
