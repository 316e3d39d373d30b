// The rows of the gcp dry run (`dbmig plan`). API methods are named by their ids in the services'
// discovery documents (https://developers.google.com/discovery/v1/reference/apis: e.g.
// sql.instances.insert, datamigration.projects.locations.migrationJobs.verify); the OPERATION
// column is printed from the same ids as the listed requests, so the two cannot disagree.
import type { MigrationState } from '../../../common/states';
import type { PlannedCall, PlannedOperation } from '../../steps';

export interface Row {
  state: MigrationState;
  /** Reads before the requests (get-or-create), or instead of them; not compared with any fake. */
  reads?: string[];
  /** The requests that change something, in the order the code sends them. */
  calls?: PlannedCall[];
  resource: string;
  detail: string;
}

export const plannedCall = (method: string, resource: string, validateOnly = false): PlannedCall =>
  validateOnly ? { method, resource, validateOnly } : { method, resource };

/** `alloydb.projects.locations.clusters.create` → `clusters.create`. */
const short = (method: string) => method.split('.').slice(-2).join('.');

export function planned(row: Row): PlannedOperation {
  const calls = row.calls ?? [];
  const methods = [
    ...(row.reads ?? []).map(short),
    ...calls.map((c) => `${short(c.method)}${c.validateOnly ? ' (validateOnly)' : ''}`),
  ];
  // Repeats in a row read better as a count: connectionProfiles.delete x2.
  const steps: string[] = [];
  let repeats = 1;
  methods.forEach((m, i) => {
    if (m === methods[i + 1]) return void repeats++;
    steps.push(repeats > 1 ? `${m} x${repeats}` : m);
    repeats = 1;
  });
  const service = (row.reads?.[0] ?? calls[0]?.method ?? '').split('.')[0];
  return {
    state: row.state,
    api: `${service} ${steps.join(' → ')}`,
    resource: row.resource,
    detail: row.detail,
    calls,
  };
}
