// Database Migration Service (datamigration v1) through googleapis. The request bodies follow
// google/cloud/clouddms/v1/clouddms.proto and clouddms_resources.proto as the REST types of
// googleapis' datamigration v1 carry them (node_modules/googleapis/build/src/apis/datamigration/v1.d.ts,
// REST: https://cloud.google.com/database-migration/docs/reference/rest/v1). The sequence per pair:
//   dms/profiles.ts  source and destination connection profiles (connectionProfiles.create)
//   dms/job.ts       the CONTINUOUS job with VPC peering (migrationJobs.create)
//   dms/actions.ts   verify, demoteDestination + start / resume, promote, stop, delete
// dms/common.ts holds what they share; this file is the names the rest of the platform imports.
export * from './common';
export { destinationProfileBody, sourceConnection, sourceProfileBody } from './profiles';
export { describeJobCreation, ensureJob, getJob, jobBody, jobDatabases, jobsUsingTarget } from './job';
export {
  assessThroughDms,
  deleteJobAndProfiles,
  describeAssessment,
  describeJobAction,
  describeJobDeletion,
  describeJobRead,
  describeStart,
  ensureDemoted,
  JOB_STATE_WHEN_VALID,
  promoteJob,
  promoteOperationState,
  startOrResumeJob,
  stopJob,
  verifyJob,
  waitForPromotion,
  type JobAction,
  type PromoteAccepted,
  type StartOutcome,
} from './actions';
