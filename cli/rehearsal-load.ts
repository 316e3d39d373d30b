// A synthetic write load on a rehearsal's copy of a source (never on the source itself): updates
// that set a column of a sampled row to itself, in every table with a one-column key (the key
// itself, or the first plain column when the key is an identity GENERATED ALWAYS, which no UPDATE
// may set). Each is a
// real row version that replication must carry, through the same apply worker as the copy, and
// the cutover must fence; the data stays as the snapshot had it, so the final validation still
// compares like with like. Writes refused once the cutover closed the copy are counted, as an
// application would see them.
import pg from 'pg';
import type { ConnectionParams } from '../activities/engines/postgres/sessions';

interface KeyedTable {
  name: string;
  key: string;
  /** The column set to itself. */
  col: string;
  /** The share of rows a sample takes for about 20 rows, in percent. */
  pct: number;
}

export class SyntheticLoad {
  writes = 0;
  refused = 0;
  /** Tables that took at least one write. */
  readonly written = new Set<string>();
  private stopped = false;
  private readonly loop: Promise<void>;

  constructor(
    params: ConnectionParams,
    private readonly intervalMs = 50,
  ) {
    this.loop = this.run(params);
  }

  private async run(params: ConnectionParams): Promise<void> {
    const c = new pg.Client({ ...params, application_name: 'dbmig rehearsal load' });
    c.on('error', () => undefined);
    await c.connect();
    try {
      const keyed = await keyedTables(c);
      for (let i = 0; !this.stopped && keyed.length; i++) {
        const t = keyed[i % keyed.length];
        try {
          const r = await c.query(
            `with s as (select ${t.key} from ${t.name} tablesample bernoulli (${t.pct}) limit 20)
             update ${t.name} set ${t.col} = ${t.name}.${t.col} from s where ${t.name}.${t.key} = s.${t.key}`,
          );
          this.writes += r.rowCount ?? 0;
          if (r.rowCount) this.written.add(t.name);
        } catch {
          this.refused++;
        }
        await new Promise((r) => setTimeout(r, this.intervalMs));
      }
    } finally {
      await c.end().catch(() => undefined);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop.catch(() => undefined);
  }
}

async function keyedTables(c: pg.Client): Promise<KeyedTable[]> {
  const { rows } = await c.query<{ name: string; key: string; col: string | null; n: string }>(
    `select format('%I.%I', n.nspname, cl.relname) as name, format('%I', a.attname) as key,
            case when a.attidentity <> 'a' then format('%I', a.attname)
                 else (select format('%I', b.attname) from pg_attribute b
                        where b.attrelid = cl.oid and b.attnum > 0 and not b.attisdropped
                          and b.attgenerated = '' and b.attidentity = '' order by b.attnum limit 1) end as col,
            greatest(cl.reltuples, 1)::bigint as n
       from pg_index i
       join pg_class cl on cl.oid = i.indrelid
       join pg_namespace n on n.oid = cl.relnamespace
       join pg_attribute a on a.attrelid = cl.oid and a.attnum = i.indkey[0]
      where i.indisprimary and i.indnatts = 1 and cl.relkind = 'r' and not cl.relispartition
        and n.nspname not in ('pg_catalog', 'information_schema', 'dbmig')
      order by 1`,
  );
  return rows
    .filter((r) => r.col !== null)
    .map((r) => ({ name: r.name, key: r.key, col: r.col!, pct: Math.min(100, Math.max(0.001, 2_000 / Number(r.n))) }));
}
