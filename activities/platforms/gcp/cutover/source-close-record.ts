// What the gcp cutover's close of a PostgreSQL source took, kept ON the source and committed in the
// same transaction as the close itself: a comment on dbmig.fence (the table is dbmig's own, and
// DMS carries no DDL, so the comment stays on the source). The gcp cutover closes the source
// before it asks DMS to promote (cutover.ts), so a worker that dies at any moment after that leaves
// a closed source AND the record of how to open it again: the next attempt, or the compensation,
// reads DMS until the promote's outcome is known, and reopens from this record only when DMS did not
// promote. Without the record a resumed attempt could not tell its own close from the operator's.
import pg from 'pg';
import type { SourceAccess } from '../../../engines/postgres/close-source';

/** One job's close. */
export interface CloseRecord {
  /** When the close committed (ms since the epoch), so a promote sent after it can be waited for. */
  at: number;
  /** The source's access before the close, as reopenSource needs it. */
  access: SourceAccess;
  /**
   * Set when the close came only after DMS had promoted (the source took writes DMS never read):
   * kept with the close, so the report survives any retry.
   */
  openAfterPromote?: boolean;
}

const KEY = 'dbmig-gcp-close';

async function records(c: pg.Client): Promise<Record<string, CloseRecord>> {
  const { rows } = await c.query<{ d: string | null }>(
    `select obj_description(to_regclass('dbmig.fence'), 'pg_class') as d`,
  );
  if (!rows[0]?.d) return {};
  try {
    const parsed = JSON.parse(rows[0].d) as Record<string, Record<string, CloseRecord>>;
    return parsed?.[KEY] ?? {};
  } catch {
    return {}; // not ours: overwritten by the next record, never read as one
  }
}

async function store(c: pg.Client, all: Record<string, CloseRecord>): Promise<void> {
  const text = Object.keys(all).length ? pg.escapeLiteral(JSON.stringify({ [KEY]: all })) : 'null';
  await c.query(`comment on table dbmig.fence is ${text}`);
}

/** Records this job's close; run inside the close's own transaction so the two commit together. */
export async function writeCloseRecord(c: pg.Client, job: string, record: CloseRecord): Promise<void> {
  await store(c, { ...(await records(c)), [job]: record });
}

export async function readCloseRecord(c: pg.Client, job: string): Promise<CloseRecord | undefined> {
  return (await records(c))[job];
}

/** Forgets this job's close, once the source is open again. */
export async function clearCloseRecord(c: pg.Client, job: string): Promise<void> {
  const all = await records(c);
  if (!(job in all)) return;
  delete all[job];
  await store(c, all);
}
