// Shared by the bench/ scripts: a paced write load over several connections that records every
// attempt (start, end, outcome, which server), the statistics the tables print, and the
// plumbing a benchmark run needs (a dedicated application role, dropping a run's databases).
import pg from 'pg';
import { scramVerifier } from '../test/helpers/migration-user';
import { withClient, type ConnectionParams } from '../activities/engines/postgres/sessions';
import { type ClusterInfo } from '../activities/platforms/local/clusters';
import type { LocalPlatform } from '../activities/platforms/local';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** One write (one transaction) as its client saw it. Times are Date.now(), like the job record's. */
export interface Attempt {
  writer: number;
  start: number;
  end: number;
  ok: boolean;
  where: 'source' | 'target';
  error?: string;
}

export interface LoadOptions {
  connections: number;
  /** Commits per second over all connections; each connection is paced at its share. */
  ratePerSec: number;
  /** Updates and deletes pick ids in 1..keyRange (the rows the table started with). */
  keyRange: number;
}

/** After an error the writer reconnects after this pause, as an application's pool would. */
const RETRY_MS = 50;

/**
 * An application's write traffic: `connections` sessions, each paced (open loop: a stalled
 * writer does not burst to catch up) at ratePerSec / connections autocommit transactions:
 * inserts through the sequence, updates and deletes by key on `items`, updates on `accounts`.
 * Sessions are an application's (no `default_transaction_read_only = off`, unlike dbmig's own),
 * so a closed source refuses them. After `moveTo` the writers only insert (`sku` 'post-cutover')
 * so a benchmark can remove what they wrote before it compares the target with the source.
 */
export class WriteLoad {
  readonly attempts: Attempt[] = [];
  private params: ConnectionParams;
  private where: 'source' | 'target' = 'source';
  private generation = 0;
  private stopped = false;
  private readonly loops: Promise<void>[];
  /** Resolved by moveTo: a writer pausing after an error goes to the new endpoint at once. */
  private moved: Promise<void>;
  private wake: () => void = () => undefined;

  constructor(
    params: ConnectionParams,
    private readonly opts: LoadOptions,
  ) {
    this.params = params;
    this.moved = new Promise((r) => (this.wake = r));
    this.loops = Array.from({ length: opts.connections }, (_, i) => this.run(i));
  }

  private async run(writer: number): Promise<void> {
    const interval = (this.opts.connections * 1000) / this.opts.ratePerSec;
    let next = Date.now() + (writer * interval) / this.opts.connections;
    let client: pg.Client | undefined;
    let clientGeneration = -1;
    for (let n = 0; !this.stopped; n++) {
      const wait = next - Date.now();
      if (wait > 0) await sleep(wait);
      next = Math.max(next + interval, Date.now());
      if (this.stopped) break;
      const where = this.where;
      const start = Date.now();
      try {
        if (!client || clientGeneration !== this.generation) {
          await client?.end().catch(() => undefined);
          client = undefined;
          clientGeneration = this.generation;
          client = await appConnection(this.params);
        }
        await write(client, where, n, this.opts.keyRange);
        this.attempts.push({ writer, start, end: Date.now(), ok: true, where });
      } catch (err) {
        this.attempts.push({ writer, start, end: Date.now(), ok: false, where, error: (err as Error).message });
        await client?.end().catch(() => undefined);
        client = undefined;
        await Promise.race([sleep(RETRY_MS), this.moved]);
      }
    }
    await client?.end().catch(() => undefined);
  }

  /** Points every writer at the new endpoint; each reconnects before its next write. */
  moveTo(params: ConnectionParams): void {
    this.params = params;
    this.where = 'target';
    this.generation++;
    this.wake();
  }

  /** Resolves once every writer has committed on the target, or after `timeoutMs`. */
  async untilAllCommitted(where: 'source' | 'target', timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      const done = new Set(this.attempts.filter((a) => a.ok && a.where === where).map((a) => a.writer));
      if (done.size >= this.opts.connections) return;
      await sleep(10);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
  }
}

async function appConnection(params: ConnectionParams): Promise<pg.Client> {
  const client = new pg.Client({ ...params, application_name: 'bench-writer', connectionTimeoutMillis: 5_000 });
  // A terminated backend emits 'error' on the client; the next query reports it.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    throw err;
  }
  return client;
}

/** A writer's n-th write: on the source half inserts, the rest updates and deletes by key. */
async function write(c: pg.Client, where: 'source' | 'target', n: number, keyRange: number): Promise<void> {
  const key = 1 + Math.floor(Math.random() * keyRange);
  const kind = n % 10;
  if (where === 'target') await c.query(`insert into items (sku, qty, price) values ('post-cutover', 1, 1.00)`);
  else if (kind < 5)
    await c.query(`insert into items (sku, qty, price) values ($1, 1, 9.99)`, [`w-${Math.random().toString(36)}`]);
  else if (kind < 8) await c.query('update items set qty = qty + 1, updated_at = now() where id = $1', [key]);
  else if (kind < 9) await c.query('update accounts set balance = balance + 1 where id = $1', [key % 2000 || 1]);
  else await c.query('delete from items where id = $1', [key]);
}

