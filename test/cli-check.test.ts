// `dbmig check`, the CI gate, as a subprocess against a real Temporal dev server and sim fleets:
// exit 0 when every bound holds, 1 with one reason per database and bound when one does not (a lag
// of 412 s over a bound of 300 s, a FAILED database, a state not reached), 2 on bad usage and on an
// id that names no migration, and the JSON a pipeline parses. The rules themselves are also judged
// on hand-made statuses, where a replicating database without a lag reading can be built.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { SimPlatform } from '../activities/platforms/sim';
import { getStatus } from '../client/client';
import { judgeFleet, type GateResult } from '../cli/check-gate';
import type { PlanInput } from '../common/plan';
import { newDatabaseSummary, type FleetStatus } from '../common/status';
import { MultiDatabaseMigration } from '../workflows';
import { eventually } from './helpers/harness';
import { startSimWorker, type SimWorker } from './helpers/sim-worker';
import { fakePlan } from './helpers/workflow-env';
import { runDbmig, type DbmigRun } from './helpers/run-dbmig';

const taskQueue = 'test-cli-check';
let sim: SimWorker;
let env: TestWorkflowEnvironment;

/** A sim fleet whose lag holds at `lag` seconds from the start of CDC. */
const simPlan = (names: string[], lag: number, extra: Partial<PlanInput> = {}): PlanInput =>
  fakePlan(names, {
    platform: 'sim',
    sim: { pollInterval: '5ms', fullDump: '20ms', lag: [{ after: '0s', seconds: lag }] },
    defaults: { stableWindow: '0s', lagThresholdSeconds: 5, noPrimaryKey: 'fail' },
    ...extra,
  });

type Run = DbmigRun;

const dbmig = (...args: string[]): Promise<Run> => runDbmig(env.address, args);

/** Waits until the status `dbmig status` reads shows each database in its state, with a lag reading where asked. */
async function settled(id: string, want: Record<string, string>, withLag: boolean): Promise<void> {
  let last = '';
  await eventually(
    `${id} to reach ${JSON.stringify(want)}`,
    async () => {
      const s = await getStatus(env.client, id).catch(() => undefined);
      if (!s) return undefined;
      last = JSON.stringify(s.databases.map((d) => [d.database, d.state, d.lagSeconds]));
      const done = s.databases.every((d) => want[d.database] === d.state && (!withLag || d.lagSeconds !== null));
      return done && s.databases.length === Object.keys(want).length ? true : undefined;
    },
    120_000,
  ).catch((err: Error) => assert.fail(`${err.message}; last seen ${last}`));
}

before(async () => {
  sim = await startSimWorker(taskQueue, new SimPlatform());
  env = sim.env;
  const start = (workflowId: string, plan: PlanInput) =>
    env.client.workflow.start(MultiDatabaseMigration, { taskQueue, workflowId, args: [{ plan }] });
  // Caught up (2 s of lag, under the 5 s readiness threshold) and waiting for a human.
  await start('chk-ready', simPlan(['alpha', 'beta'], 2, { approval: { policy: 'manual', timeout: '24h' } }));
  // 412 s behind for good: it never becomes ready, and stays in CDC.
  await start('chk-lagging', simPlan(['orders'], 412));
  // One database fails its assessment; the other completes.
  await start(
    'chk-failed',
    simPlan(['gamma', 'delta'], 0, {
      sim: {
        pollInterval: '5ms',
        fullDump: '20ms',
        failures: [{ step: 'assessSource', database: 'delta', type: 'AssessmentFailed', message: 'no keys' }],
      },
    }),
  );
  await settled('chk-ready', { alpha: 'AWAITING_APPROVAL', beta: 'AWAITING_APPROVAL' }, true);
  await settled('chk-lagging', { orders: 'CDC' }, true);
  await settled('chk-failed', { gamma: 'COMPLETED', delta: 'FAILED' }, false);
});
after(async () => {
  await sim?.stop();
});

test('exit 0 when the fleet meets every bound; 1 with a reason per database when a bound is tighter', async () => {
  const ok = await dbmig(
    'check',
    'chk-ready',
    '--max-lag',
    '300',
    '--require',
    'awaiting-approval',
    '--max-failed',
    '0',
  );
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  assert.match(
    ok.stdout,
    /^migration chk-ready meets the gate \(max-lag 300 s, max-failed 0, require AWAITING_APPROVAL\)/,
  );

  // The same fleet against a bound its 2 s of lag exceeds: the gate can fail.
  const tight = await dbmig('check', 'chk-ready', '--max-lag', '1.5');
  assert.equal(tight.code, 1, tight.stdout + tight.stderr);
  assert.match(tight.stdout, /^ {2}alpha: lag 2 s > 1\.5 s$/m);
  assert.match(tight.stdout, /^ {2}beta: lag 2 s > 1\.5 s$/m);

  const notYet = await dbmig('check', 'chk-ready', '--require', 'COMPLETED', '--require', 'finalized');
  assert.equal(notYet.code, 1, notYet.stdout + notYet.stderr);
  assert.match(notYet.stdout, /^ {2}alpha: AWAITING_APPROVAL, not COMPLETED or FINALIZED$/m);
});

test('a lag over the bound fails the gate: orders: lag 412 s > 300 s', async () => {
  const r = await dbmig('check', 'chk-lagging', '--max-lag', '300');
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.equal(
    r.stdout,
    'migration chk-lagging does not meet the gate (max-lag 300 s):\n  orders: lag 412 s > 300 s\n',
  );
  const loose = await dbmig('check', 'chk-lagging', '--max-lag', '412');
  assert.equal(loose.code, 0, loose.stdout + loose.stderr);
});

