// Long-running operations are polled to completion inside the activity; the activity's
// heartbeat timer keeps it alive meanwhile, and a retried attempt polls the same operation.
// Two shapes exist: google.longrunning.Operation (google/longrunning/operations.proto: AlloyDB,
// DMS), done with an optional google.rpc.Status error; and the status-style operations of
// Cloud SQL Admin (sql#operation) and Compute (compute#operation), DONE with `error.errors[]`.
import { MigrationError } from '../../../common/failures';
import { call } from './errors';

export interface PollOptions {
  intervalMs: number;
  timeoutMs: number;
}

export const DEFAULT_POLL: PollOptions = { intervalMs: 5_000, timeoutMs: 2 * 60 * 60 * 1000 };

export async function pollUntil<T>(
  what: string,
  get: () => Promise<T>,
  done: (v: T) => boolean,
  opts: PollOptions,
): Promise<T> {
  const until = Date.now() + opts.timeoutMs;
  for (;;) {
    const v = await get();
    if (done(v)) return v;
    if (Date.now() > until)
      throw new Error(`${what}: not done after ${Math.round(opts.timeoutMs / 1000)} s (retryable)`);
    await new Promise((r) => setTimeout(r, opts.intervalMs));
  }
}

/** How an API says an operation finished, and how it failed. */
export interface OperationShape<T> {
  done(op: T): boolean;
  /** The failure, or undefined when the operation succeeded. */
  error(op: T): string | undefined;
}

type Longrunning = { done?: boolean | null; error?: { message?: string | null } | null };
type StatusStyle = {
  status?: unknown;
  error?: { errors?: { code?: string | null; message?: string | null }[] | null } | null;
};

export const LONGRUNNING: OperationShape<Longrunning> = {
  done: (op) => !!op.done,
  error: (op) => (op.error ? (op.error.message ?? 'no message') : undefined),
};

export const STATUS_DONE: OperationShape<StatusStyle> = {
  done: (op) => String(op.status) === 'DONE',
  error: (op) => {
    const errors = op.error?.errors ?? [];
    return errors.length ? errors.map((e) => `${e.code}: ${e.message}`).join('; ') : undefined;
  },
};

/**
 * Polls an operation until done (unless `first`, the create's answer, already is) and turns its
 * error into a permanent OperationFailed. `what` names it, e.g. "Cloud SQL operation op-1".
 */
export async function waitForOperation<T>(
  what: string,
  get: () => Promise<T>,
  shape: OperationShape<NoInfer<T>>,
  poll: PollOptions,
  first?: T,
): Promise<T> {
  const op =
    first && shape.done(first) ? first : await pollUntil(what, () => call(`get ${what}`, get), shape.done, poll);
  const error = shape.error(op);
  if (error) throw new MigrationError('OperationFailed', `${what} failed: ${error}`);
  return op;
}
