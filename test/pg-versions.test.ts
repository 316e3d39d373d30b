// PostgreSQL versions on real clusters. A PostgreSQL 18 source with what Pagila's current schema
// uses (uuidv7() defaults, a virtual and a stored generated column, an enum, arrays, an identity),
// a PostgreSQL 15 source and a PostgreSQL 12 source move through the whole runbook to one
// PostgreSQL 18 target: 18 → 18 with binary copy and parallel apply, 15 → 18 and 12 → 18 as major
// upgrades. A downgrade is refused before
// anything is created; pg_dump is chosen per source version, and what a newer one writes loads on
// an older server.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { statusQuery } from '../common/messages';
import { effectiveSettings } from '../common/plan-settings';
import { validatePlan, type PlanInput } from '../common/plan';
import { approveCutover, rollbackDatabase, waitForState } from '../client/client';
import { withClient, type ConnectionParams } from '../activities/engines/postgres/sessions';
import { type ClusterInfo } from '../activities/platforms/local/clusters';
import { dumpSchema, settingNames, toSql } from '../activities/engines/postgres/schema';
import { binaryUnsafeColumns } from '../activities/engines/postgres/subscription-options';
import { listTables } from '../activities/engines/postgres/assess';
import { clientTools, pgDumpFor } from '../activities/engines/postgres/client-tools';
import type { DatabaseTask } from '../activities/steps';
import { compareRowForRow, createSourceDatabase, Writer } from './fixtures/fleet';
import { createHarness, SOURCE_PASSWORD_ENV, type Harness } from './helpers/harness';

const SOURCE18_PASSWORD_ENV = 'DBMIG_TEST_SOURCE18_PASSWORD';
const SOURCE12_PASSWORD_ENV = 'DBMIG_TEST_SOURCE12_PASSWORD';
const TARGET = 'pg18-target';

let h: Harness;
let src18: ClusterInfo;
let src12: ClusterInfo;

/** The parts of Pagila's current schema that need PostgreSQL 18, with a few thousand films. */
async function createPagila(cluster: ClusterInfo, films: number): Promise<void> {
  await withClient({ ...cluster, database: 'postgres' }, async (c) => {
    await c.query('drop database if exists pagila with (force)');
    await c.query('create database pagila');
  });
  await withClient({ ...cluster, database: 'pagila' }, async (c) => {
    await c.query(`create type mpaa_rating as enum ('G', 'PG', 'PG-13', 'R', 'NC-17')`);
    await c.query(`create table language (
      language_id int generated always as identity primary key,
      name text not null,
      last_update timestamptz not null default now())`);
    await c.query(`create table film (
      film_id uuid primary key default uuidv7(),
      title text not null,
      language_id int not null references language,
      rental_duration int2 not null default 3,
      rental_rate numeric(4,2) not null default 4.99,
      length int2,
      rating mpaa_rating default 'G',
      special_features text[],
      fulltext tsvector generated always as (to_tsvector('english', title)) stored,
      rental_rate_per_day numeric generated always as (rental_rate / rental_duration) virtual,
      last_update timestamptz not null default now())`);
    await c.query(`insert into language (name) values ('English'), ('Italian')`);
    await c.query(
      `insert into film (title, language_id, length, rating, special_features)
       select 'film ' || g, 1 + g % 2, 60 + g % 120, (enum_range(null::mpaa_rating))[1 + g % 5],
              array['Trailers', 'Deleted Scenes']
         from generate_series(1, $1::int) g`,
      [films],
    );
    await c.query('analyze');
  });
}

function plan(databases: PlanInput['databases'], migrationId?: string): PlanInput {
  return {
    platform: 'local',
    ...(migrationId ? { migrationId } : {}),
    concurrency: 2,
    approval: { policy: 'manual', timeout: '1h' },
    defaults: { lagThresholdSeconds: 5, stableWindow: '2s', noPrimaryKey: 'fail' },
    cutover: { reverseReplicationFor: '0s' },
    databases,
  };
}

