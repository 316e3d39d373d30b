// The plan schema. Pure (zod only) so the workflow can validate before any activity runs,
// and the CLI can show the very same message before anything is started.
import { z } from 'zod';
import { parseDuration } from './durations';
import { DAYS, validTimeZone } from './cutover-window';
import { notificationsSchema } from './notify-plan';
import { simSchema } from './sim-plan';
import { planIssues, type PlanIssue } from './plan-issues';

export const SECRET_REF = /^(env:[A-Za-z_][A-Za-z0-9_]*|file:.+|gcpsm:[A-Za-z0-9_\-/.]+)$/;
const NAME = /^[a-z][a-z0-9_-]{0,47}$/;
const NAME_RULE = 'must be lower-case letters, digits, _ or -, starting with a letter (at most 48)';

/**
 * Why `id` cannot be a migration id, or undefined when it can. The id names the workflow and every
 * resource derived from it, so --id follows the plan's migrationId rule and is checked offline.
 */
export function migrationIdProblem(id: string): string | undefined {
  return NAME.test(id) ? undefined : `migration id "${id}" ${NAME_RULE}`;
}
const HHMM = /^([01]\d|2[0-3]):[0-5]\d$/;
const PG_IDENT = /^[A-Za-z_][A-Za-z0-9_$-]{0,62}$/;

const duration = z.string().refine((s) => parseDuration(s) !== undefined, {
  message: 'must be a duration like 30s, 5m or 24h',
});

/** The PostgreSQL majors the local platform runs as targets (activities/platforms/local/embedded-servers.ts). */
export const LOCAL_TARGET_MAJORS = [15, 16, 17, 18] as const;

/** The cutover's bounds when the plan does not set them. */
export const CUTOVER_DEFAULTS = { maxLagSeconds: 1, timeoutMs: 30_000, reverseReplicationForMs: 86_400_000 } as const;

/** How long the source may stay blocked: long enough to drain, short enough to be an outage nobody notices. */
const cutoverTimeout = z.string().refine(
  (s) => {
    const ms = parseDuration(s);
    return ms !== undefined && ms >= 1_000 && ms <= 600_000;
  },
  { message: 'must be a duration between 1s and 10m, like 30s' },
);

const sourceSchema = z.strictObject({
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535).default(5432),
  database: z.string().regex(PG_IDENT, 'must be a plain database name'),
  user: z.string().min(1),
  passwordRef: z
    .string()
    .regex(SECRET_REF, 'must be a secret reference: env:NAME, file:PATH or gcpsm:NAME (never the password itself)'),
  /**
   * gcp only. direct (default): the worker reaches the source over SQL, assesses its
   * prerequisites and fences its writes at cutover. dms-only: only DMS reaches it; the assessment
   * relies on DMS's verify and the operator stops the writes before approving the cutover.
   */
  access: z.enum(['direct', 'dms-only']).default('direct'),
  /** The source's major version (15, 8.0), for when the worker cannot ask the source itself. */
  version: z
    .string()
    .regex(/^\d+(\.\d+)?$/, 'must be a major version such as 15 or 8.0')
    .optional(),
});

const GCP_NAME = /^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$/;

const targetSchema = z.strictObject({
  /**
   * cloudsql | alloydb: on gcp, the managed service; on local, an embedded cluster named `instance`.
   * postgres (local platform): an existing PostgreSQL server at host:port, reached as user with
   * passwordRef; `instance` names it in messages, and databases naming one instance share it.
   */
  kind: z.enum(['cloudsql', 'alloydb', 'postgres']),
  instance: z.string().regex(GCP_NAME, 'must be lower-case letters, digits or -, starting with a letter (at most 40)'),
  /** kind postgres: the existing server. */
  host: z.string().min(1).optional(),
  port: z.number().int().min(1).max(65535).optional(),
  database: z.string().regex(PG_IDENT, 'must be a plain database name').optional(),
  /** Cloud SQL machine tier, e.g. db-custom-4-16384. */
  tier: z.string().optional(),
  highAvailability: z.boolean().optional(),
  /** AlloyDB primary instance vCPUs. */
  cpuCount: z.number().int().min(2).max(128).optional(),
  storageGb: z.number().int().min(10).optional(),
  /** The target's major version (15, 8.0); default the source's. */
  version: z
    .string()
    .regex(/^\d+(\.\d+)?$/, 'must be a major version such as 15 or 8.0')
    .optional(),
  /**
   * gcp: the target's administrative user and its password (a secret reference). The platform sets
   * them on the instance or cluster it creates, and DMS's destination connection profile needs them.
   */
  user: z.string().min(1).optional(),
  passwordRef: z
    .string()
    .regex(SECRET_REF, 'must be a secret reference: env:NAME, file:PATH or gcpsm:NAME (never the password itself)')
    .optional(),
});

