// Issue 11: what the 16+ binary table-sync copy gains, which dbmig turns on where both ends run 16+
// (activities/engines/postgres/subscription-options.ts). The same table of ROWS wide rows (numeric,
// timestamptz, bytea, jsonb, text) on a PostgreSQL 18 source is copied into a fresh database on a
// PostgreSQL 18 target by a subscription, once with binary = false (the baseline: what a 15 end
// forces) and once with binary = true, alternately in one process (ABBA), so drift on a shared
// machine hits both alike. Timed from CREATE SUBSCRIPTION until every table is 'r' in
// pg_subscription_rel, polled every 50 ms. Prints a table and the ratio; asserts nothing.
//   npx tsx bench/binary-copy.ts [ROUNDS=2] [--rows 300000]
import { rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { LocalClusters, type ClusterInfo } from '../activities/platforms/local/clusters';
import { withClient, type ConnectionParams } from '../activities/engines/postgres/sessions';
import { applySchema, dumpSchema, settingNames, toSql } from '../activities/engines/postgres/schema';
import { table } from '../cli/format';
import { subscriptionTables } from './hand';
import { median, sleep } from './load';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { rows: { type: 'string', default: '300000' } },
});
const ROUNDS = Number(positionals[0] ?? 2);
const ROWS = Number(values.rows);
const STATE = resolve('.local-platform', 'bench-binary-copy');
const on = (c: ClusterInfo, database: string): ConnectionParams => ({ ...c, database });

async function main(): Promise<void> {
  await rm(STATE, { recursive: true, force: true });
  const clusters = new LocalClusters(STATE);
  const [src, tgt] = await Promise.all([
    clusters.ensure('source', { version: 18 }),
    clusters.ensure('target', { version: 18 }),
  ]);
  try {
    await withClient(on(src, 'postgres'), (c) => c.query('create database wide'));
    await withClient(on(src, 'wide'), async (c) => {
      await c.query(`create table wide (
        id bigint primary key, n1 numeric(20,6), n2 numeric(20,6), t1 timestamptz, t2 timestamptz,
        b bytea, j jsonb, txt text)`);
      await c.query(
        `insert into wide
         select g, g * 1.000001, g / 7.0, now() - g * interval '1 s', now() + g * interval '1 ms',
                decode(md5(g::text), 'hex'), jsonb_build_object('g', g, 'tags', array['a', 'b']), repeat('x', 40)
           from generate_series(1, $1::int) g`,
        [ROWS],
      );
      await c.query('create publication pub_all for table wide');
    });
    const schema = toSql(await dumpSchema(on(src, 'wide')), await withClient(on(tgt, 'postgres'), settingNames));
    const size = await withClient(on(src, 'wide'), async (c) =>
      Number((await c.query<{ n: string }>(`select pg_total_relation_size('wide') as n`)).rows[0].n),
    );
    const runs: { round: number; mode: 'text' | 'binary'; seconds: number }[] = [];
    const order: ('text' | 'binary')[] = [];
    for (let r = 0; r < ROUNDS; r++)
      order.push(...(r % 2 ? (['binary', 'text'] as const) : (['text', 'binary'] as const)));
    for (const [i, mode] of order.entries()) {
      const db = `copy_${i}`;
      await withClient(on(tgt, 'postgres'), (c) => c.query(`create database ${db} template template0`));
      await withClient(on(tgt, db), (c) => applySchema(c, schema));
      const conninfo = `host=${src.host} port=${src.port} dbname=wide user=${src.user} password=${src.password}`;
      const started = Date.now();
      await withClient(on(tgt, db), (c) =>
        c.query(
          `create subscription sub_${i} connection ${pg.escapeLiteral(conninfo)} publication pub_all
           with (binary = ${mode === 'binary'})`,
        ),
      );
      await withClient(on(tgt, db), async (c) => {
        for (;;) {
          const s = await subscriptionTables(c, `sub_${i}`);
          if (s.total > 0 && s.ready === s.total) break;
          await sleep(50);
        }
      });
      const seconds = (Date.now() - started) / 1000;
      runs.push({ round: Math.floor(i / 2) + 1, mode, seconds });
      process.stderr.write(`round ${Math.floor(i / 2) + 1} ${mode}: ${seconds.toFixed(2)} s\n`);
      await withClient(on(tgt, db), async (c) => {
        await c.query(`alter subscription sub_${i} disable`);
        await c.query(`alter subscription sub_${i} set (slot_name = none)`);
        await c.query(`drop subscription sub_${i}`);
      });
      await withClient(on(src, 'wide'), (c) => c.query('select pg_drop_replication_slot($1)', [`sub_${i}`]));
      await withClient(on(tgt, 'postgres'), (c) => c.query(`drop database ${db} with (force)`));
    }
    console.log(
      `${ROWS} rows, table ${(size / 1_048_576).toFixed(0)} MB, PostgreSQL 18 → 18, ${ROUNDS} rounds (ABBA)\n`,
    );
    console.log(
      table(
        ['ROUND', 'MODE', 'COPY_S'],
        runs.map((r) => [String(r.round), r.mode, r.seconds.toFixed(2)]),
      ),
    );
    const text = median(runs.filter((r) => r.mode === 'text').map((r) => r.seconds));
    const binary = median(runs.filter((r) => r.mode === 'binary').map((r) => r.seconds));
    console.log(
      `\nmedian text ${text.toFixed(2)} s, binary ${binary.toFixed(2)} s: ` +
        `binary / text = ${(binary / text).toFixed(2)}`,
    );
  } finally {
    await clusters.destroy('source').catch(() => undefined);
    await clusters.destroy('target').catch(() => undefined);
    await rm(STATE, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
