// A time-skipping Temporal test server: workflow timers (approval timeouts, cutover windows) pass
// in milliseconds while a client awaits a workflow result; an activity's time does not (the server
// holds its clock while an activity is pending). The tests use it, and `dbmig forecast` runs a plan
// on it. The server is the Java SDK's test server, installed from Maven Central by
// scripts/install-test-server (npm test runs it first, through scripts/prepare), because the SDK's
// own download of it needs a host unreachable here. Nothing installs it on demand: without the
// server a start fails at once, naming the fix.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { encodeSearchAttributeIndexedValueType } from '@temporalio/common/lib/search-attributes';
import { ALL_SEARCH_ATTRIBUTES } from '../common/search-attributes';
import { projectRoot } from './temporal-cli';

export function findTestServer(): string {
  const env = process.env.TEMPORAL_TEST_SERVER;
  if (env) {
    if (!existsSync(env)) throw new Error(`TEMPORAL_TEST_SERVER=${env} does not exist`);
    return env;
  }
  const fix = 'run bash scripts/prepare test (npm test runs it first; it needs Java 17+ and Maven)';
  const wrapper = join(projectRoot(), '.tools', 'temporal-test-server', 'temporal-test-server');
  if (!existsSync(wrapper)) throw new Error(`no time-skipping test server at ${wrapper}: ${fix}`);
  // The wrapper execs java: without it the SDK only says the server did not start within 5 s.
  if (spawnSync('java', ['-version'], { stdio: 'ignore' }).error)
    throw new Error(`no java on PATH for the time-skipping test server: apt-get install default-jre-headless`);
  return wrapper;
}

/**
 * The SDK gives the server 5 s to listen, which a JVM on a loaded machine can miss: a start that
 * timed out is tried again (the machine's speed decides how long, never whether, a test runs).
 */
async function createServer(): Promise<TestWorkflowEnvironment> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await TestWorkflowEnvironment.createTimeSkipping({
        server: { executable: { type: 'existing-path', path: findTestServer() } },
      });
    } catch (err) {
      if (attempt >= 12 || !/did not start within/.test(String((err as Error).message))) throw err;
    }
  }
}

export async function startTimeSkippingServer(): Promise<TestWorkflowEnvironment> {
  const env = await createServer();
  // The test server rejects search attributes it does not know, as a real cluster does, and
  // registers them through the operator service, as on a real cluster.
  await env.connection.operatorService.addSearchAttributes({
    namespace: 'default',
    searchAttributes: Object.fromEntries(
      ALL_SEARCH_ATTRIBUTES.map((k) => [k.name, encodeSearchAttributeIndexedValueType(k.type)!]),
    ),
  });
  return env;
}
