// What is migrated is what the source has now, not what it had when the job was made. A deploy may
// create a table during CDC (the publication lists tables, so it is not published), or a large
// object after the assessment (logical replication carries none); after the cutover, the target
// may get a table the reverse publication does not list. Each would be left behind without a word,
// so the live validation, the cutover's gate and the rollback's gate compare the current set with
// what is published and subscribed, and name every difference. Carrying such objects is not done
// here: a named refusal is (safety rule 6). Sequences need no such check: the cutover lists them
// anew when it carries them (carry.ts), creating those the schema copy did not have.
import type pg from 'pg';
import { MigrationError } from '../../../common/failures';
import { type Finding, type ValidationResult } from '../../steps';
import { listTables } from './assess';
import { compareTables } from './validate';
import { schemaDiff, tablesCopying } from './ddl-carry';

/** Who publishes and who subscribes, and what each of them is called. */
export interface Direction {
  /** Publishes: the source forward, the target in reverse. */
  pub: pg.Client;
  /** Subscribes: the target forward, the source in reverse. */
  sub: pg.Client;
  publication: string;
  subscription: string;
  /** 'forward' before the cutover, 'reverse' after it (a rollback's way back). */
  way: 'forward' | 'reverse';
}

export const SET_CHANGED = 'MIGRATED_SET_CHANGED';
/** Large objects named one by one; past this many the rest are counted (an error message stays readable). */
const NAMED_LARGE_OBJECTS = 20;

/** The application tables `publication` lists (pg_publication_rel: partition roots as such). */
export async function publishedTables(c: pg.Client, publication: string): Promise<Set<string>> {
  const { rows } = await c.query<{ name: string }>(
    `select format('%I.%I', n.nspname, c.relname) as name
       from pg_publication p join pg_publication_rel pr on pr.prpubid = p.oid
       join pg_class c on c.oid = pr.prrelid join pg_namespace n on n.oid = c.relnamespace
      where p.pubname = $1 and n.nspname <> 'dbmig'`,
    [publication],
  );
  return new Set(rows.map((r) => r.name));
}

/** The application tables `subscription` has on the subscriber, in any sync state. */
async function subscribedTables(c: pg.Client, subscription: string): Promise<Set<string>> {
  const { rows } = await c.query<{ name: string }>(
    `select format('%I.%I', n.nspname, c.relname) as name
       from pg_subscription s join pg_subscription_rel r on r.srsubid = s.oid
       join pg_class c on c.oid = r.srrelid join pg_namespace n on n.oid = c.relnamespace
      where s.subname = $1 and n.nspname <> 'dbmig'
        and s.subdbid = (select oid from pg_database where datname = current_database())`,
    [subscription],
  );
  return new Set(rows.map((r) => r.name));
}

/** Large objects of the publisher that the subscriber lacks (by oid), lowest first. */
export async function missingLargeObjects(pub: pg.Client, sub: pg.Client): Promise<string[]> {
  const { rows } = await pub.query<{ oid: string }>('select oid::text from pg_largeobject_metadata order by oid');
  if (!rows.length) return [];
  const there = await sub.query<{ oid: string }>(
    'select oid::text from pg_largeobject_metadata where oid = any($1::oid[])',
    [rows.map((r) => r.oid)],
  );
  const have = new Set(there.rows.map((r) => r.oid));
  return rows.map((r) => r.oid).filter((o) => !have.has(o));
}

const exists = async (c: pg.Client, name: string) =>
  !!(await c.query<{ r: string | null }>('select to_regclass($1)::text as r', [name])).rows[0].r;

const finding = (message: string, table?: string): Finding => ({
  code: SET_CHANGED,
  severity: 'error',
  message,
  ...(table ? { table } : {}),
});

/**
 * Every object of the publisher's current set that replication does not carry, each named with why
 * and what to do. Empty when the set is whole. Reads only.
 */
