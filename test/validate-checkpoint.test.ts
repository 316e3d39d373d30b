// Issue 19, point 2: the live validation's checkpoint travels in the activity's heartbeat details,
// never in the history. The validateData activity hands the platform the details of the previous
// attempt (what a retry after a killed worker gets from Temporal) and heartbeats every checkpoint
// the platform saves; the chunked comparison's use of them is test/validate-live.test.ts's.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../activities';
import type { MigrationPlatform, ValidationCheckpointing } from '../activities/platforms/platform';
import type { DatabaseTask, ValidationResult } from '../activities/steps';

const RESULT: ValidationResult = { mode: 'live', ok: true, tables: [], summary: '0/0 tables identical' };

test('validateData resumes from the last attempt’s heartbeat details and heartbeats new checkpoints', async () => {
  const given: (ValidationCheckpointing | undefined)[] = [];
  const platform = {
    async validateData(_task: DatabaseTask, _mode: 'live' | 'final', c?: ValidationCheckpointing) {
      given.push(c);
      c?.save({ kind: 'live-validation', after: 2 });
      c?.save({ kind: 'live-validation', after: 3 });
      return RESULT;
    },
  } as unknown as MigrationPlatform;
  const activities = createActivities({ local: platform });
  const task = { platform: 'local', database: 'd', migrationId: 'm' } as unknown as DatabaseTask;
  const previous = { kind: 'live-validation', after: 1 };
  const env = new MockActivityEnvironment({ heartbeatDetails: previous });
  const beats: unknown[] = [];
  env.on('heartbeat', (d: unknown) => beats.push(d));
  assert.deepEqual(await env.run(() => activities.validateData(task, 'live')), RESULT);
  assert.deepEqual(given[0]?.from, previous, 'the platform resumes from the previous attempt');
  // The first beat keeps the previous checkpoint (a kill before the first save loses nothing).
  assert.deepEqual(beats[0], previous);
  assert.deepEqual(beats.at(-1), { kind: 'live-validation', after: 3 });
});
