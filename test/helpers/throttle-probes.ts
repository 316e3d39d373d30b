// What the throttle tests read to see a step held or going on: the copy's ranges done on the
// target (dbmig.copy_range), and the worker's dbmig_throttled gauge for one step and reason.
import { withClient, type ConnectionParams } from '../../activities/engines/postgres/sessions';
import { scrape } from './metrics-scrape';

/** Ranges of `job`'s copy planned and done on the target; none before the copy made its table. */
export async function rangesDone(target: ConnectionParams, job: string): Promise<{ done: number; ranges: number }> {
  return withClient(target, async (c) => {
    if (!(await c.query(`select to_regclass('dbmig.copy_range') is not null as ok`)).rows[0].ok)
      return { done: 0, ranges: 0 };
    const { rows } = await c.query<{ done: number; ranges: number }>(
      `select count(*) filter (where done_at is not null)::int as done, count(*)::int as ranges
         from dbmig.copy_range where job = $1`,
      [job],
    );
    return rows[0];
  });
}

/** dbmig_throttled{step, reason, database} on the worker at `address`; undefined until exported. */
export async function throttledGauge(
  address: string,
  step: string,
  reason: string,
  database: string,
): Promise<number | undefined> {
  const text = await scrape(address);
  for (const m of text.matchAll(/^dbmig_throttled\{([^}]*)\} (\S+)$/gm)) {
    const labels = m[1].split(',');
    if ([`step="${step}"`, `reason="${reason}"`, `database="${database}"`].every((l) => labels.includes(l)))
      return Number(m[2]);
  }
  return undefined;
}
