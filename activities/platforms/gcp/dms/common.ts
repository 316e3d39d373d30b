// What the DMS modules share: types, method ids, request ids and the operation wait. Bodies follow
// google/cloud/clouddms/v1 as googleapis' datamigration v1 REST types carry them.
import type { DatabaseTask } from '../../../steps';
import type { datamigration_v1, GcpClients } from '../clients';
import { gcpRequestId } from '../names';
import { LONGRUNNING, waitForOperation, type PollOptions } from '../poll';

export type Profile = datamigration_v1.Schema$ConnectionProfile;
export type Job = datamigration_v1.Schema$MigrationJob;
export type Operation = datamigration_v1.Schema$Operation;

export const PROFILES = 'datamigration.projects.locations.connectionProfiles';
export const JOBS = 'datamigration.projects.locations.migrationJobs';

export const data = async <T>(p: Promise<{ data: T }>): Promise<T> => (await p).data;

/**
 * A DMS request id: "letters, numbers, underscores and hyphens, at most 40 characters"
 * (migrationJobs.create / connectionProfiles.create `requestId`); the UUID form (36) fits.
 */
export const dmsRequestId = (task: DatabaseTask, ...parts: string[]): string => gcpRequestId(task, 'dms', ...parts);

/** Polls a DMS google.longrunning.Operation to the end; its error becomes OperationFailed. */
export function waitDmsOperation(c: GcpClients, op: Operation, poll: PollOptions): Promise<Operation> {
  return waitForOperation(
    `DMS operation ${op.name}`,
    () => data(c.dms.projects.locations.operations.get({ name: op.name! })),
    LONGRUNNING,
    poll,
    op,
  );
}

/** Every page of a list method (AIP-158: next_page_token until empty). */
export async function listAll<T>(
  page: (token?: string) => Promise<{ items: T[]; next?: string | null }>,
): Promise<T[]> {
  const all: T[] = [];
  let token: string | undefined;
  do {
    const { items, next } = await page(token);
    all.push(...items);
    token = next || undefined;
  } while (token);
  return all;
}
