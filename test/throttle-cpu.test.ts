// Issue 19, points 5 and 8: the throttle's CPU limit (maxCpuPercent, activities/engines/postgres/throttle.ts).
//   - On this machine's real /proc/stat, the limit trips while busy loops keep every core busy.
//     That it clears once they stop is shown on CPU times the test feeds it, not on the real
//     machine: the machine the tests run on is shared (other test runs, benchmarks) and was
//     measured 98-100% busy for minutes with no burner of ours, so no limit both trips under our
//     burners and reliably clears without them there.
//   - With fed CPU times, the gate holds reading after reading while the host is busier than the
//     limit, and goes on by itself once it is not.
//   - A source on another host: the limit cannot be seen, the worker says so, and the gate
//     neither reads CPU times nor opens a session to the source for it.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { test } from 'node:test';
import { Throttle, type CpuTimes } from '../activities/engines/postgres/throttle';
import type { ConnectionParams } from '../activities/engines/postgres/sessions';
import { eventually } from './helpers/harness';

/** Connection facts of a source that is never connected to: nothing listens on port 1. */
const source = (host: string): ConnectionParams => ({
  host,
  port: 1,
  user: 'nobody',
  password: 'unused',
  database: 'postgres',
});

/** CPU times that advance by `busy` of every 100 ticks at each reading; `reads` counts the readings. */
function fedTimes(busy: number) {
  const fed = { busy, reads: 0, now: { busy: 0, total: 0 } as CpuTimes };
  const read = async (): Promise<CpuTimes> => {
    fed.reads++;
    fed.now = { busy: fed.now.busy + fed.busy, total: fed.now.total + 100 };
    return fed.now;
  };
  return { fed, read };
}

test('the CPU limit trips on the real /proc/stat while every core runs a busy loop', async (t) => {
  const burners: ChildProcess[] = Array.from({ length: availableParallelism() }, () =>
    spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }),
  );
  t.after(() => burners.forEach((b) => b.kill('SIGKILL')));
  const gate = Throttle.for(source('127.0.0.1'), { maxCpuPercent: 50, pollIntervalMs: 200 })!;
  t.after(() => gate.close());
  const waiting = gate.wait();
  const held = await eventually('the gate held by the CPU', async () => gate.state, 60_000, 100);
  assert.equal(held.reason, 'cpu');
  const busy = Number(/^the source's host is (\d+)% busy \(limit 50%\)$/.exec(held.why)?.[1]);
  assert.ok(busy > 50, held.why);
  t.diagnostic(`${burners.length} burners: ${held.why}`);
  await gate.close();
  await waiting; // a closed gate lets its waiter go
});

test('the CPU limit holds reading after reading while the host is busier, and clears by itself', async (t) => {
  const { fed, read } = fedTimes(90);
  const gate = Throttle.for(source('localhost'), { maxCpuPercent: 50, pollIntervalMs: 100 }, { cpuTimes: read })!;
  t.after(() => gate.close());
  const changes: (string | undefined)[] = [];
  gate.onChange((s) => changes.push(s?.why));
  let went = false;
  const waiting = gate.wait().then(() => (went = true));
  const held = await eventually('the gate held by the CPU', async () => gate.state, 30_000, 50);
  assert.deepEqual([held.reason, held.why], ['cpu', "the source's host is 90% busy (limit 50%)"]);
  const from = fed.reads;
  await eventually('five more readings', async () => fed.reads >= from + 5, 30_000, 50);
  assert.equal(went, false, 'still held after five more readings at 90%');
  assert.equal(gate.state?.since, held.since, 'one pause, not one per reading');
  fed.busy = 10;
  await waiting;
  assert.equal(gate.state, undefined);
  assert.deepEqual(changes, ["the source's host is 90% busy (limit 50%)", undefined]);
});

test(
  'a source on another host: the CPU limit is not applied, and nothing is read for it',
  { timeout: 60_000 },
  async (t) => {
    const warned: string[] = [];
    t.mock.method(console, 'warn', (m: string) => warned.push(m));
    const { fed, read } = fedTimes(100);
    const gate = Throttle.for(source('db.example.com'), { maxCpuPercent: 1, pollIntervalMs: 100 }, { cpuTimes: read })!;
    // Port 1 of a host that may not even resolve: a session opened for the CPU would make it "unreadable".
    await gate.wait();
    assert.equal(gate.state, undefined);
    assert.equal(fed.reads, 0, 'no CPU times read for a source elsewhere');
    assert.equal(warned.length, 1);
    assert.match(warned[0], /maxCpuPercent is not applied to the source at db\.example\.com: .*\/proc\/stat/);
    await gate.close();

    // The hosts that are this machine read it: a 100% busy host trips a 1% limit.
    for (const host of ['localhost', '127.0.0.1', '::1', '/var/run/postgresql']) {
      const here = fedTimes(100);
      const g = Throttle.for(source(host), { maxCpuPercent: 1, pollIntervalMs: 100 }, { cpuTimes: here.read })!;
      void g.wait();
      const s = await eventually(`${host}'s CPU read`, async () => g.state, 30_000, 50);
      assert.equal(s.reason, 'cpu', host);
      await g.close();
    }
    assert.equal(warned.length, 1, 'no warning for a source on this machine');
  },
);

test('CPU times that cannot be read: the limit is dropped with a warning, not a hold', async (t) => {
  const warned: string[] = [];
  t.mock.method(console, 'warn', (m: string) => warned.push(m));
  const gate = Throttle.for(
    source('localhost'),
    { maxCpuPercent: 50, pollIntervalMs: 100 },
    { cpuTimes: () => Promise.reject(new Error('ENOENT: /proc/stat')) },
  )!;
  await gate.wait();
  assert.equal(gate.state, undefined);
  assert.match(warned.join('\n'), /maxCpuPercent is not applied: this machine's \/proc\/stat cannot be read \(ENOENT/);
  await gate.close();
});
