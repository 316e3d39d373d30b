// The plan's rules across fields, which no single field's schema can say: a limit nothing would
// apply, names used twice, targets shared where the platform cannot share them, versions that
// differ on one instance. Each issue names the field it is about.
import type { z } from 'zod';
import { parseDuration } from './durations';
import {
  CUTOVER_DEFAULTS,
  GCP_PROMOTE_TIMEOUT_DEFAULT_MS,
  gcpCutoverBudget,
  LOCAL_TARGET_MAJORS,
  MAX_PLAN_BYTES,
} from './plan-defaults';
import { sqlserverIssues } from './plan-sqlserver';
import { waveIssues } from './plan-waves';
import type { Plan } from './plan';

const THROTTLE_LOCAL_ONLY = (platform: string) =>
  `is applied by the local platform's copy and validation, which read the source themselves; on ${platform} ` +
  'nothing would apply it (on gcp DMS copies the rows): remove it';

/** Adds an issue to `ctx` for every rule the parsed plan breaks (the schema's superRefine). */
export function planRules(plan: Plan, ctx: z.RefinementCtx): void {
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
  const promoteMs = plan.gcp?.promoteTimeout ? parseDuration(plan.gcp.promoteTimeout)! : undefined;
  const timeoutMs = plan.cutover?.timeout ? parseDuration(plan.cutover.timeout)! : CUTOVER_DEFAULTS.timeoutMs;
  const budget = gcpCutoverBudget(timeoutMs, promoteMs ?? GCP_PROMOTE_TIMEOUT_DEFAULT_MS);
  if (plan.platform === 'gcp' && !budget.fits)
    ctx.addIssue({
      code: 'custom',
      path: promoteMs !== undefined ? ['gcp', 'promoteTimeout'] : ['cutover', 'timeout'],
      message:
        `gcp.promoteTimeout (${(promoteMs ?? GCP_PROMOTE_TIMEOUT_DEFAULT_MS) / 1000}s) must be shorter than ` +
        `cutover.timeout (${timeoutMs / 1000}s) by ${(2 * budget.margin + budget.minDrainMs) / 1000}s: the source ` +
        'stays closed from the fence until DMS answers the promote, and the deadline must cover a drain, ' +
        'closing, that answer and a reopen',
    });
  // Only the local platform reads the source itself (on gcp DMS copies): a limit nothing applies is refused.
  if (plan.platform !== 'local' && plan.defaults.throttle)
    ctx.addIssue({ code: 'custom', path: ['defaults', 'throttle'], message: THROTTLE_LOCAL_ONLY(plan.platform) });
  plan.databases.forEach((db, i) => {
    if (plan.platform !== 'local' && db.throttle)
      ctx.addIssue({
        code: 'custom',
        path: ['databases', i, 'throttle'],
        message: THROTTLE_LOCAL_ONLY(plan.platform),
      });
  });
  if (plan.platform !== 'local' && plan.validation)
    ctx.addIssue({
      code: 'custom',
      path: ['validation'],
      message:
        "is applied by the local platform's live validation, which compares the tables itself; on " +
        `${plan.platform} nothing would apply it: remove it`,
    });
  // Helpers take ranges of the snapshot copy; the native copy is the subscription's own.
  if (plan.copy?.helpers && plan.copy.method === 'native')
    ctx.addIssue({
      code: 'custom',
      path: ['copy', 'helpers'],
      message: 'joins the snapshot copy: with copy.method native the subscription copies alone; remove it',
    });
  if (plan.platform !== 'sim' && plan.sim)
    ctx.addIssue({ code: 'custom', path: ['sim'], message: 'is only for platform: sim' });
  if (plan.platform === 'gcp' && !plan.gcp)
    ctx.addIssue({
      code: 'custom',
      path: ['gcp'],
      message: 'is required when platform is gcp (project, region, zone, network)',
    });
  // dependsOn, approvers and roles (common/plan-waves.ts): unknown names, cycles with their path.
  for (const issue of waveIssues(plan)) ctx.addIssue({ code: 'custom', ...issue });
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
    if (plan.platform !== 'gcp' && db.connectivity)
      ctx.addIssue({
        code: 'custom',
        path: ['databases', i, 'connectivity'],
        message: `is how DMS reaches the source on gcp; nothing applies it on ${plan.platform}: remove it`,
      });
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
    sqlserverIssues(plan.platform, db, {
      timeoutMs,
      promoteMs: promoteMs ?? GCP_PROMOTE_TIMEOUT_DEFAULT_MS,
    }).forEach((issue) =>
      ctx.addIssue({ code: 'custom', path: ['databases', i, ...issue.path], message: issue.message }),
    );
    if (plan.platform === 'local' && db.engine !== 'postgresql') {
      ctx.addIssue({
        code: 'custom',
        path: ['databases', i, 'engine'],
        message: `${db.engine} is not supported by the local platform (postgresql only)`,
      });
    }
  });
}