/** Where the gcp platform works; required when platform is gcp. */
const gcpSchema = z.strictObject({
  project: z.string().regex(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/, 'must be a Google Cloud project id'),
  region: z.string().regex(/^[a-z]+-[a-z]+\d+$/, 'must be a region such as us-central1'),
  zone: z.string().regex(/^[a-z]+-[a-z]+\d+-[a-z]$/, 'must be a zone such as us-central1-a'),
  /** VPC for private IP: projects/PROJECT/global/networks/NAME. */
  network: z.string().min(1),
  /** Managed instance group of migration workers that flex-start resize requests grow. */
  migrationWorkerGroup: z.string().regex(GCP_NAME).default('dbmig-migration-workers'),
  machineType: z.string().default('e2-standard-4'),
  /** gs:// path for MySQL initial dumps (DMS dumpPath). */
  dumpBucket: z
    .string()
    .regex(/^gs:\/\/[a-z0-9._-]+(\/.*)?$/, 'must be a gs:// path')
    .optional(),
  /** The private services access range reserved on `network` (compute globalAddresses, purpose VPC_PEERING). */
  allocatedIpRange: z
    .string()
    .regex(/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/, 'must be a Compute resource name')
    .optional(),
  /** Instance template of the migration workers (the recipe's step 1); created when missing. */
  instanceTemplate: z.string().regex(GCP_NAME).default('dbmig-migration-worker'),
  /** Boot image of the migration workers. */
  workerImage: z.string().default('projects/debian-cloud/global/images/family/debian-12'),
  /** The recipe's monitoring step: a dashboard and alert policies per migration. */
  monitoring: z
    .strictObject({
      /** Existing channels, projects/P/notificationChannels/ID, that the alert policies notify. */
      notificationChannels: z
        .array(
          z
            .string()
            .regex(/^projects\/[^/]+\/notificationChannels\/[^/]+$/, 'must be projects/P/notificationChannels/ID'),
        )
        .default([]),
      lagWarningSeconds: z.number().positive().default(60),
      lagCriticalSeconds: z.number().positive().default(300),
      /** Keep the dashboard and policies after the migration ends (default: remove them). */
      keep: z.boolean().default(false),
    })
    .default({ notificationChannels: [], lagWarningSeconds: 60, lagCriticalSeconds: 300, keep: false }),
  /** Cloud SQL maintenance window (UTC). */
  maintenanceWindow: z
    .strictObject({ day: z.number().int().min(1).max(7), hour: z.number().int().min(0).max(23) })
    .default({ day: 7, hour: 3 }),
});
export type GcpSettings = z.output<typeof gcpSchema>;

const tuning = {
  lagThresholdSeconds: z.number().positive().max(3600).optional(),
  stableWindow: duration.optional(),
  noPrimaryKey: z.enum(['fail', 'replica-identity-full']).optional(),
};

const databaseSchema = z.strictObject({
  name: z.string().regex(NAME, NAME_RULE),
  engine: z.enum(['postgresql', 'mysql']),
  priority: z.enum(['high', 'medium', 'low']).default('medium'),
  sizeGb: z.number().positive(),
  source: sourceSchema,
  target: targetSchema,
  ...tuning,
});

/**
 * The most databases one plan (one parent workflow) takes. The plan is the parent's input and is
 * carried across continue-as-new with every database's state; at 2,000 databases both stay well
 * under Temporal's 2 MB payload limit (bench/fleet-scale.ts measures them at 1,000).
 */
export const MAX_DATABASES = 2_000;
/** The plan's JSON size past which it is refused for the same reason, whatever its database count. */
export const MAX_PLAN_BYTES = 1_000_000;

