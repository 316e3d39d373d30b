// Who owns a PostgreSQL target database, and whether it has taken over: a comment on the database,
//   dbmig migration=<id> database=<name> state=created|schema|cutover
// kept by PostgreSQL with the database itself, so it survives a lost state directory, a new worker
// and a re-run of the same migration id. Provisioning refuses a target that is foreign or cut over;
// deletion never drops one that is cut over (docs/architecture.md, Safety rules, rule 1).
import pg from 'pg';

export type TargetState = 'created' | 'schema' | 'cutover';

export interface TargetMark {
  migrationId: string;
  /** Absent on targets marked before marks named the database. */
  database?: string;
  state: TargetState;
}

export interface TargetOwner {
  migrationId: string;
  database: string;
}

const MARK = /^dbmig migration=(\S+)(?: database=(\S+))? state=(created|schema|cutover)$/;

export function formatMark(owner: TargetOwner, state: TargetState): string {
  return `dbmig migration=${owner.migrationId} database=${owner.database} state=${state}`;
}

export function parseMark(comment: string | null | undefined): TargetMark | undefined {
  const m = MARK.exec(comment ?? '');
  if (!m) return undefined;
  return { migrationId: m[1], ...(m[2] ? { database: m[2] } : {}), state: m[3] as TargetState };
}

/** Whether the mark says the target belongs to this (migration, database). */
export function ownedBy(mark: TargetMark | undefined, owner: TargetOwner): boolean {
  return !!mark && mark.migrationId === owner.migrationId && (mark.database ?? owner.database) === owner.database;
}

/** The mark of database `db` on the cluster `c` is connected to (any database of it); undefined when unmarked. */
export async function readMark(c: pg.Client, db: string): Promise<{ exists: boolean; mark?: TargetMark }> {
  const { rows } = await c.query<{ comment: string | null }>(
    `select shobj_description(oid, 'pg_database') as comment from pg_database where datname = $1`,
    [db],
  );
  if (!rows.length) return { exists: false };
  const mark = parseMark(rows[0].comment);
  return mark ? { exists: true, mark } : { exists: true };
}

export async function writeMark(c: pg.Client, db: string, owner: TargetOwner, state: TargetState): Promise<void> {
  await c.query(`comment on database ${pg.escapeIdentifier(db)} is ${pg.escapeLiteral(formatMark(owner, state))}`);
}

/** As SQL, for a schema script that must set the mark in the same transaction as the schema. */
export function markSql(db: string, owner: TargetOwner, state: TargetState): string {
  return `comment on database ${pg.escapeIdentifier(db)} is ${pg.escapeLiteral(formatMark(owner, state))}`;
}

/**
 * Marks the target as taken over, before it takes its first write: from here on provisioning refuses
 * it and deletion keeps it, whatever any job record or workflow says.
 */
export async function markCutOver(c: pg.Client, db: string, owner: TargetOwner): Promise<void> {
  await writeMark(c, db, owner, 'cutover');
}

/** Why provisioning must not touch this target, or undefined when it may (absent, or ours and not cut over). */
export function provisionRefusal(
  found: { exists: boolean; mark?: TargetMark },
  owner: TargetOwner,
  where: string,
): string | undefined {
  if (!found.exists) return undefined;
  const { mark } = found;
  if (!mark || !ownedBy(mark, owner)) {
    const whose = mark ? `migration ${mark.migrationId} (database ${mark.database ?? '?'})` : 'no dbmig migration';
    return (
      `${where} already exists and belongs to ${whose}, not to migration ${owner.migrationId} ` +
      `(database ${owner.database}); refusing to reuse it`
    );
  }
  if (mark.state === 'cutover')
    return (
      `${where} has already taken over from the source (migration ${owner.migrationId}, database ${owner.database}); ` +
      'it is live and is never provisioned or copied into again. Migrate again under a new migration id and target'
    );
  return undefined;
}
