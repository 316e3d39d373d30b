// Issue 17, point 7: a superseded attempt cannot change anything. A real `dbmig worker` process,
// reaching Temporal through a proxy, freezes itself (SIGSTOP) in the middle of the cutover: it
// holds the fence (the source's tables locked) and is about to write the job record. The test cuts
// it off from Temporal; past the cutover's heartbeat timeout a second worker runs the next attempt,
// which takes over and finishes: the database is COMPLETED with reverse replication. Then the frozen
// process is continued (SIGCONT). Counted from the effects, not from events: its late write is
// refused, the job record stays the newer attempt's (result and reverse replication), no lock, fence
// or session of the old attempt is left on either cluster, nothing on the clusters changed, and the
// finalize that reads the record ends reverse replication.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { finalizeDatabase, getStatus } from '../client/client';
import type { JobRecord } from '../activities/engines/postgres/job-record';
import { withClient } from '../activities/engines/postgres/sessions';
import { type ClusterInfo } from '../activities/platforms/local/clusters';
import {
  FREEZE_BEFORE_RECORD_ENV,
  FREEZE_MARKER_ENV,
  type FreezeMarker,
} from '../activities/platforms/local/record-fault';
import { planFor, replicationLeftovers, type SourceDb } from './fixtures/fleet';
import { killWorkers, spawnWorker, workerAt, type WorkerProcess } from './helpers/worker-process';
import { createHarness, eventually, SOURCE_PASSWORD_ENV, type Harness } from './helpers/harness';
import { describeLocalWorld } from './helpers/local-world';

const DB: SourceDb = { name: 'ledger', rows: 2_000, priority: 'high', sizeGb: 10 };

let h: Harness;
let proxy: Proxy | undefined;
/** The workers log JSON lines: what the test reads of them. */
const JSON_LOG = { DBMIG_LOG_FORMAT: 'json' };
const logged = (w: WorkerProcess): unknown[] =>
  w.lines.map((l) => {
    try {
      return JSON.parse(l) as unknown;
    } catch {
      return l;
    }
  });
before(async () => {
  h = await createHarness('superseded', { databases: [DB], worker: false });
});
after(async () => {
  killWorkers();
  await proxy?.cut();
  await h?.close();
});

interface Proxy {
  address: string;
  /** Drops every connection and refuses new ones: the worker behind it is cut off from Temporal. */
  cut(): Promise<void>;
}

