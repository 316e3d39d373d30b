// `dbmig list [--state S]`: migrations and their databases by state, in 120 columns or as JSON.
import { listMigrations, type ListedMigration } from '../client/list';
import { STATES, type MigrationState } from '../common/states';
import { UsageError } from './exit-codes';
import { TERMINAL_COLUMNS } from './fit-table';
import { table } from './format';
import { printResult, type OutputFormat } from './output';
import type { Session } from './session';

function clip(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, Math.max(0, width - 1))}…`;
}

/** "2026-05-04 09:12" in UTC: minutes are enough to tell runs apart in a list. */
const when = (iso: string) => `${iso.slice(0, 10)} ${iso.slice(11, 16)}`;

/** "COMPLETED 3, CDC 1", in the state machine's order. */
export function stateCounts(m: ListedMigration): string {
  if (!m.databases.length) return '(no database started yet)';
  const counts = new Map<string, number>();
  for (const d of m.databases) counts.set(d.state, (counts.get(d.state) ?? 0) + 1);
  const order = (s: string) => {
    const i = (STATES as readonly string[]).indexOf(s);
    return i < 0 ? STATES.length : i;
  };
  return [...counts]
    .sort(([a], [b]) => order(a) - order(b))
    .map(([s, n]) => `${s} ${n}`)
    .join(', ');
}

/** One row per migration; with --state, one row per database in that state. Never wider than 120. */
export function listTable(migrations: ListedMigration[], state?: MigrationState): string {
  if (!migrations.length) return state ? `no database is ${state}` : 'no migration found';
  if (state) {
    const rows = migrations.flatMap((m) =>
      m.databases.map((d) => [
        clip(m.migrationId, 30),
        clip(d.database, 24),
        d.state,
        d.workflowStatus,
        when(m.startTime),
      ]),
    );
    return table(['MIGRATION', 'DATABASE', 'STATE', 'RUN', 'STARTED'], rows);
  }
  // MIGRATION 36 + PLATFORM 8 + RUN 16 + STARTED 16 and the gaps leave the rest to the databases.
  const rest = TERMINAL_COLUMNS - (36 + 8 + 16 + 16 + 4 * 2 + 2);
  const rows = migrations.map((m) => [
    clip(m.migrationId, 36),
    m.platform ?? '-',
    clip(m.workflowStatus, 16),
    when(m.startTime),
    clip(stateCounts(m), rest),
  ]);
  return table(['MIGRATION', 'PLATFORM', 'RUN', 'STARTED', 'DATABASES'], rows);
}

export function parseState(value: string | undefined): MigrationState | undefined {
  if (value === undefined) return undefined;
  const s = value.toUpperCase();
  if (!(STATES as readonly string[]).includes(s))
    throw new UsageError(`--state ${value}: not a state; one of ${STATES.join(', ')}`);
  return s as MigrationState;
}

export async function listCommand(s: Session, opts: { state?: string; format: OutputFormat }): Promise<number> {
  const state = parseState(opts.state);
  const migrations = await listMigrations(await s.client(), { state });
  printResult(opts.format, { ...(state ? { state } : {}), migrations }, () => listTable(migrations, state));
  return 0;
}
