// `dbmig rehearse` on a "production" source: a PostgreSQL 16 cluster with a keyed table, a key-less
// one, a foreign key, a sequence and a generated column, rehearsed with a 50% sample into a 17
// target. The rehearsal runs the whole plan on copies and prints its report; the source afterwards
// has the same slots, publications, subscriptions, roles, settings, databases, schemas and rows.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { stringify } from 'yaml';
import { LocalClusters, type ClusterInfo } from '../activities/platforms/local/clusters';
import { withClient } from '../activities/engines/postgres/sessions';
import { foreignKeysNotValid } from '../cli/rehearsal-copy';
import { planHash, readRehearsals } from '../cli/rehearsal-record';
import { loadPlan } from '../client/plan-file';

const CLI = join(__dirname, '..', 'cli', 'main.ts');
const PROD_DIR = resolve('.local-platform', 'test-rehearse-production');
const STATE_DIR = resolve('.local-platform', 'test-rehearse');
const PASSWORD_ENV = 'DBMIG_TEST_PRODUCTION_PASSWORD';

let prod: LocalClusters;
let source: ClusterInfo;

/** Everything a rehearsal must leave as it was on the source server. */
async function world() {
  return withClient({ ...source, database: 'catalog' }, async (c) => {
    const list = async (sql: string) => (await c.query<{ v: string }>(sql)).rows.map((r) => String(r.v));
    return {
      slots: await list('select slot_name as v from pg_replication_slots order by 1'),
      publications: await list('select pubname as v from pg_publication order by 1'),
      subscriptions: await list('select subname as v from pg_subscription order by 1'),
      roles: await list(`select rolname || ' ' || rolcanlogin || ' ' || rolreplication as v from pg_roles order by 1`),
      settings: await list(`select name || '=' || setting as v from pg_settings where source <> 'default' and
                              source <> 'session' and source <> 'client' order by 1`),
      fileSettings: await list(`select sourcefile || ': ' || name || '=' || setting as v from pg_file_settings`),
      databases: await list(`select datname || ' ' || coalesce(datacl::text, '') as v from pg_database order by 1`),
      dbSettings: await list("select coalesce(array_to_string(setconfig, ','), '') as v from pg_db_role_setting"),
      schemas: await list('select nspname as v from pg_namespace order by 1'),
      counts: await list(`select (select count(*) from product) || '/' || (select count(*) from review) || '/' ||
                                 (select count(*) from audit) as v`),
      sequence: await list('select last_value as v from product_id_seq'),
      replicaIdentity:
        await list(`select relname::text || relreplident::text as v from pg_class where relname in ('audit', 'product')
                                    order by 1`),
    };
  });
}

before(async () => {
  await rm(STATE_DIR, { recursive: true, force: true });
  prod = new LocalClusters(PROD_DIR);
  source = await prod.ensure('production', { version: 16 });
  process.env[PASSWORD_ENV] = source.password;
  await withClient({ ...source, database: 'postgres' }, async (c) => {
    await c.query('drop database if exists catalog');
    await c.query('create database catalog');
  });
  await withClient({ ...source, database: 'catalog' }, async (c) => {
    await c.query(`create table product (
      id serial primary key, name text not null, price numeric(10,2) not null,
      price_with_tax numeric generated always as (price * 1.2) stored)`);
    await c.query(`create table review (
      id bigint generated always as identity primary key,
      product_id int not null references product on delete cascade,
      stars int2 not null check (stars between 1 and 5), body text)`);
    await c.query('create table audit (at timestamptz not null default now(), what text not null)');
    await c.query(`insert into product (name, price) select 'p' || g, g % 500 from generate_series(1, 4000) g`);
    await c.query(`insert into review (product_id, stars, body)
                   select 1 + g % 4000, 1 + g % 5, repeat('x', 50) from generate_series(1, 8000) g`);
    await c.query(`insert into audit (what) select 'event ' || g from generate_series(1, 1000) g`);
    await c.query('analyze');
  });
});

after(async () => {
  await prod?.destroy('production').catch(() => undefined);
  await rm(PROD_DIR, { recursive: true, force: true });
  await rm(STATE_DIR, { recursive: true, force: true });
});

test('foreign keys of a sampled copy are NOT VALID, the rest of post-data as pg_dump wrote it', () => {
  const post = [
    'ALTER TABLE ONLY public.review',
    '    ADD CONSTRAINT review_pkey PRIMARY KEY (id);',
    'ALTER TABLE ONLY public.review',
    '    ADD CONSTRAINT review_product_id_fkey FOREIGN KEY (product_id)',
    '    REFERENCES public.product(id) ON DELETE CASCADE;',
  ].join('\n');
  assert.equal(foreignKeysNotValid(post), post.replace('ON DELETE CASCADE;', 'ON DELETE CASCADE NOT VALID;'));
});

