// `dbmig status ID --database NAME`: one database's row, the rates its anomaly detector expects,
// then its copy table by table (the largest
// first, as the copy's heartbeat lists them), for a copy that takes hours. The default status stays
// one row per database and one line per step in progress.
import { describeTableCopy } from '../common/copy-progress';
import type { FleetStatus } from '../common/status';
import { statusTable, table } from './format';

/** `status` narrowed to `database`; throws, naming the databases, when it has no such one. */
export function onlyDatabase(status: FleetStatus, database: string): FleetStatus {
  const d = status.databases.find((x) => x.database === database);
  if (!d)
    throw new Error(
      `migration ${status.migrationId} has no database "${database}" (it has: ` +
        `${status.databases.map((x) => x.database).join(', ')})`,
    );
  return { ...status, databases: [d] };
}

export function databaseDetail(status: FleetStatus): string {
  const d = status.databases[0];
  const copy = d?.progress?.copy;
  // What copy-slow and apply-slow compare with, or that nothing is (common/expected-rates.ts).
  const expected = d?.expectedRates ? `\n${d.database}: expected rates: ${d.expectedRates}` : '';
  if (!copy?.tables?.length) return statusTable(status) + expected;
  const rows = copy.tables.map(describeTableCopy);
  const more = copy.moreTables ? `\n... and ${copy.moreTables} smaller table(s)` : '';
  return (
    `${statusTable(status)}${expected}\n\n${d.database}: copy by table\n` +
    table(['TABLE', 'DONE', 'RANGES', 'ROWS', 'BYTES'], rows) +
    more
  );
}
