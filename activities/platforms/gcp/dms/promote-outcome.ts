// Whether DMS promoted: the one question the gcp cutover must answer before anything may reopen a
// source it closed for the promote (cutover.ts). "Accepted" is read from DMS itself: the promote
// request returned, or the job shows PROMOTE_IN_PROGRESS or COMPLETED (clouddms v1
// MigrationJob.Phase/State). "Refused" needs all of: no request still in flight from this attempt,
// the request failed (or was never seen: a resumed attempt), the job not promoting, no promote
// operation DMS still runs (operations.list, OperationMetadata verb), and, for a request an earlier
// attempt may have sent, gcp.promoteTimeout passed since the close. Anything else is "not known
// yet", and the source stays closed: a write on a source DMS no longer reads is lost, a source
// closed a little longer is not (docs/google-cloud.md, "The promote").
import { formatDuration } from '../../../../common/durations';
import { promoted, type GcpCutoverDeps } from '../cutover/dms';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** How often a wait for DMS's answer says it still waits (a heartbeat, never a workflow event). */
const REPORT_EVERY_MS = 30_000;

export type PromoteOutcome = { accepted: true; how: string } | { accepted: false; err: unknown };

type Settled = { ok: true } | { ok: false; err: unknown };

interface SettleOptions {
  /** The answer of this attempt's own request, once it came; undefined while it is in flight. */
  settled: () => Settled | undefined;
  /** Before this instant a missing answer is never read as a refusal. */
  notBefore: number;
  progress: (step: string) => void;
  /** Called once when `unknownAt` passes without an answer (the cutover's deadline nears). */
  unknownAt?: number;
  onUnknown?: () => Promise<void>;
}

async function settle(deps: GcpCutoverDeps, o: SettleOptions): Promise<PromoteOutcome> {
  const started = Date.now();
  let reported = started;
  let unknownCalled = false;
  for (;;) {
    const s = o.settled();
    if (s?.ok) return { accepted: true, how: 'DMS accepted the promote request' };
    const job = await deps.jobState().catch(() => undefined);
    if (job && promoted(job)) return { accepted: true, how: `DMS shows the job ${job.state}/${job.phase ?? ''}` };
    if (s && job && Date.now() >= o.notBefore) {
      const op = deps.promoteOperation ? await deps.promoteOperation().catch(() => 'unknown' as const) : 'none';
      if (op === 'succeeded') return { accepted: true, how: 'DMS lists the promote operation as done' };
      if (op === 'none' || op === 'failed') return { accepted: false, err: s.err };
    }
    if (o.unknownAt !== undefined && !unknownCalled && Date.now() >= o.unknownAt) {
      unknownCalled = true;
      await o.onUnknown?.();
    }
    if (Date.now() - reported >= REPORT_EVERY_MS) {
      reported = Date.now();
      o.progress(
        `still waiting for DMS's answer to the promote (${formatDuration(Date.now() - started)}); the source stays ` +
          'closed until it is known',
      );
    }
    await sleep(deps.jobPollMs ?? 1_000);
  }
}

/** Sends the promote and returns once DMS's answer is known, however long that takes (see the header). */
export async function promoteUntilKnown(
  deps: GcpCutoverDeps,
  o: Omit<SettleOptions, 'settled' | 'notBefore'>,
): Promise<PromoteOutcome> {
  let settled: Settled | undefined;
  deps.promote().then(
    () => (settled = { ok: true }),
    (err: unknown) => (settled = { ok: false, err }),
  );
  return settle(deps, { ...o, settled: () => settled, notBefore: 0 });
}

/**
 * For an attempt that did not send the promote itself (a resumed one, the compensation): waits
 * until DMS's answer to a promote an earlier attempt may have sent after closing the source at
 * `closedAt` is known. A promote that was never sent reads as refused once `promoteMs` has passed.
 */
export function earlierPromoteOutcome(
  deps: GcpCutoverDeps,
  closedAt: number,
  promoteMs: number,
  progress: (step: string) => void,
): Promise<PromoteOutcome> {
  const err = new Error('no promote answer was seen by the attempt that closed the source');
  return settle(deps, { settled: () => ({ ok: false, err }), notBefore: closedAt + promoteMs, progress });
}