export const planSchema = z
  .strictObject({
    migrationId: z.string().regex(NAME, NAME_RULE).optional(),
    /** sim: the simulated platform (common/sim-plan.ts), for benchmarks, scale tests and rehearsing a fleet. */
    platform: z.enum(['local', 'gcp', 'sim']).default('local'),
    concurrency: z.number().int().min(1).max(100).default(2),
    approval: z
      .strictObject({
        policy: z.enum(['manual', 'auto']).default('manual'),
        timeout: duration.default('24h'),
        /**
         * When no decision came within `timeout`: escalate (notify the escalation route and keep
         * waiting; a synced target is never thrown away for a slow human) or fail the database.
         */
        onTimeout: z.enum(['escalate', 'fail']).default('escalate'),
      })
      .default({ policy: 'manual', timeout: '24h', onTimeout: 'escalate' }),
    defaults: z
      .strictObject({
        lagThresholdSeconds: z.number().positive().max(3600).default(5),
        stableWindow: duration.default('30s'),
        noPrimaryKey: z.enum(['fail', 'replica-identity-full']).default('fail'),
      })
      .default({ lagThresholdSeconds: 5, stableWindow: '30s', noPrimaryKey: 'fail' }),
    /** Cutovers happen only inside this window; approvals are accepted any time. */
    cutoverWindow: z
      .strictObject({
        days: z.array(z.enum(DAYS)).min(1, 'must name at least one day'),
        start: z.string().regex(HHMM, 'must be HH:MM'),
        end: z.string().regex(HHMM, 'must be HH:MM'),
        timeZone: z.string().refine(validTimeZone, { message: 'must be an IANA time zone such as Europe/Berlin' }),
      })
      .refine((w) => w.start !== w.end, { message: 'start and end must differ' })
      .optional(),
    /**
     * The cutover: it starts only when a fresh lag sample is at most maxLagSeconds (default 1), and
     * the source stays blocked at most `timeout` (default 30s); past it writes come back and the
     * cutover fails retryably.
     */
    cutover: z
      .strictObject({
        maxLagSeconds: z.number().positive().max(3600).optional(),
        timeout: cutoverTimeout.optional(),
        /**
         * How long after the cutover reverse replication (target → source) keeps a rollback
         * possible before it is finalized on its own (default 24h); 0s finalizes at once.
         */
        reverseReplicationFor: duration.optional(),
      })
      .optional(),
    /** Continue-as-new after this many history events; the SDK's suggestion applies regardless. */
    continueAsNewAfterEvents: z.number().int().min(100).optional(),
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
      ),
  })
  .superRefine((plan, ctx) => {
    const bytes = JSON.stringify(plan).length;
    if (bytes > MAX_PLAN_BYTES)
      ctx.addIssue({
        code: 'custom',
        path: [],
        message:
          `is ${Math.round(bytes / 1000)} KB, over the ${MAX_PLAN_BYTES / 1000} KB a migration takes: it is the ` +
          "parent workflow's input and is carried across continue-as-new (Temporal refuses payloads over " +
          '2 MB); split the fleet into several plans, each with its own migrationId',
      });
    if (plan.platform !== 'sim' && plan.sim)
      ctx.addIssue({ code: 'custom', path: ['sim'], message: 'is only for platform: sim' });
    if (plan.platform === 'gcp' && !plan.gcp)
      ctx.addIssue({
        code: 'custom',
        path: ['gcp'],
        message: 'is required when platform is gcp (project, region, zone, network)',
      });
    const names = new Set<string>();
    const targets = new Set<string>();
    plan.databases.forEach((db, i) => {
      if (names.has(db.name))
        ctx.addIssue({
          code: 'custom',
          path: ['databases', i, 'name'],
          message: `duplicate database name "${db.name}"`,
        });
      names.add(db.name);
      const target = `${db.target.instance}/${db.target.database ?? db.source.database}`;
      if (targets.has(target))
        ctx.addIssue({ code: 'custom', path: ['databases', i, 'target'], message: `target ${target} is used twice` });
      targets.add(target);
      if (db.engine === 'mysql' && db.target.kind === 'alloydb') {
        ctx.addIssue({
          code: 'custom',
          path: ['databases', i, 'target', 'kind'],
          message: 'AlloyDB is PostgreSQL only; move mysql to cloudsql',
        });
      }
      if (plan.platform === 'gcp' && !db.target.passwordRef)
        ctx.addIssue({
          code: 'custom',
          path: ['databases', i, 'target', 'passwordRef'],
          message:
            "is required on gcp: DMS's destination connection profile needs the target's credentials, and the " +
            'platform sets them on the target it creates',
        });
      if (plan.platform === 'gcp') {
        // DMS replicates a whole source instance into a destination it demotes to a replica.
        const other = plan.databases.findIndex((o, j) => j < i && o.target.instance === db.target.instance);
        if (other >= 0)
          ctx.addIssue({
            code: 'custom',
            path: ['databases', i, 'target', 'instance'],
            message:
              `${db.target.instance} is also databases[${other}]'s target: on gcp DMS demotes its destination to ` +
              'a replica of one source, so every database needs its own target instance',
          });
      }
      const sameInstance = plan.databases.findIndex(
        (o, j) =>
          j < i &&
          o.target.instance === db.target.instance &&
          !!o.target.version &&
          !!db.target.version &&
          o.target.version !== db.target.version,
      );
      if (sameInstance >= 0)
        ctx.addIssue({
          code: 'custom',
          path: ['databases', i, 'target', 'version'],
          message:
            `${db.target.version} differs from databases[${sameInstance}]'s ` +
            `${plan.databases[sameInstance].target.version} ` +
            `on the same instance ${db.target.instance}: an instance runs one version; name another instance`,
        });
      if (
        plan.platform === 'local' &&
        db.target.kind !== 'postgres' &&
        db.target.version &&
        !(LOCAL_TARGET_MAJORS as readonly number[]).includes(Number(db.target.version))
      )
        ctx.addIssue({
          code: 'custom',
          path: ['databases', i, 'target', 'version'],
          message:
            `the local platform runs PostgreSQL ${LOCAL_TARGET_MAJORS.join(', ')} as targets, ` +
            `not ${db.target.version}`,
        });
      if (db.target.kind === 'postgres') {
        if (plan.platform !== 'local')
          ctx.addIssue({
            code: 'custom',
            path: ['databases', i, 'target', 'kind'],
            message: `postgres (an existing server) is a target of the local platform, not ${plan.platform}`,
          });
        for (const f of ['host', 'user', 'passwordRef'] as const)
          if (!db.target[f])
            ctx.addIssue({
              code: 'custom',
              path: ['databases', i, 'target', f],
              message: 'is required for kind postgres (an existing server: host, user, passwordRef)',
            });
      } else if (db.target.host || db.target.port)
        ctx.addIssue({
          code: 'custom',
          path: ['databases', i, 'target', db.target.host ? 'host' : 'port'],
          message: `is for kind postgres (an existing server), not ${db.target.kind}`,
        });
      if (plan.platform === 'local' && db.engine !== 'postgresql') {
        ctx.addIssue({
          code: 'custom',
          path: ['databases', i, 'engine'],
          message: `${db.engine} is not supported by the local platform (postgresql only)`,
        });
      }
    });
  });

