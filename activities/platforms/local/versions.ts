// Which PostgreSQL the target runs, and what moving to it means. An existing server (kind postgres)
// runs what it runs: a plan's target.version that says otherwise is refused. For an embedded
// cluster, the plan's target.version wins; else an existing cluster keeps the version it was made
// with; else the source's major, raised to the oldest the platform runs (a 12 source gets a 15
// target). A target older than its source is refused: pg_dump writes the source's schema for the
// source's version, and a downgrade is no migration a rollback could reverse.
import type { DatabaseTask, Finding } from '../../steps';
import { MigrationError } from '../../../common/failures';
import { pgDumpFor } from '../../engines/postgres/client-tools';
import { EMBEDDED_MAJORS } from './embedded-servers';
import { modernReplication, type ServerVersion } from '../../engines/postgres/server-version';

export interface TargetVersion {
  major: number;
  /** Where it came from, for messages: the plan's field, the existing cluster, or the source. */
  from: string;
  /** An existing server (kind postgres): any version the worker can replicate into, not only the embedded ones. */
  existingServer?: boolean;
  /** An existing server whose version is not the plan's: why it is refused. */
  mismatch?: string;
}

const field = (task: DatabaseTask) => `databases[${task.database.name}].target.version`;

/** The target's major; `existing` is the version of the target cluster if it exists already. */
export function targetVersion(
  task: DatabaseTask,
  sourceMajor: number,
  existing?: number,
  existingServer = false,
): TargetVersion {
  const planned = task.database.target.version;
  if (existingServer) {
    const t = task.database.target;
    const from = `the server ${t.host}:${t.port ?? 5432}`;
    if (existing === undefined) return { major: NaN, from, existingServer };
    const mismatch =
      planned && parseInt(planned, 10) !== existing
        ? `${field(task)} says ${planned}, but ${from} runs PostgreSQL ${existing}: fix the plan`
        : undefined;
    return { major: existing, from, existingServer, ...(mismatch ? { mismatch } : {}) };
  }
  // validatePlan gave every database on an instance the version any of them names.
  if (planned) return { major: parseInt(planned, 10), from: `the plan's version for ${task.database.target.instance}` };
  if (existing !== undefined && !Number.isNaN(existing))
    return { major: existing, from: `the existing cluster ${task.database.target.instance}` };
  const major = EMBEDDED_MAJORS.find((m) => m >= sourceMajor) ?? sourceMajor;
  return {
    major,
    from: major === sourceMajor ? "the source's version" : `the oldest the platform runs at or above ${sourceMajor}`,
  };
}

/** Why the target cannot be `t` for a source of `source`, or undefined when it can. */
export function versionRefusal(task: DatabaseTask, source: ServerVersion, t: TargetVersion): string | undefined {
  if (t.mismatch) return t.mismatch;
  // The engine reads pg_stat_subscription_stats on the target (15+) and drops an abandoned target
  // database WITH (FORCE) (13+); embedded targets are 15+ anyway.
  if (t.existingServer && t.major < 15)
    return `${t.from} runs PostgreSQL ${t.major}: an existing-server target must run 15 or later`;
  if (!t.existingServer && !(EMBEDDED_MAJORS as readonly number[]).includes(t.major))
    return (
      `the local platform runs PostgreSQL ${EMBEDDED_MAJORS.join(', ')} as targets; ` +
      `${t.major} (${t.from}) is not one of them`
    );
  if (t.major < source.major)
    return (
      `the target would run PostgreSQL ${t.major} (${t.from}), older than the source's ${source.text}: a schema ` +
      `written for ${source.major} may not load on ${t.major}; set ${field(task)} to ${source.major} or later`
    );
  return undefined;
}

export function refuseVersion(task: DatabaseTask, source: ServerVersion, t: TargetVersion): void {
  const refusal = versionRefusal(task, source, t);
  if (refusal) throw new MigrationError('UnsupportedVersion', refusal);
}

/** The assessment's words on versions: what each end runs, which pg_dump copies the schema, what the change implies. */
export async function versionFindings(task: DatabaseTask, source: ServerVersion, t: TargetVersion): Promise<Finding[]> {
  const refusal = versionRefusal(task, source, t);
  if (refusal) return [{ code: 'TARGET_VERSION', severity: 'error', message: refusal }];
  const findings: Finding[] = [];
  let dump = '';
  try {
    const tool = await pgDumpFor(source.major);
    dump = `; the schema is copied with pg_dump ${tool.major} (${tool.path})`;
  } catch (err) {
    findings.push({ code: 'MISSING_PG_DUMP', severity: 'error', message: (err as Error).message });
  }
  const copy = modernReplication(source.major, t.major)
    ? 'tables are copied in binary and large transactions applied in parallel (both ends 16+)'
    : 'tables are copied as text and large transactions applied at their commit, not in parallel ' +
      `(${source.major < 16 ? 'the source' : 'the target'} is older than 16)`;
  if (t.major === source.major)
    findings.push({
      code: 'VERSIONS',
      severity: 'info',
      message: `source PostgreSQL ${source.text}, target ${t.major} (${t.from}): same major${dump}; ${copy}`,
    });
  else
    findings.push({
      code: 'MAJOR_UPGRADE',
      severity: 'info',
      message:
        `source PostgreSQL ${source.text}, target ${t.major} (${t.from}): a major-version upgrade by logical ` +
        `replication, with the source untouched until the cutover${dump}; ${copy}. Read the release notes of ` +
        `${majorsBetween(source.major, t.major)} for changes the application may notice; extensions must exist ` +
        'on the target at versions it offers; planner statistics are not replicated (autovacuum builds them on ' +
        'the target as the copy lands)',
    });
  return findings;
}

function majorsBetween(from: number, to: number): string {
  const all: number[] = [];
  for (let m = from + 1; m <= to; m++) all.push(m);
  return all.length === 1 ? `PostgreSQL ${all[0]}` : `PostgreSQL ${all.join(', ')}`;
}
