// The README's `temporal` CLI equivalents work as written: an operator without dbmig can start,
// query, list what waits for approval, approve through the Update (refusals included) and
// signal, using only the Temporal CLI.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { planFor, type SourceDb } from './fixtures/fleet';
import { findTemporalCli } from '../worker/temporal-cli';
import { createHarness, eventually, SOURCE_PASSWORD_ENV, type Harness } from './helpers/harness';

const DBS: SourceDb[] = [
  { name: 'docs', rows: 200, priority: 'high', sizeGb: 1 },
  { name: 'blog', rows: 200, priority: 'high', sizeGb: 1 },
];
let h: Harness;
before(async () => {
  h = await createHarness('temporal-cli', { databases: DBS });
});
after(async () => h?.close());

// Asynchronous on purpose: the worker runs in this process and must keep answering queries.
// `line` is the command as the README writes it (split on spaces); `rest` holds arguments with spaces.
const temporal = (line: string, ...rest: string[]) => run([...line.split(' '), ...rest]);
const run = (args: string[]) =>
  new Promise<{ status: number; stdout: string; stderr: string }>((ok) =>
    execFile(findTemporalCli().path, [...args, '--address', h.env.address], (err, stdout, stderr) =>
      ok({ status: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );

test('start, query, list, update and signal with the temporal CLI alone', async () => {
  const input = resolve(h.stateDir, 'input.json');
  mkdirSync(h.stateDir, { recursive: true });
  writeFileSync(input, JSON.stringify({ plan: planFor(h.source, DBS, `env:${SOURCE_PASSWORD_ENV}`) }));
  const started = await temporal(
    'workflow start --type MultiDatabaseMigration --task-queue',
    h.taskQueue,
    '--workflow-id',
    'by-cli',
    '--input-file',
    input,
  );
  assert.equal(started.status, 0, started.stderr);

  await eventually('both awaiting approval', async () => {
    const q = await temporal('workflow query --workflow-id by-cli --name status --output json');
    if (q.status !== 0) return undefined;
    const status = JSON.parse(q.stdout).queryResult[0];
    return status.databases.every((d: { state: string }) => d.state === 'AWAITING_APPROVAL');
  });
  const list = await temporal(
    'workflow list --query',
    'MigrationState="AWAITING_APPROVAL" AND MigrationId="by-cli"',
    '--output',
    'json',
  );
  assert.equal(list.status, 0, list.stderr);
  assert.deepEqual(
    JSON.parse(list.stdout)
      .map((w: { execution: { workflowId: string } }) => w.execution.workflowId)
      .sort(),
    ['by-cli/blog', 'by-cli/docs'],
  );

  const refused = await temporal(
    'workflow update execute --workflow-id by-cli --name approveCutover --input',
    '{"database":"wiki","approver":"alice"}',
  );
  assert.notEqual(refused.status, 0);
  assert.match(refused.stderr + refused.stdout, /unknown database \\?"wiki\\?"; this migration has: docs, blog/);
  const approved = await temporal(
    'workflow update execute --workflow-id by-cli --name approveCutover --input',
    '{"database":"docs","approver":"alice"}',
  );
  assert.equal(approved.status, 0, approved.stderr);
  const signalled = await temporal(
    'workflow signal --workflow-id by-cli/blog --name approveCutoverSignal --input',
    '{"database":"blog","approver":"bob"}',
  );
  assert.equal(signalled.status, 0, signalled.stderr);

  const result = await temporal('workflow result --workflow-id by-cli --output json');
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /"completed": 2/);
});