test('dbmig rehearse runs the plan on copies and leaves the source as it was', async (t) => {
  const before = await world();
  const plan = join(STATE_DIR, '..', 'test-rehearse-plan.yaml');
  writeFileSync(
    plan,
    stringify({
      migrationId: 'catalog-move',
      platform: 'local',
      concurrency: 1,
      approval: { policy: 'manual', timeout: '24h' },
      defaults: { lagThresholdSeconds: 5, stableWindow: '2s', noPrimaryKey: 'replica-identity-full' },
      databases: [
        {
          name: 'catalog',
          engine: 'postgresql',
          sizeGb: 1,
          source: {
            host: source.host,
            port: source.port,
            database: 'catalog',
            user: source.user,
            passwordRef: `env:${PASSWORD_ENV}`,
          },
          target: { kind: 'cloudsql', instance: 'catalog-target', version: '17' },
        },
      ],
    }),
  );
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'rehearse', '--plan', plan, '--sample', '50'], {
    env: { ...process.env, DBMIG_STATE_DIR: STATE_DIR },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((ok) => child.on('exit', ok));
  t.diagnostic(out);
  assert.equal(code, 0, `rehearse exited ${code}:\n${out}\n${err.slice(-3000)}`);

  // The report: one row for catalog, with every column filled, and the findings after it.
  const row = out.split('\n').find((l) => l.startsWith('catalog '));
  assert.ok(row, out);
  assert.match(row!, /\d+E \d+W \d+I/);
  assert.match(row!, /\d+ rows, [\d.]+ MB/);
  assert.match(row!, /50%/);
  assert.match(row!, /(MB\/s|too fast to time)/);
  assert.match(row!, /\d+ ms/, 'a write-block window');
  assert.match(row!, /\d+ writes on 2 tables/, 'the synthetic load wrote to the keyed tables');
  assert.match(row!, /COMPLETED|FINALIZED/);
  assert.match(out, /MAJOR_UPGRADE: source PostgreSQL 16\.\d+, target 17/);
  assert.match(out, /NO_PRIMARY_KEY|REPLICA IDENTITY FULL/, 'the key-less table is a finding');
  assert.match(out, /validation: /);
  // The sample is TABLESAMPLE BERNOULLI (50) REPEATABLE (42) on one snapshot of a source nobody
  // writes: the same query on the source names exactly the rows the copy must hold, whatever the
  // time it took (a copy that ignored the sample, or lost rows, differs).
  const copied = Number(/(\d+) rows,/.exec(row!)![1]);
  const sampled = await withClient({ ...source, database: 'catalog' }, async (c) => {
    const count = async (table: string) =>
      Number(
        (await c.query<{ n: string }>(`select count(*) as n from ${table} tablesample bernoulli (50) repeatable (42)`))
          .rows[0].n,
      );
    return (await count('product')) + (await count('review')) + (await count('audit'));
  });
  assert.equal(copied, sampled, `the rehearsal copied ${copied} rows, the source's 50% sample holds ${sampled}`);
  assert.ok(sampled > 0.4 * 13_000 && sampled < 0.6 * 13_000, `about half the 13000 rows were sampled: ${sampled}`);

  // Its outcome is recorded by the plan's hash, for policy.requireRehearsal at `dbmig start`.
  const [recorded] = readRehearsals(join(STATE_DIR, 'rehearsal-results'));
  assert.equal(recorded?.planHash, planHash(loadPlan(plan).plan));
  assert.equal(recorded.passed, true);
  // And its measured rates, for `dbmig forecast`: the copied rows, a copy rate, catch-up and validation timed.
  const rates = recorded.rates?.find((r) => r.name === 'catalog');
  assert.equal(rates?.rows, copied);
  assert.ok(
    rates.copyMs !== undefined && rates.catchUpMs !== undefined && rates.validationMs !== undefined,
    JSON.stringify(rates),
  );
  // Every step's time from the database's workflow history: the forecast replays them on the sim.
  const steps = rates.history?.steps ?? {};
  for (const step of ['assessSource', 'provisionTarget', 'waitForFullDump', 'waitForReplicationReady', 'cutover'])
    assert.ok(steps[step]?.calls >= 1 && steps[step].ms > 0, `${step} timed: ${JSON.stringify(steps[step])}`);
  assert.equal(steps.validateData?.calls, 2, 'the live and the final validation');
  assert.ok(rates.history!.totalMs >= steps.waitForFullDump.ms + steps.provisionTarget.ms);
  assert.match(err, new RegExp(`recorded this rehearsal of plan ${recorded.planHash} \\(passed\\)`));

  assert.deepEqual(await world(), before, 'the rehearsal changed nothing on the source');
  assert.doesNotMatch(out + err, new RegExp(source.password.replace(/[^A-Za-z0-9]/g, '.')), 'no password printed');
});
