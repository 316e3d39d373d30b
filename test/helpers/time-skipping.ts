// The time-skipping test server the workflow tests run on (worker/time-skipping-server.ts).
export { findTestServer, startTimeSkippingServer } from '../../worker/time-skipping-server';
