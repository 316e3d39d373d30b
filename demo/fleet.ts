// A small fleet of real source databases with continuous writers, shared by the demo and the
// tests: one with sequence-backed ids, one with a table that has no primary key.
import pg from 'pg';
import { withClient, type ClusterInfo, type ConnectionParams } from '../activities/platforms/local/clusters';
import type { PlanInput } from '../common/plan';

export interface SourceDb {
  name: string;
  rows: number;
  priority: 'high' | 'medium' | 'low';
  sizeGb: number;
  noPrimaryKey?: boolean;
}

export const DEMO_FLEET: SourceDb[] = [
  { name: 'orders', rows: 60_000, priority: 'high', sizeGb: 420 },
  { name: 'inventory', rows: 20_000, priority: 'medium', sizeGb: 120, noPrimaryKey: true },
  { name: 'accounts', rows: 4_000, priority: 'low', sizeGb: 30 },
];

export async function createSourceDatabase(cluster: ClusterInfo, db: SourceDb): Promise<void> {
  await withClient({ ...cluster, database: 'postgres' }, async (c) => {
    await c.query(`drop database if exists ${pg.escapeIdentifier(db.name)} with (force)`);
    await c.query(`create database ${pg.escapeIdentifier(db.name)}`);
  });
  await withClient({ ...cluster, database: db.name }, async (c) => {
    await c.query(`create table items (
      id bigserial primary key,
      sku text not null,
      qty integer not null,
      price numeric(12,2) not null,
      updated_at timestamptz not null default now())`);
    await c.query(
      `insert into items (sku, qty, price)
      select 'sku-' || g, g % 97, (g % 1000) / 10.0 from generate_series(1, $1::int) g`,
      [db.rows],
    );
    if (db.noPrimaryKey) {
      await c.query(
        `create table movements (sku text not null, delta integer not null, at timestamptz not null default now())`,
      );
      await c.query(
        `insert into movements (sku, delta) select 'sku-' || (g % 500), g % 7 - 3 from generate_series(1, $1::int) g`,
        [Math.ceil(db.rows / 4)],
      );
    }
    await c.query('analyze');
  });
}

export function planFor(
  cluster: ClusterInfo,
  dbs: SourceDb[],
  passwordRef: string,
  extra: Partial<PlanInput> = {},
): PlanInput {
  return {
    platform: 'local',
    concurrency: 2,
    approval: { policy: 'manual', timeout: '1h' },
    defaults: { lagThresholdSeconds: 5, stableWindow: '3s', noPrimaryKey: 'fail' },
    ...extra,
    databases: dbs.map((db) => ({
      name: db.name,
      engine: 'postgresql' as const,
      priority: db.priority,
      sizeGb: db.sizeGb,
      source: { host: cluster.host, port: cluster.port, database: db.name, user: cluster.user, passwordRef },
      target: { kind: 'cloudsql' as const, instance: 'fleet-target' },
      ...(db.noPrimaryKey ? { noPrimaryKey: 'replica-identity-full' as const } : {}),
    })),
  };
}

/** An application's connection: unlike the orchestrator's, it obeys a read-only source. */
async function appConnection(params: ConnectionParams): Promise<pg.Client> {
  const client = new pg.Client({ ...params, application_name: 'demo-writer', connectionTimeoutMillis: 5_000 });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/**
 * Writes to one database until stopped: inserts through the sequence, updates and deletes by
 * key, and appends to the key-less table. Errors (a read-only source during cutover) are
 * counted and retried, as an application would; `moveTo` points it at the new endpoint.
 */
export class Writer {
  writes = 0;
  errors = 0;
  private stopped = false;
  private paused = false;
  private loop: Promise<void>;
  private client?: pg.Client;

  constructor(
    private params: ConnectionParams,
    private readonly withMovements: boolean,
    private readonly intervalMs = 20,
  ) {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      if (this.paused) {
        await new Promise((r) => setTimeout(r, 20));
        continue;
      }
      try {
        this.client ??= await appConnection(this.params);
        const c = this.client;
        await c.query('begin');
        const { rows } = await c.query<{ id: string }>(
          `insert into items (sku, qty, price) values ('new-' || floor(random() * 1e6), 1, 9.99) returning id`,
        );
        await c.query(
          'update items set qty = qty + 1, updated_at = now() where id = (select floor(random() * $1)::bigint + 1)',
          [Number(rows[0].id)],
        );
        if (this.writes % 10 === 0)
          await c.query('delete from items where id = (select floor(random() * $1)::bigint + 1)', [Number(rows[0].id)]);
        if (this.withMovements)
          await c.query(`insert into movements (sku, delta) values ('sku-' || floor(random() * 500), 1)`);
        await c.query('commit');
        this.writes++;
      } catch {
        this.errors++;
        await this.client?.end().catch(() => undefined);
        this.client = undefined;
        await new Promise((r) => setTimeout(r, 100));
      }
      await new Promise((r) => setTimeout(r, this.intervalMs));
    }
  }

  pause(): void {
    this.paused = true;
  }

  async moveTo(params: ConnectionParams): Promise<void> {
    this.paused = true;
    await this.client?.end().catch(() => undefined);
    this.client = undefined;
    this.params = params;
    this.paused = false;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    await this.client?.end().catch(() => undefined);
  }
}

export interface TableComparison {
  table: string;
  sourceRows: number;
  targetRows: number;
  equal: boolean;
}

/** Compares every user table row for row (all columns, in a total order). */
export async function compareRowForRow(source: ConnectionParams, target: ConnectionParams): Promise<TableComparison[]> {
  return withClient(source, (s) =>
    withClient(target, async (t) => {
      const tables = await s.query<{ name: string; cols: string }>(`
        select format('%I.%I', table_schema, table_name) as name,
               string_agg(format('%I', column_name), ', ' order by ordinal_position) as cols
          from information_schema.columns
         where table_schema not in ('pg_catalog', 'information_schema')
         group by table_schema, table_name order by 1`);
      const out: TableComparison[] = [];
      for (const { name, cols } of tables.rows) {
        const q = `select ${cols} from ${name} order by ${cols}`;
        const [a, b] = [await s.query({ text: q, rowMode: 'array' }), await t.query({ text: q, rowMode: 'array' })];
        const equal =
          a.rows.length === b.rows.length &&
          a.rows.every((row, i) => JSON.stringify(row) === JSON.stringify(b.rows[i]));
        out.push({ table: name, sourceRows: a.rows.length, targetRows: b.rows.length, equal });
      }
      return out;
    }),
  );
}

export interface Leftovers {
  slots: string[];
  publications: string[];
  subscriptions: string[];
}

/** Replication objects still present on the source cluster's databases and the target cluster. */
export async function replicationLeftovers(
  source: ClusterInfo,
  sourceDbs: string[],
  target?: ClusterInfo,
): Promise<Leftovers> {
  const slots = await withClient({ ...source, database: 'postgres' }, async (c) =>
    (await c.query<{ s: string }>('select slot_name as s from pg_replication_slots')).rows.map((r) => r.s),
  );
  const publications: string[] = [];
  for (const db of sourceDbs) {
    await withClient({ ...source, database: db }, async (c) =>
      publications.push(
        ...(await c.query<{ p: string }>('select pubname as p from pg_publication')).rows.map((r) => `${db}:${r.p}`),
      ),
    );
  }
  const subscriptions = target
    ? await withClient({ ...target, database: 'postgres' }, async (c) =>
        (await c.query<{ s: string }>('select subname as s from pg_subscription')).rows.map((r) => r.s),
      )
    : [];
  return { slots, publications, subscriptions };
}
