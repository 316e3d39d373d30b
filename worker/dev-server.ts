// Starts the Temporal CLI's dev server (for tests and the demo) with the search attributes the
// workflows use registered.
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { ALL_SEARCH_ATTRIBUTES } from '../common/search-attributes';
import { findTemporalCli } from './temporal-cli';

export interface DevServerOptions {
  uiPort?: number;
  port?: number;
  dbFilename?: string;
  log?: (line: string) => void;
}

export async function startDevServer(opts: DevServerOptions = {}): Promise<TestWorkflowEnvironment> {
  const cli = findTemporalCli();
  opts.log?.(`Temporal CLI: ${cli.path} (${cli.how})`);
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: cli.path },
      searchAttributes: ALL_SEARCH_ATTRIBUTES,
      ui: opts.uiPort !== undefined,
      uiPort: opts.uiPort,
      port: opts.port,
      dbFilename: opts.dbFilename,
    },
  });
}
