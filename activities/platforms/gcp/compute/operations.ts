// Compute Engine v1 plumbing the capacity modules share: their clients, and waiting for compute#operation
// (google/cloud/compute/v1/compute.proto: Operation, status DONE with error.errors[]).
import type { DatabaseTask } from '../../../steps';
import type { GcpClients } from '../clients';
import { STATUS_DONE, waitForOperation, type PollOptions } from '../poll';

/** The operation name from an insert/delete answer (gax's LROperation or a bare compute#operation). */
export const opName = (op: unknown) =>
  (op as { name?: string; latestResponse?: { name?: string } }).latestResponse?.name ?? (op as { name?: string }).name!;

export function waitZoneOperation(c: GcpClients, task: DatabaseTask, op: unknown, poll: PollOptions) {
  const { project, zone } = task.gcp!;
  const operation = opName(op);
  return waitForOperation(
    `Compute operation ${operation}`,
    async () => (await c.zoneOperations.get({ project, zone, operation }))[0],
    STATUS_DONE,
    poll,
  );
}

export function waitGlobalOperation(c: GcpClients, task: DatabaseTask, op: unknown, poll: PollOptions) {
  const { project } = task.gcp!;
  const operation = opName(op);
  return waitForOperation(
    `Compute operation ${operation}`,
    async () => (await c.globalOperations.get({ project, operation }))[0],
    STATUS_DONE,
    poll,
  );
}

/** Polls `get` until `done`, at most `waitMs`; answers the last value either way. */
export async function pollFor<T>(get: () => Promise<T>, done: (v: T) => boolean, intervalMs: number, waitMs: number) {
  const until = Date.now() + waitMs;
  for (;;) {
    const v = await get();
    if (done(v) || Date.now() >= until) return v;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
