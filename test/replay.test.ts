// Every committed history replays against the current workflow code: a change to a
// workflow's command sequence without patched() or a new workflow type fails here.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { HISTORIES_DIR, workflowForFile } from './helpers/histories';
import { sharedBundle } from './helpers/harness';

const files = readdirSync(HISTORIES_DIR).filter((f) => f.endsWith('.json'));

test('there is at least one committed history of a completed run', () => {
  assert.ok(files.length >= 1, `no histories in ${HISTORIES_DIR}`);
});

for (const file of files) {
  test(`history ${file} replays against the current code`, async () => {
    const history = historyFromJSON(JSON.parse(readFileSync(join(HISTORIES_DIR, file), 'utf8')));
    await Worker.runReplayHistory({ workflowBundle: await sharedBundle() }, history, workflowForFile(file));
  });
}