test('--max-failed counts FAILED databases; --require takes a comma list', async () => {
  const none = await dbmig('check', 'chk-failed', '--max-failed', '0');
  assert.equal(none.code, 1, none.stdout + none.stderr);
  assert.match(none.stdout, /^ {2}1 database failed, more than 0: delta FAILED \(.*no keys.*\)$/m);
  const one = await dbmig('check', 'chk-failed', '--max-failed', '1');
  assert.equal(one.code, 0, one.stdout + one.stderr);
  const ended = await dbmig('check', 'chk-failed', '--require', 'completed,failed');
  assert.equal(ended.code, 0, ended.stdout + ended.stderr);
  const completed = await dbmig('check', 'chk-failed', '--require', 'completed');
  assert.equal(completed.code, 1, completed.stdout + completed.stderr);
  assert.match(completed.stdout, /^ {2}delta: FAILED, not COMPLETED: .*no keys/m);
  assert.doesNotMatch(completed.stdout, /gamma/);
});

test('-o json: { ok, reasons, databases } with every field present', async () => {
  const r = await dbmig('check', 'chk-lagging', '--max-lag', '300', '--max-failed', '0', '-o', 'json');
  assert.equal(r.code, 1, r.stderr);
  const g = JSON.parse(r.stdout) as GateResult;
  assert.deepEqual(Object.keys(g), ['migrationId', 'ok', 'bounds', 'reasons', 'databases']);
  assert.equal(g.ok, false);
  assert.deepEqual(g.bounds, { maxLagSeconds: 300, maxFailed: 0, require: null });
  assert.deepEqual(g.reasons, [{ bound: 'max-lag', database: 'orders', message: 'orders: lag 412 s > 300 s' }]);
  assert.equal(g.databases.length, 1);
  const [d] = g.databases;
  assert.deepEqual(Object.keys(d).sort(), [
    'database',
    'failed',
    'lagMeasuredAt',
    'lagSeconds',
    'lastError',
    'ok',
    'replicating',
    'state',
  ]);
  assert.deepEqual(
    [d.database, d.state, d.replicating, d.lagSeconds, d.failed, d.ok],
    ['orders', 'CDC', true, 412, false, false],
  );
  assert.ok(!Number.isNaN(Date.parse(String(d.lagMeasuredAt))), `a live reading's time: ${d.lagMeasuredAt}`);
  assert.equal(d.lastError, null);
  const pass = await dbmig('check', 'chk-ready', '--max-lag', '300', '--json');
  assert.equal(pass.code, 0, pass.stderr);
  const p = JSON.parse(pass.stdout) as GateResult;
  assert.equal(p.ok, true);
  assert.deepEqual(p.reasons, []);
  assert.deepEqual(p.databases.map((x) => [x.database, x.state, x.lagSeconds, x.ok]).sort(), [
    ['alpha', 'AWAITING_APPROVAL', 2, true],
    ['beta', 'AWAITING_APPROVAL', 2, true],
  ]);
});

test('exit 2 on bad usage and on an id that names no migration, as text and as JSON', async () => {
  for (const args of [
    ['chk-ready', '--max-lag', 'soon'],
    ['chk-ready', '--max-lag', '-3'],
    ['chk-ready', '--max-failed', '1.5'],
    ['chk-ready', '--require', 'replicationg'],
    ['chk-ready', '--max-lag', '300', '--strict'],
    ['chk-ready'],
    ['no-such-fleet', '--max-lag', '300'],
  ]) {
    const r = await dbmig('check', ...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.equal(r.stdout, '', 'no verdict on bad usage');
  }
  const unknown = await dbmig('check', 'no-such-fleet', '--max-lag', '300', '-o', 'json');
  assert.equal(unknown.code, 2, unknown.stderr);
  const { error } = JSON.parse(unknown.stdout) as { error: { type: string; message: string; exitCode: number } };
  assert.deepEqual([error.type, error.exitCode], ['UsageError', 2]);
  assert.match(error.message, /no migration "no-such-fleet" in namespace default/);
});

test('the rules on hand-made statuses: no lag reading fails, databases not replicating are not judged', () => {
  const status = (rows: [string, FleetStatus['databases'][number]['state'], number | null][]): FleetStatus => ({
    migrationId: 'm',
    platform: 'sim',
    paused: false,
    concurrency: 2,
    databases: rows.map(([name, state, lag]) => ({
      ...newDatabaseSummary('m', { name, priority: 'medium' }),
      state,
      lagSeconds: lag,
    })),
  });
  const r = judgeFleet(
    status([
      ['a', 'CDC', null],
      ['b', 'APPROVED_WAITING_WINDOW', 300],
      ['c', 'FULL_DUMP', null],
      ['d', 'CUTTING_OVER', 900],
      ['e', 'NEEDS_ATTENTION', null],
    ]),
    { maxLagSeconds: 300, maxFailed: 0 },
  );
  assert.deepEqual(
    r.reasons.map((x) => x.message),
    ['a: no lag reading (CDC)', '1 database failed, more than 0: e NEEDS_ATTENTION'],
  );
  assert.deepEqual(
    r.databases.map((d) => [d.database, d.replicating, d.ok]),
    [
      ['a', true, false],
      ['b', true, true],
      ['c', false, true],
      ['d', false, true],
      ['e', false, true],
    ],
  );
  assert.equal(judgeFleet(status([['a', 'PENDING', null]]), { maxLagSeconds: 0 }).ok, true);
});
