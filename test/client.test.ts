// The client library: it refuses a bad plan before anything starts, carries the validators'
// messages, waits for states, and an example application approves a cutover through it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  approveCutover,
  getStatus,
  InvalidPlanError,
  RefusedError,
  startMigration,
  waitForReport,
  waitForState,
} from '../client';
import { planFor, type SourceDb } from './fixtures/fleet';
import { createHarness, SOURCE_PASSWORD_ENV, type Harness } from './helpers/harness';

const DBS: SourceDb[] = [{ name: 'crm', rows: 400, priority: 'high', sizeGb: 3 }];
let h: Harness;
before(async () => {
  h = await createHarness('client', { databases: DBS });
});
after(async () => h?.close());

test('a bad plan is refused before anything starts, naming the field', async () => {
  const plan = planFor(h.source, DBS, 'hunter2');
  await assert.rejects(
    startMigration(h.env.client, plan, { id: 'client-bad', taskQueue: h.taskQueue }),
    (err: unknown) => err instanceof InvalidPlanError && /databases\[0\]\.source\.passwordRef/.test(err.message),
  );
  await assert.rejects(h.env.client.workflow.getHandle('client-bad').describe(), /not found/i);
});

test('an application approves through the library; refusals carry the validator message', async () => {
  const id = await startMigration(h.env.client, planFor(h.source, DBS, `env:${SOURCE_PASSWORD_ENV}`), {
    id: 'client-1',
    taskQueue: h.taskQueue,
  });
  assert.equal(id, 'client-1');
  await assert.rejects(
    approveCutover(h.env.client, id, 'crm', 'too-early'),
    (err: unknown) => err instanceof RefusedError && /"crm" is \w+, not AWAITING_APPROVAL/.test(err.message),
  );
  await assert.rejects(
    approveCutover(h.env.client, id, 'erp', 'someone'),
    (err: unknown) =>
      err instanceof RefusedError && /unknown database "erp"; this migration has: crm/.test(err.message),
  );
  await assert.rejects(waitForState(h.env.client, id, 'erp', 'COMPLETED'), RefusedError);

  const app = spawn(
    process.execPath,
    ['--import', 'tsx', join(__dirname, '..', 'examples', 'approver-app.ts'), id, 'crm'],
    { env: { ...process.env, TEMPORAL_ADDRESS: h.env.address }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  app.stdout!.on('data', (d) => (out += d));
  app.stderr!.on('data', (d) => (out += d));
  const code = await new Promise((r) => app.once('exit', r));
  assert.equal(code, 0, out);
  assert.match(out, /approved crm/);

  const done = await waitForState(h.env.client, id, 'crm', 'COMPLETED', { pollMs: 200, timeoutMs: 120_000 });
  assert.equal(done.approvedBy, 'approver-app');
  assert.equal((await waitForReport(h.env.client, id)).completed, 1);
  assert.equal((await getStatus(h.env.client, id)).databases[0].state, 'COMPLETED');
  await assert.rejects(waitForState(h.env.client, id, 'crm', 'CDC'), /ended COMPLETED before reaching CDC/);

  // A finished migration id is never run again: its targets have taken over.
  await assert.rejects(
    startMigration(h.env.client, planFor(h.source, DBS, `env:${SOURCE_PASSWORD_ENV}`), { id, taskQueue: h.taskQueue }),
    (err: unknown) => err instanceof RefusedError && /"client-1" has already run \(COMPLETED\)/.test(err.message),
  );
});
