// What PostgreSQL 16 added to logical replication, used where both ends have it:
//   binary = true        table sync copies in binary (COPY ... BINARY needs a 16+ publisher: 0.72
//                        of text's time for 1M wide rows, bench/binary-copy.ts), and changes
//                        travel in binary: less parsing on both sides for numeric, timestamps, bytea.
//   streaming = parallel large transactions are applied by parallel workers as they stream,
//                        instead of spooled to disk and applied at commit.
// Binary is refused for a table whose binary form names a type by its oid (arrays and composites
// of types the database defined, which have other oids on the target), or whose type has no binary
// output at all: the apply would fail "wrong element type" or "no binary output function".
import type pg from 'pg';
import type { SourceTable } from './assess';
import type { SubscriptionOptions } from './replication';
import { serverVersion } from './server-version';
import { modernReplication } from './server-version';

/** The first user-defined base oid: below it, types are built in and have the same oid everywhere. */
const FIRST_NORMAL_OID = 16384;

/** Published columns that binary transfer cannot carry between two servers, as "table.column (type)". */
export async function binaryUnsafeColumns(src: pg.Client, tables: SourceTable[]): Promise<string[]> {
  if (!tables.length) return [];
  const { rows } = await src.query<{ col: string }>(
    `with cols as (
       select a.attrelid, a.attname, coalesce(nullif(t.typbasetype, 0), t.oid) as typ
         from pg_attribute a join pg_type t on t.oid = a.atttypid
        where a.attrelid = any($1::regclass[]) and a.attnum > 0 and not a.attisdropped and a.attgenerated = '')
     select format('%s.%I (%s)', c.attrelid::regclass, c.attname, format_type(c.typ, null)) as col
       from cols c join pg_type t on t.oid = c.typ
       left join pg_type e on e.oid = t.typelem and t.typcategory = 'A'
      where t.typtype = 'c' or t.typsend = 0
         or (e.oid is not null and (e.oid >= $2 or e.typtype = 'c' or e.typsend = 0))
      order by 1`,
    [tables.map((t) => t.name), FIRST_NORMAL_OID],
  );
  return rows.map((r) => r.col);
}

export async function subscriptionOptions(
  src: pg.Client,
  target: pg.Client,
  tables: SourceTable[],
): Promise<SubscriptionOptions> {
  const [s, t] = [await serverVersion(src), await serverVersion(target)];
  // Otherwise the server's defaults: a 16+ subscriber asks a 14-15 publisher to stream large
  // transactions (protocol 3) and spools them to apply at commit.
  if (!modernReplication(s.major, t.major)) return { binary: false, streaming: 'default' };
  return { binary: (await binaryUnsafeColumns(src, tables)).length === 0, streaming: 'parallel' };
}
