// The schema's post-data section (indexes, primary keys and unique constraints, foreign keys,
// triggers, rules), applied once the rows are in: an index built once over the loaded table costs
// far less than one maintained row by row while it loads (pgcopydb's and PeerDB's order).
// pg_dump writes each object under a header "-- Name: …; Type: …; Schema: …"; the indexes and the
// key constraints are built several at once, each in its own transaction (one already built by an
// earlier attempt is skipped by its "already exists"), then everything else runs in dump order in
// one transaction with the mark that says the section is done.
import type pg from 'pg';

export interface PostDataEntry {
  type: string;
  sql: string;
}

export interface PostData {
  /** SET statements pg_dump puts first; every session runs them before its entries. */
  preamble: string;
  entries: PostDataEntry[];
}

const HEADER = /^-- Name: .*; Type: (.*); Schema: .*; Owner: .*$/;

export function parsePostData(sql: string): PostData {
  const lines = sql.split('\n');
  const entries: PostDataEntry[] = [];
  const preamble: string[] = [];
  let current: { type: string; lines: string[] } | undefined;
  for (let i = 0; i < lines.length; i++) {
    const m = HEADER.exec(lines[i]);
    if (m) {
      if (current) entries.push({ type: current.type, sql: current.lines.join('\n').trim() });
      current = { type: m[1], lines: [] };
      // The header's own comment lines: the "--" above it was pushed already, the one below is skipped.
      if (current && lines[i + 1] === '--') i++;
      continue;
    }
    if (current) current.lines.push(lines[i]);
    else if (/^SET |^SELECT pg_catalog.set_config/.test(lines[i])) preamble.push(lines[i]);
  }
  if (current) entries.push({ type: current.type, sql: current.lines.join('\n').trim() });
  // Comment lines (the "--" that opens the next header) carry nothing.
  const clean = entries
    .map((e) => ({ type: e.type, sql: e.sql.replace(/^--$/gm, '').trim() }))
    .filter((e) => e.sql.length > 0);
  return { preamble: preamble.join('\n'), entries: clean };
}

/** Built several at once: each is one statement whose only dependency is its table. */
export function buildsInParallel(e: PostDataEntry): boolean {
  if (e.type === 'INDEX') return /^CREATE (UNIQUE )?INDEX /.test(e.sql) && !/ ON ONLY /.test(e.sql);
  if (e.type === 'CONSTRAINT') return /ADD CONSTRAINT .* (PRIMARY KEY|UNIQUE) /s.test(e.sql);
  return false;
}

/** 42P07 duplicate_table (an index), 42710 duplicate_object, 42P16 a second primary key: built before. */
const ALREADY = new Set(['42P07', '42710', '42P16']);

/**
 * Applies `post` on `sessions` (each already connected to the target): the parallel entries spread
 * over them, then the rest in order in one transaction, which also runs `markDone`.
 */
export async function applyPostData(
  sessions: pg.Client[],
  post: PostData,
  markDone: (c: pg.Client) => Promise<void>,
  onBuilt: (done: number, total: number) => void = () => undefined,
  /** Where each parallel build waits for its turn (worker-streams.ts); at once by default. */
  turn: (build: () => Promise<void>) => Promise<void> = (build) => build(),
): Promise<void> {
  const parallel = post.entries.filter(buildsInParallel);
  const rest = post.entries.filter((e) => !buildsInParallel(e));
  let next = 0;
  let built = 0;
  await Promise.all(
    sessions.map(async (c) => {
      if (post.preamble) await c.query(post.preamble);
      for (let i = next++; i < parallel.length; i = next++) {
        const entry = parallel[i];
        await turn(async () => {
          try {
            await c.query(entry.sql);
          } catch (err) {
            if (!ALREADY.has((err as { code?: string }).code ?? '')) throw err;
          }
        });
        onBuilt(++built, parallel.length + rest.length);
      }
    }),
  );
  const c = sessions[0];
  await c.query('begin');
  try {
    for (const e of rest) await c.query(e.sql);
    await markDone(c);
    await c.query('commit');
  } catch (err) {
    await c.query('rollback').catch(() => undefined);
    throw err;
  }
  onBuilt(parallel.length + rest.length, parallel.length + rest.length);
}