/** A source table the writers use besides fleet.ts's `items`: a second table with its own key. */
export async function addAccountsTable(c: pg.Client): Promise<void> {
  await c.query(`create table accounts (id integer primary key, balance numeric(14,2) not null, note text)`);
  await c.query(`insert into accounts select g, 0, repeat('n', 40) from generate_series(1, 2000) g`);
}

/**
 * An application role (not a superuser): CONNECT comes through PUBLIC, so the cutover's close
 * applies to it as to a real application. Created once per cluster; `grantIn` gives it a database.
 */
export const APP_ROLE = 'bench_app';

export async function ensureAppRole(cluster: ClusterInfo, password: string): Promise<void> {
  await withClient({ ...cluster, database: 'postgres' }, async (c) => {
    const { rowCount } = await c.query('select 1 from pg_roles where rolname = $1', [APP_ROLE]);
    // A verifier, not the password: a statement's text may reach the server's log.
    if (!rowCount) await c.query(`create role ${APP_ROLE} login password ${pg.escapeLiteral(scramVerifier(password))}`);
  });
}

export async function grantIn(c: pg.Client): Promise<void> {
  await c.query(`grant usage on schema public to ${APP_ROLE}`);
  await c.query(`grant select, insert, update, delete on all tables in schema public to ${APP_ROLE}`);
  await c.query(`grant usage, select on all sequences in schema public to ${APP_ROLE}`);
}

/**
 * Drops a run's database on one cluster with whatever replication it has left: subscriptions
 * (detached from their slots first, so DROP does not reach for the source) on a target, slots of
 * that database on a source. Missing things are skipped: it also cleans up after a failed run.
 */
export async function dropDatabase(cluster: ClusterInfo, database: string): Promise<void> {
  const admin = { ...cluster, database: 'postgres' };
  const exists = await withClient(admin, async (c) =>
    Boolean((await c.query('select 1 from pg_database where datname = $1', [database])).rowCount),
  );
  if (!exists) return;
  await withClient({ ...cluster, database }, async (c) => {
    const subs = await c.query<{ s: string }>(
      `select subname as s from pg_subscription where subdbid = (select oid from pg_database where datname = $1)`,
      [database],
    );
    for (const { s } of subs.rows) {
      const id = pg.escapeIdentifier(s);
      await c.query(`alter subscription ${id} disable`);
      await c.query(`alter subscription ${id} set (slot_name = none)`);
      await c.query(`drop subscription ${id}`);
    }
  });
  await withClient(admin, async (c) => {
    for (let attempt = 0; ; attempt++) {
      const slots = await c.query<{ slot: string; pid: number | null }>(
        'select slot_name as slot, active_pid as pid from pg_replication_slots where database = $1',
        [database],
      );
      if (!slots.rowCount) break;
      try {
        for (const { slot, pid } of slots.rows) {
          if (pid) await c.query('select pg_terminate_backend($1)', [pid]);
          await c.query('select pg_drop_replication_slot($1)', [slot]);
        }
      } catch (err) {
        // A terminated walsender lets go of its slot a moment later.
        if (attempt >= 50) throw err;
        await sleep(100);
      }
    }
    await c.query(`drop database ${pg.escapeIdentifier(database)} with (force)`);
  });
}

// ── statistics ───────────────────────────────────────────────────────────────────────────────

/**
 * Nearest-rank percentile: the smallest sample with at least q of the samples at or below it.
 * With 20 samples p50 is the 10th smallest and p99 is the largest (ceil(0.99 * 20) = 20).
 */
export function percentile(xs: number[], q: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)];
}

/** The usual median: the middle sample, or the mean of the two middle ones. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** The longest interval between consecutive times (sorted first); 0 with fewer than two. */
export function maxGap(times: number[]): number {
  const t = [...times].sort((a, b) => a - b);
  let gap = 0;
  for (let i = 1; i < t.length; i++) gap = Math.max(gap, t[i] - t[i - 1]);
  return gap;
}

export const ms = (n: number | undefined) => (n === undefined || Number.isNaN(n) ? '-' : String(Math.round(n)));

/** What a benchmark run works in: the platform, its two clusters, and a tag that keeps names unique. */
export interface Env {
  platform: LocalPlatform;
  source: ClusterInfo;
  target: ClusterInfo;
  tag: string;
}

/** Connection parameters for `database` on cluster `c`, as its owner. */
export const params = (c: ClusterInfo, database: string): ConnectionParams => ({
  host: c.host,
  port: c.port,
  user: c.user,
  password: c.password,
  database,
});
