// Waves and policy in the plan: the order between databases' cutovers (dependsOn), who may decide
// a database's cutover (approvers, roles) and what `dbmig start` requires first (policy). Pure (zod
// only): the plan's validation, the workflows' validators and the CLI share these rules.
import { z } from 'zod';
import { DURATION } from './durations';

const NAME = /^[a-z][a-z0-9_-]{0,47}$/;
const ROLE_PREFIX = 'role:';

export const dependsOnSchema = z
  .array(z.string().regex(NAME, 'must name a database of this plan'))
  .optional()
  .describe(
    "Databases of this plan whose migration must have COMPLETED before this one's cutover starts. Its copy and " +
      'replication start as usual (in priority order; a database starts after the ones it depends on); only the ' +
      'cutover waits. A dependency that fails or is cancelled holds this cutover until it is retried and ' +
      'completes, or this database is cancelled. Cycles are refused. Default: none.',
  );

export const approversSchema = z
  .array(z.string().min(1, 'must name someone').regex(/^\S+$/, 'must be a name or role:NAME, without spaces'))
  .min(1, 'must name at least one approver (omit it to let anyone decide)')
  .optional()
  .describe(
    "Who may approve or reject this database's cutover: names (as passed to dbmig approve --approver) and " +
      'role:NAME entries (resolved through roles). Others are refused. The name is whatever the caller passes: ' +
      'it is not authentication. Revoking an approval stays open to anyone. Default: anyone.',
  );

export const rolesSchema = z
  .record(
    z.string().regex(NAME, 'must be lower-case letters, digits, _ or -'),
    z.array(z.string().min(1).regex(/^\S+$/, 'must be a name without spaces')).min(1, 'must name at least one person'),
  )
  .optional()
  .describe(
    'Named groups of approvers, e.g. {dba: [alice, bob]}: a database whose approvers include role:dba may be ' +
      'decided by alice or bob. The plan is where roles come from; nothing checks them against a directory.',
  );

export const policySchema = z
  .strictObject({
    requireRehearsal: z
      .strictObject({
        within: z
          .string()
          .regex(DURATION, 'must be a duration like 7d or 48h')
          .describe('How recent the passed rehearsal must be, e.g. 7d.'),
      })
      .optional()
      .describe(
        '`dbmig start` refuses this plan unless `dbmig rehearse` of the same plan (the same plan hash: any ' +
          'change but policy needs a new rehearsal) passed within this long, on the machine that starts it.',
      ),
  })
  .optional()
  .describe('What must be true before `dbmig start` starts this plan. Default: nothing.');

export interface WaveIssue {
  path: (string | number)[];
  message: string;
}

interface WavePlan {
  approval: { policy: string };
  roles?: Record<string, string[]>;
  databases: { name: string; dependsOn?: string[]; approvers?: string[] }[];
}

/** Unknown names, a database depending on itself, cycles (with their path), unknown roles. */
export function waveIssues(plan: WavePlan): WaveIssue[] {
  const issues: WaveIssue[] = [];
  const names = plan.databases.map((d) => d.name);
  plan.databases.forEach((db, i) => {
    (db.dependsOn ?? []).forEach((dep, j) => {
      const path = ['databases', i, 'dependsOn', j];
      if (dep === db.name) issues.push({ path, message: `"${dep}" is this database: it cannot wait for itself` });
      else if (!names.includes(dep))
        issues.push({ path, message: `unknown database "${dep}"; this plan has: ${names.join(', ')}` });
    });
    (db.approvers ?? []).forEach((a, j) => {
      const role = a.startsWith(ROLE_PREFIX) ? a.slice(ROLE_PREFIX.length) : undefined;
      if (role !== undefined && !plan.roles?.[role])
        issues.push({
          path: ['databases', i, 'approvers', j],
          message: `unknown role "${role}"; roles defines: ${Object.keys(plan.roles ?? {}).join(', ') || 'none'}`,
        });
    });
    if (db.approvers && plan.approval.policy === 'auto')
      issues.push({
        path: ['databases', i, 'approvers'],
        message: 'names who may approve, but approval.policy is auto: nobody approves; remove it or use manual',
      });
  });
  for (const c of dependencyCycles(plan.databases))
    issues.push({ path: ['databases', c.index, 'dependsOn', c.edge], message: `cycle: ${c.path.join(' -> ')}` });
  return issues;
}