export async function setChanges(d: Direction): Promise<Finding[]> {
  const { pub, sub, publication, subscription, way } = d;
  const [publisherSide, subscriberSide] = way === 'forward' ? ['source', 'target'] : ['target', 'source'];
  const created = way === 'forward' ? 'created after the copy' : 'created on the target after the cutover';
  const published = await publishedTables(pub, publication);
  const subscribed = await subscribedTables(sub, subscription);
  const out: Finding[] = [];
  for (const { name } of await listTables(pub)) {
    if (!published.has(name)) {
      const exists = (await sub.query<{ r: string | null }>('select to_regclass($1)::text as r', [name])).rows[0].r;
      const inPublication = way === 'forward' ? 'not published' : 'not in the reverse publication';
      out.push(
        finding(
          `${name} (table, ${created}, ${inPublication}${exists ? '' : `, missing on the ${subscriberSide}`}): ` +
            `its rows are not replicated. Carry it: ` +
            `${exists ? '' : `create it on the ${subscriberSide} (pg_dump --schema-only -t ${name}), `}` +
            `ALTER PUBLICATION ${publication} ADD TABLE ${name} on the ${publisherSide}, then ` +
            `ALTER SUBSCRIPTION ${subscription} REFRESH PUBLICATION on the ${subscriberSide} (it copies the rows); ` +
            `or drop it on the ${publisherSide}`,
          name,
        ),
      );
    } else if (!subscribed.has(name) && (way === 'reverse' || (await exists(sub, name)))) {
      out.push(
        finding(
          `${name} (table, published, not subscribed on the ${subscriberSide}): ` +
            `ALTER SUBSCRIPTION ${subscription} REFRESH PUBLICATION on the ${subscriberSide} copies it`,
          name,
        ),
      );
    }
  }
  // Forward, the schema changes the source got during CDC that are not carried (schema-diff.ts): a
  // renamed table is among them, not among the "published, not subscribed" above.
  if (way === 'forward') {
    out.push(...(await schemaDiff(pub, sub, d)).refused);
    // A table carried during CDC whose rows are still being copied has nothing to compare yet.
    for (const name of await tablesCopying(sub, subscription))
      out.push(
        finding(
          `${name} (table, created on the source during CDC, its rows still being copied): the cutover waits ` +
            `for the copy (ALTER SUBSCRIPTION ${subscription} REFRESH PUBLICATION started it)`,
          name,
        ),
      );
  }
  const objects = await missingLargeObjects(pub, sub);
  const when = way === 'forward' ? 'created after the assessment' : 'created on the target after the cutover';
  for (const oid of objects.slice(0, NAMED_LARGE_OBJECTS)) {
    out.push(
      finding(
        `large object ${oid} (${when}, not on the ${subscriberSide}): logical replication does not carry large ` +
          `objects; move its contents into a table, or remove it on the ${publisherSide} (lo_unlink(${oid}))`,
      ),
    );
  }
  if (objects.length > NAMED_LARGE_OBJECTS) {
    const more = objects.length - NAMED_LARGE_OBJECTS;
    out.push(
      finding(
        `${more} more large objects (${when}, not on the ${subscriberSide}; oids ${objects[NAMED_LARGE_OBJECTS]} ` +
          `to ${objects[objects.length - 1]}): the same applies to each`,
      ),
    );
  }
  return out;
}

/**
 * The refusal for `findings`. `blocked`: whether a block is held (the caller ends it and says so);
 * a gate's refusal blocked nothing, and the database keeps its state.
 */
export function setChangedError(findings: Finding[], doing: string, blocked = false): MigrationError {
  return new MigrationError(
    'MigratedSetChanged',
    `not ${doing}: what is migrated changed: ${findings.map((f) => f.message).join('; ')}` +
      (blocked ? '' : '; nothing was blocked'),
  );
}

/** Throws MigratedSetChanged when the set in direction `d` is not whole. */
export async function refuseChangedSet(d: Direction, doing: string, blocked = false): Promise<void> {
  const findings = await setChanges(d);
  if (findings.length) throw setChangedError(findings, doing, blocked);
}

/**
 * The live validation: the set first, then the tables replication carries, compared (`compare`:
 * the local platform's is the chunked comparison at a consistent point, validate-live.ts). A table the
 * set leaves out is not compared (the target has no rows of it to compare, or none at all); it is a
 * finding, which makes the result not ok without a mismatch: the runbook then holds before the
 * cutover with replication running, where a mismatch fails the run.
 */
export async function validateLive(
  d: Direction,
  compare: (tables: string[]) => Promise<ValidationResult> = (tables) => compareTables(d.pub, d.sub, tables, 'live'),
): Promise<ValidationResult> {
  const findings = await setChanges(d);
  const left = new Set(findings.flatMap((f) => (f.table ? [f.table] : [])));
  const tables = (await listTables(d.pub)).map((t) => t.name).filter((n) => !left.has(n));
  const result = await compare(tables);
  if (!findings.length) return result;
  const named = findings.map((f) => f.message.slice(0, f.message.indexOf('): ') + 1)).join(', ');
  return {
    ...result,
    ok: false,
    findings,
    summary: `${result.summary}; ${findings.length} object(s) not migrated: ${named}`,
  };
}