export type PlanInput = z.input<typeof planSchema>;
export type Plan = z.output<typeof planSchema>;
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
  if (!result.success) throw new InvalidPlanError(planIssues(planSchema, result.error.issues));
  return withInstanceVersions(result.data);
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

export interface EffectiveSettings {
  lagThresholdSeconds: number;
  stableWindowMs: number;
  noPrimaryKey: 'fail' | 'replica-identity-full';
  targetDatabase: string;
  /**
   * Present only when the plan sets them: a workflow started before these existed passes settings
   * without them, so every reader goes through cutoverLimits(), which applies the defaults.
   */
  cutoverMaxLagSeconds?: number;
  cutoverTimeoutMs?: number;
  reverseReplicationForMs?: number;
  /** Lag above which the replication watcher reports lag-rising; present when the plan notifies anyone. */
  lagAlertSeconds?: number;
}

export function effectiveSettings(plan: Plan, db: DatabasePlan): EffectiveSettings {
  return {
    lagThresholdSeconds: db.lagThresholdSeconds ?? plan.defaults.lagThresholdSeconds,
    stableWindowMs: parseDuration(db.stableWindow ?? plan.defaults.stableWindow)!,
    noPrimaryKey: db.noPrimaryKey ?? plan.defaults.noPrimaryKey,
    targetDatabase: db.target.database ?? db.source.database,
    ...(plan.cutover?.maxLagSeconds !== undefined ? { cutoverMaxLagSeconds: plan.cutover.maxLagSeconds } : {}),
    ...(plan.cutover?.timeout !== undefined ? { cutoverTimeoutMs: parseDuration(plan.cutover.timeout)! } : {}),
    ...(plan.cutover?.reverseReplicationFor !== undefined
      ? { reverseReplicationForMs: parseDuration(plan.cutover.reverseReplicationFor)! }
      : {}),
    ...(plan.notifications ? { lagAlertSeconds: plan.notifications.lagAlertSeconds } : {}),
  };
}

/** The cutover's bounds for a task: the plan's, or the defaults. */
export function cutoverLimits(s: EffectiveSettings): {
  maxLagSeconds: number;
  timeoutMs: number;
  reverseReplicationForMs: number;
} {
  return {
    maxLagSeconds: s.cutoverMaxLagSeconds ?? CUTOVER_DEFAULTS.maxLagSeconds,
    timeoutMs: s.cutoverTimeoutMs ?? CUTOVER_DEFAULTS.timeoutMs,
    reverseReplicationForMs: s.reverseReplicationForMs ?? CUTOVER_DEFAULTS.reverseReplicationForMs,
  };
}