function entry(name: string, cluster: ClusterInfo, passwordEnv: string, target: Record<string, string>) {
  return {
    name,
    engine: 'postgresql' as const,
    priority: 'high' as const,
    sizeGb: 1,
    source: {
      host: cluster.host,
      port: cluster.port,
      database: name,
      user: cluster.user,
      passwordRef: `env:${passwordEnv}`,
    },
    target: { kind: 'cloudsql' as const, instance: TARGET, ...target },
  };
}

function taskOf(input: PlanInput, name: string): DatabaseTask {
  const p = validatePlan(input);
  const database = p.databases.find((d) => d.name === name)!;
  return { migrationId: p.migrationId!, platform: 'local', database, settings: effectiveSettings(p, database) };
}

const on = (c: ClusterInfo, database: string): ConnectionParams => ({ ...c, database });

before(async () => {
  h = await createHarness('pg-versions');
  [src18, src12] = await Promise.all([
    h.platform.clusters.ensure('source18', { version: 18 }),
    h.platform.clusters.ensure('source12', { version: 12 }),
  ]);
  process.env[SOURCE18_PASSWORD_ENV] = src18.password;
  process.env[SOURCE12_PASSWORD_ENV] = src12.password;
  await createSourceDatabase(src12, { name: 'legacy', rows: 3_000, priority: 'high', sizeGb: 1, noPrimaryKey: true });
  await createPagila(src18, 3_000);
  await createSourceDatabase(h.source, { name: 'upgrade', rows: 4_000, priority: 'high', sizeGb: 1 });
});

after(async () => {
  await h?.stopWorker();
  for (const c of ['source18', 'source12', TARGET]) await h?.platform.clusters.destroy(c).catch(() => undefined);
  await h?.close();
});

