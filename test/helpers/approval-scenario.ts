// The second half of the approval scenario both approval suites play (on real clusters and on
// mocks): alpha was rejected; beta is approved by the child's signal, as a fire-and-forget
// caller would; the fleet then ends with alpha CANCELLED for its rejection and beta COMPLETED.
import assert from 'node:assert/strict';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { approveCutoverSignal, statusQuery } from '../../common/messages';
import type { DatabaseSummary, MigrationReport } from '../../common/status';
import { eventually } from './harness';

export async function approveBetaBySignal(
  client: Client,
  handle: WorkflowHandle,
  beforeSignal: () => Promise<void> = async () => undefined,
): Promise<[DatabaseSummary, DatabaseSummary]> {
  await eventually('beta awaiting approval', async () =>
    (await handle.query(statusQuery)).databases.find((d) => d.database === 'beta' && d.state === 'AWAITING_APPROVAL'),
  );
  await beforeSignal();
  await client.workflow
    .getHandle(`${handle.workflowId}/beta`)
    .signal(approveCutoverSignal, { database: 'beta', approver: 'release-bot' });

  const report = (await handle.result()) as MigrationReport;
  const [alpha, beta] = report.databases;
  assert.equal(alpha.state, 'CANCELLED');
  assert.match(alpha.lastError ?? '', /cutover rejected by dba-on-call: freeze week/);
  assert.equal(beta.state, 'COMPLETED');
  assert.equal(beta.approvedBy, 'release-bot');
  return [alpha, beta];
}
