// The job record's lease (job-record.ts, lease.ts) on both stores, against a real cluster: taking
// the lease moves the epoch on; a write, a clear or a session of the attempt that lost it is refused
// and changes nothing; the new holder ends the old attempt's sessions and a stray fence session.
// test/superseded-attempt.test.ts shows the same with a frozen worker process, end to end.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { MockActivityEnvironment } from '@temporalio/testing';
import { runToCompletion } from '../activities/cancellation';
import { LocalPlatform } from '../activities/platforms/local';
import { connect, withClient } from '../activities/engines/postgres/sessions';
import { type ClusterInfo } from '../activities/platforms/local/clusters';
import { DatabaseJobRecords, type JobRecordStore } from '../activities/engines/postgres/job-record';
import { JobRecords } from '../activities/platforms/local/job-record-file';
import { Lease } from '../activities/engines/postgres/lease';
import { MigrationError } from '../common/failures';

const stateDir = resolve('.local-platform', 'test-job-record-lease');
const platform = new LocalPlatform(stateDir);
let cluster: ClusterInfo;
let dir: string;
const DB = 'leased';

before(async () => {
  await rm(stateDir, { recursive: true, force: true });
  cluster = await platform.clusters.ensure('source');
  await withClient({ ...cluster, database: 'postgres' }, (c) => c.query(`create database ${DB}`));
  dir = await mkdtemp(join(tmpdir(), 'dbmig-lease-'));
});
after(async () => {
  await platform.clusters.destroy('source').catch(() => undefined);
  await rm(stateDir, { recursive: true, force: true });
  await rm(dir, { recursive: true, force: true });
});

const lost = (err: unknown) => err instanceof MigrationError && err.type === 'LeaseLost';

for (const [name, store] of [
  ['a file', () => new JobRecords(join(dir, 'jobs', 'j.json'))],
  ['the target database', () => new DatabaseJobRecords({ ...cluster, database: DB }, 'j')],
] as [string, () => JobRecordStore][]) {
  test(`job records in ${name}: a write of a superseded lease is refused and changes nothing`, async () => {
    const records = store();
    const a = await records.take();
    assert.equal(a.lease?.epoch, 1);
    await records.write({ ...a, phase: 'blocked', blocks: 1 });
    const b = await records.take();
    assert.equal(b.lease?.epoch, 2);
    assert.equal(b.phase, 'blocked', 'the lease is taken with the record as it stands');
    await records.write({
      ...b,
      phase: 'switched',
      result: { endpoint: 'e', finalLsn: '0/1', sequencesCopied: 0, writeBlockMs: 0 },
    });
    const newer = await records.read();
    await assert.rejects(records.write({ ...a, phase: 'drained' }), lost);
    await assert.rejects(records.clear(a.lease), lost);
    await assert.rejects(records.write({ phase: 'drained' }), lost, 'a write without a lease is refused too');
    assert.deepEqual(await records.read(), newer);
    await records.clear(b.lease);
    assert.deepEqual(await records.read(), {});
    // After a clear the old token never matches again, whatever the epoch.
    const c = await records.take();
    assert.equal(c.lease?.epoch, 1);
    await assert.rejects(records.write({ ...a, phase: 'drained' }), lost);
    await records.clear(c.lease);
  });
}

async function sessions(pattern: string): Promise<string[]> {
  return withClient({ ...cluster, database: DB }, async (c) => {
    const { rows } = await c.query<{ name: string }>(
      `select application_name as name from pg_stat_activity where datname = $1 and application_name ~ $2`,
      [DB, pattern],
    );
    return rows.map((r) => r.name);
  });
}

test('the new holder ends the old attempt’s sessions and a stray fence; the old one can open none', async () => {
  const records = new JobRecords(join(dir, 'jobs', 'sessions.json'));
  const params = { ...cluster, database: DB };
  const first = await Lease.take(records, 'sessions');
  const old = await connect(first.lease.params(params));
  // A fence the record does not know of (its attempt froze before recording it).
  const fence = new pg.Client({ ...params, application_name: 'dbmig fence' });
  fence.on('error', () => undefined);
  await fence.connect();
  await fence.query('begin; create table locked (x int); lock table locked in share mode');
  assert.equal((await sessions('^dbmig lease sessions 1\\.')).length, 1);

  const second = await Lease.take(records, 'sessions');
  const mine = await connect(second.lease.params(params));
  const ended = await second.lease.sweep(mine);
  assert.equal(ended.length, 2, `ended: ${ended.join(', ')}`);
  assert.deepEqual(await sessions('^dbmig (lease sessions 1\\.|fence)'), [], 'no session of the old attempt left');
  assert.equal((await sessions('^dbmig lease sessions 2\\.')).length, 1, 'the new holder’s own session stays');
  await assert.rejects(old.query('select 1'), 'the old session is gone');

  // The old attempt opens a session after the lease moved on: refused before its first statement.
  await assert.rejects(connect(first.lease.params(params)), lost);
  assert.deepEqual(await sessions('^dbmig lease sessions 1\\.'), []);
  await assert.rejects(first.lease.write({ phase: 'blocked' }), lost);
  await mine.end();
  first.lease.release();
  second.lease.release();
});

// Temporal gave the attempt up (a heartbeat reply of TIMED_OUT or NOT_FOUND: its timeout passed, or
// its run closed), and no newer attempt has taken the lease yet: the attempt ends its sessions and
// writes nothing more all the same, even inside a step that finishes what it began (runToCompletion,
// as the cutover runs). An operator's cancel is not that: such a step goes on.
for (const reason of ['TIMED_OUT', 'NOT_FOUND', 'CANCELLED'] as const) {
  const givenUp = reason !== 'CANCELLED';
  const outcome = givenUp ? 'sessions ended, writes refused' : 'the step goes on';
  test(`a heartbeat reply of ${reason}: ${outcome}`, async () => {
    const job = `reply-${reason.toLowerCase().replace('_', '-')}`;
    const records = new JobRecords(join(dir, 'jobs', `${job}.json`));
    const env = new MockActivityEnvironment();
    const taken = (await env.run(() =>
      runToCompletion(async () => {
        const { lease } = await Lease.take(records, job);
        const session = await connect(lease.params({ ...cluster, database: DB }));
        await lease.write({ ...(await records.read()), phase: 'blocked', blocks: 1 });
        return { lease, session };
      }),
    )) as { lease: Lease; session: pg.Client };
    const before = await records.read();
    env.cancel(reason);
    const mine = `^dbmig lease ${job} 1\\.`;
    if (givenUp) {
      for (let i = 0; (await sessions(mine)).length; i++) {
        assert.ok(i < 200, 'the attempt’s session is still there');
        await new Promise((r) => setTimeout(r, 50));
      }
      await assert.rejects(taken.session.query('select 1'), 'its session is gone');
      await assert.rejects(taken.lease.write({ ...before, phase: 'drained' }), lost);
      await assert.rejects(connect(taken.lease.params({ ...cluster, database: DB })), lost);
      assert.deepEqual(await records.read(), before, 'the record is as the attempt last wrote it');
    } else {
      assert.equal((await taken.session.query<{ x: number }>('select 1 as x')).rows[0].x, 1);
      await taken.lease.write({ ...before, phase: 'drained' });
      assert.equal((await records.read()).phase, 'drained');
      await taken.session.end();
    }
    taken.lease.release();
  });
}
