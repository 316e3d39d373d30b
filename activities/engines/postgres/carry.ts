// What logical replication does not carry ("Logical Replication", Restrictions): sequence state
// and the contents of materialized views. Sequences are read from the sequence relation itself
// (last_value, is_called), not from pg_sequences, whose last_value is NULL both when is_called is
// false and when the reader lacks the privilege, so both would be skipped unseen. Identity
// columns own ordinary sequences, listed here like any other; pg_dump gives them the same name
// on the target.
import type pg from 'pg';
import { MigrationError } from '../../../common/failures';
import { type CarriedSequence } from '../../steps';

export interface SourceSequence {
  name: string;
  schema: string;
  readable: boolean;
  /** Its definition, to create it on the target when it was made after the schema copy. */
  definition: string;
}

export async function listSequences(src: pg.Client): Promise<SourceSequence[]> {
  const { rows } = await src.query<SourceSequence>(
    `select format('%I.%I', n.nspname, c.relname) as name, quote_ident(n.nspname) as schema,
            has_sequence_privilege(c.oid, 'SELECT') as readable,
            format('as %s increment by %s minvalue %s maxvalue %s start with %s cache %s %s',
                   format_type(s.seqtypid, null), s.seqincrement, s.seqmin, s.seqmax, s.seqstart, s.seqcache,
                   case when s.seqcycle then 'cycle' else 'no cycle' end) as definition
       from pg_class c join pg_namespace n on n.oid = c.relnamespace join pg_sequence s on s.seqrelid = c.oid
      where c.relkind = 'S' and c.relpersistence = 'p'
        and n.nspname not in ('pg_catalog', 'information_schema', 'dbmig') and n.nspname not like 'pg_toast%'
      order by 1`,
  );
  return rows;
}

/** Stops the cutover before any block when a sequence's value cannot be read. */
export function refuseUnreadable(seqs: SourceSequence[], user: string): void {
  const unreadable = seqs.filter((s) => !s.readable).map((s) => s.name);
  if (unreadable.length)
    throw new MigrationError(
      'SequenceUnreadable',
      `the migration user ${user} cannot read ${unreadable.length} sequence(s), so their values cannot be carried: ` +
        `${unreadable.join(', ')}; grant SELECT on them (GRANT SELECT ON SEQUENCE ...) and retry`,
    );
}

/** Sets every source sequence's state on the target, creating sequences the schema copy did not have. */
export async function carrySequences(
  src: pg.Client,
  target: pg.Client,
  seqs: SourceSequence[],
): Promise<CarriedSequence[]> {
  const carried: CarriedSequence[] = [];
  for (const s of seqs) {
    const { rows } = await src.query<{ last_value: string; is_called: boolean }>(
      `select last_value::text, is_called from ${s.name}`,
    );
    const { last_value: lastValue, is_called: isCalled } = rows[0];
    const exists = await target.query<{ r: string | null }>('select to_regclass($1)::text as r', [s.name]);
    if (!exists.rows[0].r) {
      await target.query(`create schema if not exists ${s.schema}`);
      await target.query(`create sequence if not exists ${s.name} ${s.definition}`);
    }
    await target.query('select setval($1::regclass, $2::bigint, $3::boolean)', [s.name, lastValue, isCalled]);
    carried.push({ name: s.name, lastValue, isCalled });
  }
  return carried;
}

/** Materialized views populated on the source: their contents do not replicate. */
export async function populatedMaterializedViews(src: pg.Client): Promise<string[]> {
  const { rows } = await src.query<{ name: string }>(
    `select format('%I.%I', schemaname, matviewname) as name from pg_matviews where ispopulated order by 1`,
  );
  return rows.map((r) => r.name);
}

/** The views among `views` that the target lacks (DDL after the schema copy): checked before any block. */
export async function missingOnTarget(target: pg.Client, views: string[]): Promise<string[]> {
  const { rows } = await target.query<{ name: string }>(
    `select v as name from unnest($1::text[]) v where to_regclass(v) is null`,
    [views],
  );
  return rows.map((r) => r.name);
}

/**
 * Refreshes `views` on the target. A view over another materialized view fails while that one is
 * unpopulated, so the views are refreshed in rounds until each has been or no round progresses.
 */
export async function refreshMaterializedViews(target: pg.Client, views: string[]): Promise<string[]> {
  let pending = [...views];
  for (;;) {
    const failed: { view: string; error: string }[] = [];
    for (const v of pending) {
      await target
        .query(`refresh materialized view ${v}`)
        .catch((err: Error) => failed.push({ view: v, error: err.message }));
    }
    if (!failed.length) return views;
    if (failed.length === pending.length)
      throw new Error(`could not refresh ${failed.map((f) => `${f.view} (${f.error})`).join(', ')} on the target`);
    pending = failed.map((f) => f.view);
  }
}
