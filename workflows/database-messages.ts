// Which messages one database's workflow answers, and who answers each (DatabaseHandlers).
// Registered before the runbook's first step, so none sent early is missed. The signals for a
// decision are kept for callers that cannot wait on an Update (`temporal workflow signal`).
import { setHandler } from '@temporalio/workflow';
import {
  approveCutoverSignal,
  approveCutoverUpdate,
  databaseStatusQuery,
  dependenciesCompletedSignal,
  finalizeUpdate,
  lagReportSignal,
  rejectCutoverSignal,
  rejectCutoverUpdate,
  replicationHealthSignal,
  reverseHealthSignal,
  revokeApprovalSignal,
  revokeApprovalUpdate,
  rollbackUpdate,
} from '../common/messages';
import type { DatabaseHandlers } from './database-handlers';

export function answerMessages(db: DatabaseHandlers): void {
  setHandler(approveCutoverUpdate, (a) => db.approve(a), { validator: (a) => db.refuse(a, 'approve') });
  setHandler(rejectCutoverUpdate, (r) => db.reject(r), { validator: (r) => db.refuse(r, 'reject') });
  setHandler(approveCutoverSignal, (a) => db.approveBySignal(a));
  setHandler(rejectCutoverSignal, (r) => db.rejectBySignal(r));
  setHandler(revokeApprovalUpdate, (r) => db.revoke(r), { validator: (r) => db.refuse(r, 'revoke') });
  setHandler(revokeApprovalSignal, (r) => db.revokeBySignal(r));
  setHandler(replicationHealthSignal, (h) => db.replicationHealth(h));
  setHandler(reverseHealthSignal, (h) => db.reverseHealth(h));
  setHandler(rollbackUpdate, (r) => db.requestAfterCutover('rollback', r), {
    validator: (r) => db.refuseAfterCutover(r, 'rollback'),
  });
  setHandler(finalizeUpdate, (r) => db.requestAfterCutover('finalize', r), {
    validator: (r) => db.refuseAfterCutover(r, 'finalize'),
  });
  setHandler(databaseStatusQuery, () => db.summary);
  setHandler(lagReportSignal, (r) => db.reportLag(r));
  setHandler(dependenciesCompletedSignal, (d) => db.dependenciesCompleted(d));
}
