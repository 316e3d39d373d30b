// What the assessment says when the plan's source.version disagrees with the server: the target's
// version defaults to the source's, so a wrong plan value would provision the wrong target.
import type { DatabaseTask, Finding } from '../steps';

export function versionMismatch(task: DatabaseTask, major: string): Finding | undefined {
  const planned = task.database.source.version;
  if (!planned || planned === major) return undefined;
  return {
    code: 'SOURCE_VERSION_MISMATCH',
    severity: 'warning',
    message:
      `the plan says the source is version ${planned}, the server says ${major}: fix database.source.version ` +
      "(the target's version defaults to the source's)",
  };
}
