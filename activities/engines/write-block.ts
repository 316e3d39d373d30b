// What a write block that ended early or failed is reported as: by how far it got, whichever
// engine held it (the PostgreSQL fence, the MySQL fence).
import { MigrationError } from '../../common/failures';

/**
 * What a block that ended early or failed is reported as, `done` (what was restored) appended. The
 * fence session gone (`lost`) means PostgreSQL ended it: at the deadline, or by someone's
 * pg_terminate_backend. Shared by the cutover (the source's block) and the rollback (the target's).
 */
export function blockEndedError(err: unknown, lost: boolean, deadline: number, done: string): unknown {
  if (err instanceof MigrationError) return new MigrationError(err.type, `${err.message}; ${done}`);
  const e = err as { code?: string; message?: string };
  if (e.code === '42501') return new MigrationError('PermissionDenied', `${e.message}; ${done}`);
  if (lost)
    return Date.now() >= deadline
      ? new MigrationError('CutoverTimedOut', `the write block reached its deadline (${e.message}); ${done}`)
      : new MigrationError('CutoverInterrupted', `the fence session ended (${e.message}); ${done}`);
  if (err instanceof Error) err.message = `${err.message}; ${done}`;
  return err;
}
