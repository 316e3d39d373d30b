// The final validation after a cutover (validateData 'final'): source and target compared as of the
// cutover's fence, inside the snapshots the switch took (fence-snapshot.ts), whatever reverse
// replication or a moved application does meanwhile. Its result is kept in the job record, the
// durable place: a retry, or a later run reading it, gets the same answer without snapshots.
//
// Where the snapshots cannot be imported (a cutover recorded before this existed, the worker
// holding them ended, HOLD_MS passed), the fallback compares the two sides as they are now, and its
// summary says so: it is exact only while nothing writes to the target, which the runbook makes
// likely by telling applications to move (cutover-done) only after this validation.
import { formatDuration } from '../../../common/durations';
import type { ValidationResult } from '../../steps';
import { listTables } from './assess';
import { HOLD_MS, importSnapshot, releaseFenceSnapshots } from './fence-snapshot';
import type { JobRecordStore } from './job-record';
import { withClient, type ConnectionParams } from './sessions';
import { compareAtFence } from './validate';

export interface FinalValidationEnv {
  source: ConnectionParams;
  target: ConnectionParams;
  records: JobRecordStore;
  job: string;
}

/** Compares the two sides now, for when the fence's snapshots are gone; `why` says why they are. */
export type Fallback = (why: string) => Promise<ValidationResult>;

export async function finalValidation(env: FinalValidationEnv, fallback: Fallback): Promise<ValidationResult> {
  const rec = await env.records.read();
  const at = rec.atFence;
  if (at?.result) return at.result;
  if (!at) return fallback(rec.result ? 'its cutover took no snapshot at the fence' : 'no cutover is recorded');
  const result = await withClient(env.source, (s) =>
    withClient(env.target, async (t) => {
      if (!(await importSnapshot(s, at.snapshots.source)) || !(await importSnapshot(t, at.snapshots.target)))
        return undefined;
      // Both transactions hold their own copy now: the holders (if this worker has them) may go.
      releaseFenceSnapshots(env.job);
      try {
        return await compareAtFence(
          s,
          t,
          (await listTables(s)).map((x) => x.name),
        );
      } finally {
        await s.query('rollback').catch(() => undefined);
        await t.query('rollback').catch(() => undefined);
      }
    }),
  );
  if (!result)
    return fallback(
      `the snapshots taken at the fence are no longer held (held at most ${formatDuration(HOLD_MS)}, ` +
        'by the worker that ran the cutover)',
    );
  await env.records.write({ ...(await env.records.read()), atFence: { ...at, result } });
  return result;
}

/** The fallback's result, its summary saying it was not compared at the fence and why. */
export function notAtFence(r: ValidationResult, why: string): ValidationResult {
  return { ...r, summary: `compared after the switch, not at the cutover's fence (${why}): ${r.summary}` };
}