/** A TCP proxy to the Temporal server, so one worker can be cut off from it and nothing else. */
async function temporalProxy(address: string): Promise<Proxy> {
  const [host, port] = [
    address.slice(0, address.lastIndexOf(':')),
    Number(address.slice(address.lastIndexOf(':') + 1)),
  ];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(port, host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    async cut() {
      const closed = new Promise((r) => server.close(r));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}

/** The process is stopped (state T in /proc): the SIGSTOP took, nothing of it runs. */
function stopped(pid: number): boolean {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).startsWith('T');
}

async function jobRecord(): Promise<JobRecord> {
  const dir = join(h.stateDir, 'jobs');
  const files = (await readdir(dir)).filter((f) => f.endsWith('.json'));
  assert.equal(files.length, 1, `one job record: ${files.join(', ')}`);
  return JSON.parse(await readFile(join(dir, files[0]), 'utf8')) as JobRecord;
}

/** Sessions whose application_name says they belong to lease `epoch`, and locks held by `pids`, in `database`. */
async function leftBehind(info: ClusterInfo, database: string, epoch: number, pids: number[]) {
  return withClient({ ...info, database }, async (c) => {
    const sessions = await c.query<{ who: string }>(
      `select format('pid %s %s', pid, application_name) as who from pg_stat_activity
        where datname = $1 and (application_name ~ $2 or pid = any($3::int[]))`,
      [database, `^dbmig lease \\S+ ${epoch}\\.`, pids],
    );
    const locks = await c.query<{ what: string }>(
      `select format('%s %s by pid %s', l.mode, l.relation::regclass, l.pid) as what from pg_locks l
        where l.locktype = 'relation' and l.database = (select oid from pg_database where datname = $1)
          and l.pid <> pg_backend_pid() and (l.pid = any($2::int[]) or l.mode = 'ShareLock')`,
      [database, pids],
    );
    return { sessions: sessions.rows.map((r) => r.who), locks: locks.rows.map((r) => r.what) };
  });
}

test('a worker frozen mid-cutover past its heartbeat timeout, resumed later, changes nothing', async (t) => {
  const plan = planFor(h.source, [DB], `env:${SOURCE_PASSWORD_ENV}`, {
    approval: { policy: 'auto', timeout: '1h' },
    // A deadline far off: what ends the frozen attempt's block must be the next attempt.
    cutover: { timeout: '2m' },
  });
  const marker = join(h.stateDir, 'frozen.json');
  proxy = await temporalProxy(h.env.address);
  const handle = await h.startFleet('superseded', plan);
  // Frozen just before it records the drain: the fence holds the source's tables, the record says 'blocked'.
  const first = spawnWorker(workerAt(h, proxy.address), {
    ...JSON_LOG,
    [FREEZE_BEFORE_RECORD_ENV]: 'drained',
    [FREEZE_MARKER_ENV]: marker,
  });
  const frozenAt = await eventually(
    'the first worker frozen in the cutover',
    async () => {
      if (first.child.exitCode !== null) throw new Error(`the first worker exited (${first.child.exitCode})`);
      if (!existsSync(marker)) return undefined;
      const m = JSON.parse(readFileSync(marker, 'utf8')) as FreezeMarker;
      return m.state === 'frozen' && stopped(m.pid) ? m : undefined;
    },
    300_000,
  );
  assert.equal(frozenAt.pid, first.child.pid);
  const old = await jobRecord();
  assert.equal(old.phase, 'blocked');
  assert.equal(old.lease?.epoch, frozenAt.epoch);
  const oldEpoch = old.lease!.epoch;
  const fencePid = old.block!.pid;
  const held = await leftBehind(h.source, DB.name, oldEpoch, [fencePid]);
  assert.ok(
    held.locks.some((l) => l.startsWith('ShareLock') && l.endsWith(`by pid ${fencePid}`)),
    `the frozen attempt holds the fence: ${held.locks.join('; ')}`,
  );
  assert.ok(held.sessions.length >= 2, `the frozen attempt's sessions: ${held.sessions.join('; ')}`);

  // Cut off from Temporal as well: its polls end with the connection, so the retry goes to the second worker.
  await proxy.cut();
  const second = spawnWorker(workerAt(h), JSON_LOG);
  await eventually(
    'the next attempt finishing the cutover on the second worker',
    async () =>
      (await getStatus(h.env.client, handle.workflowId).catch(() => undefined))?.databases[0].state === 'COMPLETED',
    300_000,
  );
  const newer = await jobRecord();
  assert.ok(newer.result && newer.reverse, 'the newer attempt recorded its result and reverse replication');
  assert.ok(newer.lease!.epoch > oldEpoch, `the newer attempt took the lease (epoch ${newer.lease!.epoch})`);
  assert.equal(newer.blocks, 2, 'the frozen attempt took one block, the newer one another');
  // The newer attempt ended the frozen one's sessions, its fence among them, before its first statement.
  const swept = logged(second)
    .map((l) => (l as { message?: string }).message ?? '')
    .find((m) => m.includes('ended the sessions of an older attempt'));
  assert.ok(swept?.includes(`pid ${fencePid} (dbmig fence)`), `the frozen attempt's fence ended: ${swept}`);
  const target = await h.platform.clusters.ensure('fleet-target');
  const world = await describeLocalWorld(h.platform);

  first.child.kill('SIGCONT');
  const resumed = await eventually(
    "the resumed attempt's record write",
    async () => {
      const m = JSON.parse(readFileSync(marker, 'utf8')) as FreezeMarker;
      return m.state === 'frozen' ? undefined : m;
    },
    120_000,
  );
  // Its attempt ends (failed: the SDK logs it, though it cannot tell the server any more).
  await eventually(
    'the resumed attempt to end',
    async () =>
      first.child.exitCode !== null ||
      logged(first).some((l) => {
        const e = l as { message?: string; activityType?: string };
        return e.message === 'Activity failed' && e.activityType === 'cutover';
      }),
    120_000,
  );
  t.diagnostic(
    `frozen ${((resumed.at - frozenAt.at) / 1000).toFixed(1)} s holding ${held.locks.length} lock(s) and ` +
      `${held.sessions.length} session(s) on the source; the newer attempt (epoch ${newer.lease!.epoch}): ${swept}`,
  );
  t.diagnostic(`resumed attempt (epoch ${oldEpoch}): ${resumed.state}${resumed.error ? `: ${resumed.error}` : ''}`);
  assert.deepEqual(await jobRecord(), newer, 'the job record is the newer attempt’s, unchanged');
  assert.equal(resumed.state, 'refused', 'the superseded attempt could not write the job record');
  assert.match(resumed.error ?? '', /newer attempt \(epoch \d+/);
  for (const [info, where] of [
    [h.source, 'source'],
    [target, 'target'],
  ] as const) {
    const left = await leftBehind(info, DB.name, oldEpoch, [fencePid]);
    assert.deepEqual(left.sessions, [], `no session of the superseded attempt on the ${where}`);
    assert.deepEqual(left.locks, [], `no lock left on the ${where}`);
  }
  assert.deepEqual(await describeLocalWorld(h.platform), world, 'nothing on the clusters changed');

  // The record is intact, so the finalize finds reverse replication and ends it.
  assert.equal((await finalizeDatabase(h.env.client, 'superseded', DB.name, 'test')).state, 'FINALIZED');
  assert.deepEqual(await replicationLeftovers(h.source, [DB.name], target), {
    slots: [],
    publications: [],
    subscriptions: [],
  });
});
