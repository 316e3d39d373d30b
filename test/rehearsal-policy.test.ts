// policy.requireRehearsal: `dbmig start` (a subprocess, against a dev server with a sim worker)
// refuses a plan with no passed rehearsal of the same plan hash within the policy's time, before
// it starts anything, naming the hash and the newest rehearsal found; a recent pass starts it and
// the fleet runs. The records are the ones `dbmig rehearse` writes (recordRehearsal; rehearse.test.ts
// shows a real rehearsal writing one). The hash ignores formatting, written-out defaults and the policy.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { stringify } from 'yaml';
import { SimPlatform } from '../activities/platforms/sim';
import { getStatus } from '../client/client';
import { loadPlan } from '../client/plan-file';
import { planHash, recordRehearsal, rehearsalResultsDir } from '../cli/rehearsal-record';
import type { PlanInput } from '../common/plan';
import { eventually } from './helpers/harness';
import { startSimWorker, type SimWorker } from './helpers/sim-worker';
import { fakePlan } from './helpers/workflow-env';
import { runDbmig } from './helpers/run-dbmig';

const taskQueue = 'test-rehearsal-policy';
const stateDir = mkdtempSync(join(tmpdir(), 'rehearsal-policy-'));
const results = join(stateDir, 'rehearsal-results');
let sim: SimWorker;

before(async () => {
  sim = await startSimWorker(taskQueue, new SimPlatform());
});
after(async () => {
  await sim?.stop();
  rmSync(stateDir, { recursive: true, force: true });
});

const dbmig = (...args: string[]) =>
  runDbmig(sim.env.address, args, { TEMPORAL_TASK_QUEUE: taskQueue, DBMIG_STATE_DIR: stateDir });

function planFile(name: string, plan: PlanInput): string {
  const file = join(stateDir, name);
  writeFileSync(file, stringify(plan));
  return file;
}

const policyPlan = (id: string): PlanInput =>
  fakePlan(['alpha', 'beta'], {
    migrationId: id,
    platform: 'sim',
    sim: { pollInterval: '5ms', fullDump: '20ms' },
    policy: { requireRehearsal: { within: '7d' } },
  });

const DAY = 86_400_000;
const record = (hash: string, passed: boolean, agoMs: number) =>
  recordRehearsal(
    {
      planHash: hash,
      migrationId: 'rehearsed',
      passed,
      finishedAt: new Date(Date.now() - agoMs).toISOString(),
      databases: [
        { name: 'alpha', state: 'COMPLETED' },
        { name: 'beta', state: passed ? 'COMPLETED' : 'FAILED' },
      ],
    },
    results,
  );

async function notStarted(id: string): Promise<void> {
  await assert.rejects(sim.env.client.workflow.getHandle(id).describe(), /not found/i, `${id} was not started`);
}

test('the plan hash ignores formatting, written-out defaults and the policy, not a change', () => {
  const base = policyPlan('hashing');
  const hash = planHash(loadPlan(planFile('h1.yaml', base)).plan);
  assert.match(hash, /^sha256:[0-9a-f]{64}$/);
  const same = { ...base, concurrency: 2, policy: { requireRehearsal: { within: '1d' } } };
  writeFileSync(join(stateDir, 'h2.json'), JSON.stringify(same, null, 1));
  assert.equal(planHash(loadPlan(join(stateDir, 'h2.json')).plan), hash);
  assert.notEqual(planHash(loadPlan(planFile('h3.yaml', { ...base, concurrency: 1 })).plan), hash);
  process.env.DBMIG_STATE_DIR = stateDir;
  assert.equal(rehearsalResultsDir(), results);
  delete process.env.DBMIG_STATE_DIR;
});

test('dbmig start refuses without a recent passed rehearsal of this plan, before starting anything', async () => {
  const id = 'policy-refused';
  const file = planFile('refused.yaml', policyPlan(id));
  const hash = planHash(loadPlan(file).plan);

  const none = await dbmig('start', '--plan', file);
  assert.equal(none.code, 1, none.stdout + none.stderr);
  assert.match(none.stderr, new RegExp(`policy: requireRehearsal within 7d, and plan ${hash} has no rehearsal`));
  assert.match(none.stderr, /no rehearsal found in .*rehearsal-results/);

  // Another plan's rehearsal is named, as not this plan's.
  const other = planHash(loadPlan(planFile('other.yaml', { ...policyPlan(id), concurrency: 1 })).plan);
  record(other, true, DAY);
  const changed = await dbmig('start', '--plan', file);
  assert.equal(changed.code, 1);
  assert.match(changed.stderr, /no rehearsal of this plan found; the newest found \(rehearsed\) is of plan sha256:/);
  assert.match(changed.stderr, /passed at .* \(1d ago\): the plan changed since/);

  // This plan's: failed, and a pass older than 7 days.
  record(hash, true, 8 * DAY);
  record(hash, false, 2 * DAY);
  const stale = await dbmig('start', '--plan', file);
  assert.equal(stale.code, 1);
  assert.match(stale.stderr, /the newest rehearsal of this plan failed \(beta FAILED\) at .* \(2d ago\)/);
  assert.match(stale.stderr, /the last that passed was at .* \(8d ago\)/);
  await notStarted(id);
});

test('a passed rehearsal of the same plan within the policy lets dbmig start run it', async () => {
  const id = 'policy-passed';
  const file = planFile('passed.yaml', policyPlan(id));
  record(planHash(loadPlan(file).plan), true, DAY - 60_000);
  const started = await dbmig('start', '--plan', file);
  assert.equal(started.code, 0, started.stderr);
  assert.match(started.stdout, /started migration policy-passed/);
  const status = await eventually('the fleet completed', async () => {
    const s = await getStatus(sim.env.client, id);
    return s.databases.every((d) => d.state === 'COMPLETED') ? s : undefined;
  });
  assert.equal(status.databases.length, 2);
});