/**
 * Each cycle once, found from the first of its databases in plan order: the path from it around
 * and back (a -> b -> c -> a), and where it starts (that database and its dependsOn entry).
 */
export function dependencyCycles(
  dbs: readonly { name: string; dependsOn?: string[] }[],
): { index: number; edge: number; path: string[] }[] {
  const deps = new Map(dbs.map((d) => [d.name, (d.dependsOn ?? []).filter((x) => x !== d.name)]));
  const found: { index: number; edge: number; path: string[] }[] = [];
  const inCycle = new Set<string>();
  dbs.forEach((db, index) => {
    if (inCycle.has(db.name)) return;
    const path = findPath(db.name, db.name, deps, new Set());
    if (!path) return;
    path.forEach((n) => inCycle.add(n));
    found.push({ index, edge: (db.dependsOn ?? []).indexOf(path[1]), path });
  });
  return found;
}

/** A path from `from` back to `to` along dependsOn (depth first), or undefined. */
function findPath(from: string, to: string, deps: Map<string, string[]>, seen: Set<string>): string[] | undefined {
  for (const next of deps.get(from) ?? []) {
    if (next === to) return [from, to];
    if (seen.has(next) || !deps.has(next)) continue;
    seen.add(next);
    const rest = findPath(next, to, deps, seen);
    if (rest) return [from, ...rest];
  }
  return undefined;
}

/**
 * The start order: `order` (priority) with every database after the ones it depends on, otherwise
 * unchanged. With no dependsOn it is `order` itself. Starting dependencies first means a dependent
 * waiting at its cutover never holds the slot its own dependency needs to start.
 */
export function inWaves<T extends { name: string; dependsOn?: string[] }>(order: readonly T[]): T[] {
  if (!order.some((d) => d.dependsOn?.length)) return [...order];
  const out: T[] = [];
  const placed = new Set<string>();
  const byName = new Map(order.map((d) => [d.name, d]));
  const place = (d: T, visiting: Set<string>) => {
    if (placed.has(d.name) || visiting.has(d.name)) return; // a cycle was refused by validation
    visiting.add(d.name);
    for (const dep of d.dependsOn ?? []) {
      const x = byName.get(dep);
      if (x) place(x, visiting);
    }
    placed.add(d.name);
    out.push(d);
  };
  for (const d of order) place(d, new Set());
  return out;
}

/** The states in which a dependency counts as done: its target took over and stays. */
export const DEPENDENCY_DONE: ReadonlySet<string> = new Set(['COMPLETED', 'FINALIZED']);

/** The names an approver entry list allows, role entries expanded through `roles`. */
export function allowedApprovers(approvers: readonly string[], roles: Record<string, string[]> = {}): string[] {
  return [
    ...new Set(
      approvers.flatMap((a) => (a.startsWith(ROLE_PREFIX) ? (roles[a.slice(ROLE_PREFIX.length)] ?? []) : [a])),
    ),
  ];
}

/**
 * Why `approver` may not approve or reject `database`'s cutover, or undefined when the plan names
 * no approvers for it or names this one. The name is the caller's word, not an authenticated identity.
 */
export function approverProblem(
  approver: string,
  database: string,
  approvers: readonly string[] | undefined,
  roles: Record<string, string[]> | undefined,
): string | undefined {
  if (!approvers?.length) return undefined;
  const allowed = allowedApprovers(approvers, roles);
  if (allowed.includes(approver)) return undefined;
  const listed = approvers
    .map((a) => (a.startsWith(ROLE_PREFIX) ? `${a} (${(roles?.[a.slice(ROLE_PREFIX.length)] ?? []).join(', ')})` : a))
    .join(', ');
  return `"${approver}" may not decide the cutover of "${database}": the plan's approvers for it are ${listed}`;
}