test('pg_dump is chosen per source: the oldest at least as new as the server', async () => {
  const saved = process.env.PG_DUMP;
  delete process.env.PG_DUMP; // the search itself, whatever this machine's environment says
  try {
    const found = await clientTools('pg_dump');
    assert.ok(
      found.some((t) => t.major >= 18),
      `a pg_dump 18 (scripts/install-pg-tools) is among ${found.map((t) => t.path)}`,
    );
    for (const source of [12, 15, 16, 17, 18]) {
      const chosen = await pgDumpFor(source);
      assert.ok(chosen.major >= source, `a ${source} source got pg_dump ${chosen.major}`);
      const older = found.filter((t) => t.major >= source && t.major < chosen.major);
      assert.deepEqual(
        older,
        [],
        `a ${source} source: no pg_dump between ${source} and ${chosen.major} was passed over`,
      );
    }
    await assert.rejects(pgDumpFor(19), /no pg_dump at least as new as the source's PostgreSQL 19.*install-pg-tools/);
  } finally {
    if (saved !== undefined) process.env.PG_DUMP = saved;
  }
});

test("pg_dump 18's schema of a 15 source loads on 15 once the settings 15 lacks are dropped", async () => {
  const before = process.env.PG_DUMP;
  process.env.PG_DUMP = (await pgDumpFor(18)).path;
  let dump: string;
  try {
    dump = await dumpSchema({ ...on(h.source, 'upgrade'), password: h.source.password });
  } finally {
    if (before === undefined) delete process.env.PG_DUMP;
    else process.env.PG_DUMP = before;
  }
  assert.match(dump, /^SET transaction_timeout = 0;$/m, 'pg_dump 18 sets a parameter PostgreSQL 15 lacks');
  const known = await withClient(on(h.source, 'postgres'), settingNames);
  const sql = toSql(dump, known);
  assert.doesNotMatch(sql, /transaction_timeout/);
  assert.match(sql, /SET statement_timeout = 0;/, 'the settings 15 has are kept');
  await withClient(on(h.source, 'postgres'), async (c) => {
    await c.query('drop database if exists reload15 with (force)');
    await c.query('create database reload15');
  });
  try {
    await withClient(on(h.source, 'reload15'), async (c) => {
      await assert.rejects(c.query(toSql(dump)), /unrecognized configuration parameter "transaction_timeout"/);
      await c.query(sql);
      assert.equal((await c.query(`select to_regclass('public.items') as r`)).rows[0].r, 'public.items');
    });
  } finally {
    await withClient(on(h.source, 'postgres'), (c) => c.query('drop database reload15 with (force)'));
  }
});

test('binary transfer is refused for columns whose binary form names a type the database defined', async () => {
  await withClient(on(src18, 'pagila'), async (c) => {
    await c.query(`create table if not exists binary_probe (
      id int primary key, ratings mpaa_rating[], pair language, tags text[], rating mpaa_rating)`);
    const unsafe = await binaryUnsafeColumns(c, await listTables(c));
    assert.deepEqual(unsafe, ['binary_probe.pair (language)', 'binary_probe.ratings (mpaa_rating[])']);
    await c.query('drop table binary_probe');
    assert.deepEqual(
      await binaryUnsafeColumns(c, await listTables(c)),
      [],
      "Pagila's own columns all travel in binary",
    );
  });
});

test('a target older than its source is refused before anything is created', async () => {
  const input = plan(
    [entry('pagila', src18, SOURCE18_PASSWORD_ENV, { version: '15', instance: 'pg15-target' })],
    'downgrade',
  );
  const task = taskOf(input, 'pagila');
  const a = await h.platform.assessSource(task);
  assert.equal(a.blocked, true);
  const f = a.findings.find((x) => x.code === 'TARGET_VERSION');
  assert.equal(f?.severity, 'error');
  assert.match(f!.message, /older than the source's 18\.\d+.*set databases\[pagila\]\.target\.version to 18 or later/);
  await assert.rejects(h.platform.provisionTarget(task), { name: 'UnsupportedVersion' });
  assert.equal(await h.platform.clusters.exists('pg15-target'), false, 'no target cluster was made');
});

test('the plan names the field: a version the local platform does not run, two versions on one instance', () => {
  const src = { host: '127.0.0.1', port: 5432, database: 'a', user: 'u', passwordRef: 'env:X_PASSWORD' };
  const db = (name: string, version: string, instance = TARGET) => ({
    name,
    engine: 'postgresql' as const,
    sizeGb: 1,
    source: { ...src, database: name },
    target: { kind: 'cloudsql' as const, instance, version },
  });
  assert.throws(
    () => validatePlan(plan([db('a', '14')])),
    /databases\[0\]\.target\.version: the local platform runs PostgreSQL 15, 16, 17, 18 as targets, not 14/,
  );
  assert.throws(
    () => validatePlan(plan([db('a', '17'), db('b', '18')])),
    /databases\[1\]\.target\.version: 18 differs from databases\[0\]'s 17 on the same instance pg18-target/,
  );
  assert.doesNotThrow(() => validatePlan(plan([db('a', '17'), db('b', '18', 'other')])));
});

test('PostgreSQL 18 → 18, 15 → 18 and 12 → 18 through the whole runbook, under writes', async (t) => {
  const input = plan(
    [
      entry('pagila', src18, SOURCE18_PASSWORD_ENV, { version: '18' }),
      entry('upgrade', h.source, SOURCE_PASSWORD_ENV, {}),
      { ...entry('legacy', src12, SOURCE12_PASSWORD_ENV, {}), noPrimaryKey: 'replica-identity-full' as const },
    ],
    'versions',
  );
  // What the assessment says of each: versions, the pg_dump used, what the change implies.
  const said = {
    pagila: (await h.platform.assessSource(taskOf(input, 'pagila'))).findings,
    upgrade: (await h.platform.assessSource(taskOf(input, 'upgrade'))).findings,
    legacy: (await h.platform.assessSource(taskOf(input, 'legacy'))).findings,
  };
  assert.deepEqual(
    said.legacy.filter((f) => f.severity === 'error'),
    [],
    'a 12 source has nothing blocking',
  );
  assert.match(
    said.legacy.find((f) => f.code === 'MAJOR_UPGRADE')?.message ?? '',
    /source PostgreSQL 12\.\d+, target 18 .*PostgreSQL 13, 14, 15, 16, 17, 18 .*/,
  );
  const pagilaVersions = said.pagila.find((f) => f.code === 'VERSIONS');
  assert.match(pagilaVersions?.message ?? '', /source PostgreSQL 18\.\d+, target 18 .*pg_dump 18 .*binary.*parallel/);
  // upgrade names no version; pagila's 18 on the same instance is the instance's, so upgrade's too.
  const upgradeVersions = said.upgrade.find((f) => f.code === 'MAJOR_UPGRADE');
  assert.match(
    upgradeVersions?.message ?? '',
    /source PostgreSQL 15\.\d+, target 18 \(the plan's version for pg18-target\): a major-version upgrade .*/,
  );
  assert.match(upgradeVersions!.message, /pg_dump 15 .*copied as text/);

  const films = new FilmWriter(on(src18, 'pagila'));
  const items = new Writer(on(h.source, 'upgrade'), false);
  const legacy = new Writer(on(src12, 'legacy'), true);
  // A failed assertion must not leave them writing: the run would never end.
  t.after(() => Promise.all([films.stop(), items.stop(), legacy.stop()]));
  const handle = await h.startFleet('versions', input);
  const approved = new Set<string>();
  const options = new Map<string, { binary: boolean; streaming: string }>();
  for (;;) {
    const status = await handle.query(statusQuery);
    assert.deepEqual(
      status.databases.filter((d) => d.state === 'FAILED').map((d) => [d.database, d.lastError]),
      [],
    );
    for (const d of status.databases.filter((x) => x.state === 'AWAITING_APPROVAL' && !approved.has(x.database))) {
      const target = (await h.platform.clusters.info(TARGET))!;
      options.set(d.database, await subscriptionOptionsOn(on(target, d.database)));
      await approveCutover(h.env.client, 'versions', d.database, 'versions-test');
      approved.add(d.database);
    }
    if (status.databases.every((d) => ['COMPLETED', 'FINALIZED'].includes(d.state))) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const report = await handle.result();
  await Promise.all([films.stop(), items.stop(), legacy.stop()]);
  assert.equal(report.completed, 3);
  assert.ok(films.writes > 0 && items.writes > 0 && legacy.writes > 0, 'every source took writes meanwhile');

  const target = (await h.platform.clusters.info(TARGET))!;
  assert.equal(target.version, 18);
  assert.deepEqual(options.get('pagila'), { binary: true, streaming: 'p' }, '18 → 18: binary copy, parallel apply');
  // A 15 publisher speaks no protocol 4: its large transactions are spooled whatever 18's default says.
  assert.equal(options.get('upgrade')?.binary, false, '15 → 18: no binary copy from a 15 source');

  for (const [db, cluster] of [
    ['pagila', src18],
    ['upgrade', h.source],
    ['legacy', src12],
  ] as const) {
    const tables = await compareRowForRow(on(cluster, db), on(target, db), ['dbmig']);
    assert.ok(tables.length > 0);
    for (const t of tables) assert.ok(t.equal, `${db}: ${t.table} differs: ${t.sourceRows} vs ${t.targetRows}`);
  }
  await withClient(on(target, 'pagila'), async (c) => {
    const gen = await c.query<{ attname: string; attgenerated: string }>(
      `select attname, attgenerated from pg_attribute
        where attrelid = 'film'::regclass and attgenerated <> '' order by attname`,
    );
    assert.deepEqual(
      gen.rows.map((r) => [r.attname, r.attgenerated]),
      [
        ['fulltext', 's'],
        ['rental_rate_per_day', 'v'],
      ],
      'the generated columns are generated on the target too, the virtual one virtual',
    );
    // The target takes new films itself: uuidv7() default and the carried identity sequence.
    await c.query(`insert into language (name) values ('French')`);
    const { rows } = await c.query<{ v: number }>(
      `insert into film (title, language_id) values ('after the cutover', 3)
       returning uuid_extract_version(film_id) as v`,
    );
    assert.equal(rows[0].v, 7);
  });
});

/** Reads the subscription's binary and streaming options while it exists (before the cutover drops it). */
async function subscriptionOptionsOn(p: ConnectionParams): Promise<{ binary: boolean; streaming: string }> {
  return withClient(p, async (c) => {
    const { rows } = await c.query<{ binary: boolean; streaming: string }>(
      `select subbinary as binary, substream::text as streaming from pg_subscription
        where subdbid = (select oid from pg_database where datname = current_database())`,
    );
    assert.equal(rows.length, 1, `one subscription in ${p.database}`);
    return rows[0];
  });
}

/** Inserts and updates films until stopped; errors (a closed source at cutover) are counted. */
class FilmWriter {
  writes = 0;
  private stopped = false;
  private readonly loop: Promise<void>;
  constructor(params: ConnectionParams) {
    this.loop = (async () => {
      const c = new pg.Client({ ...params, application_name: 'film-writer' });
      c.on('error', () => undefined);
      await c.connect();
      try {
        for (let i = 0; !this.stopped; i++) {
          try {
            await c.query(`insert into film (title, language_id, rating) values ($1, 1, 'PG')`, [`new film ${i}`]);
            await c.query(`update film set rental_rate = rental_rate + 0.01 where title = $1`, [
              `film ${1 + (i % 3000)}`,
            ]);
            this.writes++;
          } catch {
            // The cutover closed the source: the application would now write to the target.
          }
          await new Promise((r) => setTimeout(r, 20));
        }
      } finally {
        await c.end().catch(() => undefined);
      }
    })();
  }
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}

test('a rollback gives a PostgreSQL 12 source its writes back from the 18 target', async () => {
  await createSourceDatabase(src12, { name: 'legacy_rb', rows: 500, priority: 'high', sizeGb: 1 });
  const input = {
    ...plan([entry('legacy_rb', src12, SOURCE12_PASSWORD_ENV, {})], 'rollback12'),
    cutover: { reverseReplicationFor: '1h' },
  };
  const handle = await h.startFleet('rollback12', input);
  await waitForState(h.env.client, 'rollback12', 'legacy_rb', 'AWAITING_APPROVAL', { timeoutMs: 180_000, pollMs: 250 });
  await approveCutover(h.env.client, 'rollback12', 'legacy_rb', 'versions-test');
  await waitForState(h.env.client, 'rollback12', 'legacy_rb', 'COMPLETED', { timeoutMs: 180_000, pollMs: 250 });
  const target = (await h.platform.clusters.info(TARGET))!;
  await withClient(on(target, 'legacy_rb'), (c) =>
    c.query(`insert into items (sku, qty, price) values ('written-on-18', 1, 1)`),
  );
  await rollbackDatabase(h.env.client, 'rollback12', 'legacy_rb', 'versions-test', 'back to 12');
  await waitForState(h.env.client, 'rollback12', 'legacy_rb', 'ROLLED_BACK', { timeoutMs: 180_000, pollMs: 250 });
  await handle.result();
  await withClient(on(src12, 'legacy_rb'), async (c) => {
    assert.equal((await c.query(`select 1 from items where sku = 'written-on-18'`)).rowCount, 1);
    await c.query(`insert into items (sku, qty, price) values ('12-writable-again', 1, 1)`);
  });
});
