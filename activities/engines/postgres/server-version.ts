// The version of the server a session is connected to: one query, read where behaviour depends on
// it (version findings, publications before 13, error counts before 15, the 16+ subscription options).
import type pg from 'pg';

export interface ServerVersion {
  /** e.g. "15.18" */
  text: string;
  /** e.g. 15 */
  major: number;
  /** server_version_num, e.g. 150018 */
  num: number;
}

export async function serverVersion(c: pg.Client): Promise<ServerVersion> {
  const { rows } = await c.query<{ v: string; n: string }>(
    `select current_setting('server_version') as v, current_setting('server_version_num') as n`,
  );
  const num = Number(rows[0].n);
  return { text: rows[0].v.split(' ')[0], major: Math.floor(num / 10_000), num };
}

/** Whether the 16+ subscription options (binary table-sync copy, parallel apply) apply between these majors. */
export function modernReplication(sourceMajor: number, targetMajor: number): boolean {
  return sourceMajor >= 16 && targetMajor >= 16;
}
