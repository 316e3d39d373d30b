// What `dbmig rehearse` leaves behind for the plan's policy (policy.requireRehearsal): one small
// JSON file per rehearsal, keyed by the plan's hash, under the state directory (DBMIG_STATE_DIR,
// default .local-platform) in rehearsal-results/. `dbmig start` reads them before it does anything
// else and refuses a plan whose hash has no passed rehearsal recent enough. A record holds the hash,
// the migration id, the outcome and each database's end state: nothing secret (the plan holds only
// secret references, and they are not copied). It is a local fact, not a signed one: whoever can
// write the directory can write a record, as whoever runs `dbmig start` can skip the CLI.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseDuration } from '../common/durations';
import type { Plan } from '../common/plan';
import type { DatabaseRates } from './rehearsal-rates';

export interface RehearsalRecord {
  planHash: string;
  migrationId?: string;
  passed: boolean;
  finishedAt: string;
  databases: { name: string; state: string }[];
  /** What the rehearsal measured per database (rehearsal-rates.ts); records before it have none. */
  rates?: DatabaseRates[];
}

export function rehearsalResultsDir(): string {
  return join(resolve(process.env.DBMIG_STATE_DIR ?? '.local-platform'), 'rehearsal-results');
}

/**
 * The plan's hash: SHA-256 of the validated plan (defaults filled in, so writing a default out changes
 * nothing) with its keys sorted and without policy (tightening the policy needs no new rehearsal).
 */
export function planHash(plan: Plan): string {
  const { policy: _policy, ...rest } = plan;
  return `sha256:${createHash('sha256').update(canonical(rest)).digest('hex')}`;
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v)
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

/** Writes the rehearsal's outcome; returns the file. */
export function recordRehearsal(record: RehearsalRecord, dir = rehearsalResultsDir()): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${record.finishedAt.replace(/[:.]/g, '-')}-${record.planHash.slice(7, 19)}.json`);
  writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
  return file;
}

/** Every record in `dir`, newest first; unreadable files are skipped. */
export function readRehearsals(dir = rehearsalResultsDir()): RehearsalRecord[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
  const out: RehearsalRecord[] = [];
  for (const f of files) {
    try {
      const r = JSON.parse(readFileSync(join(dir, f), 'utf8')) as RehearsalRecord;
      if (typeof r.planHash === 'string' && typeof r.finishedAt === 'string' && !Number.isNaN(Date.parse(r.finishedAt)))
        out.push(r);
    } catch {
      // Not a record: not evidence of anything.
    }
  }
  return out.sort((a, b) => Date.parse(b.finishedAt) - Date.parse(a.finishedAt));
}

/** Why the plan's policy refuses to start it now, or undefined when it has none or it is met. */
export function rehearsalPolicyProblem(plan: Plan, now = Date.now(), dir = rehearsalResultsDir()): string | undefined {
  const within = plan.policy?.requireRehearsal?.within;
  if (!within) return undefined;
  const withinMs = parseDuration(within)!;
  const hash = planHash(plan);
  const all = readRehearsals(dir);
  const mine = all.filter((r) => r.planHash === hash);
  const passed = mine.find((r) => r.passed);
  if (passed && now - Date.parse(passed.finishedAt) <= withinMs) return undefined;
  const ago = (r: RehearsalRecord) => `${age(Math.max(0, now - Date.parse(r.finishedAt)))} ago`;
  const describe = (r: RehearsalRecord) =>
    `${r.passed ? 'passed' : `failed (${failedDatabases(r)})`} at ${r.finishedAt} (${ago(r)})`;
  const newest = mine[0]
    ? `the newest rehearsal of this plan ${describe(mine[0])}` +
      (passed && passed !== mine[0] ? `; the last that passed was at ${passed.finishedAt} (${ago(passed)})` : '')
    : all[0]
      ? `no rehearsal of this plan found; the newest found (${all[0].migrationId ?? 'no migration id'}) is of ` +
        `plan ${all[0].planHash.slice(0, 19)}…, ${describe(all[0])}: the plan changed since, or it is another plan`
      : `no rehearsal found in ${dir}`;
  return (
    `refused by the plan's policy: requireRehearsal within ${within}, and plan ${hash} has no rehearsal that ` +
    `passed in that time: ${newest}. Run \`dbmig rehearse --plan FILE\` on this plan, then start it again`
  );
}

/** An age as a person reads it: 3d 4h, 5h 12m, 40m, 12s. */
function age(ms: number): string {
  const [d, h, m, s] = [ms / 86_400_000, (ms / 3_600_000) % 24, (ms / 60_000) % 60, (ms / 1000) % 60].map(Math.floor);
  if (d) return h ? `${d}d ${h}h` : `${d}d`;
  if (h) return m ? `${h}h ${m}m` : `${h}h`;
  return m ? `${m}m` : `${s}s`;
}

function failedDatabases(r: RehearsalRecord): string {
  const bad = r.databases.filter((d) => d.state !== 'COMPLETED' && d.state !== 'FINALIZED');
  return bad.map((d) => `${d.name} ${d.state}`).join(', ') || 'no database completed';
}
