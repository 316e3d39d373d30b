// Warnings from platform code, which runs inside activities (Temporal's logger, with the
// activity's attributes) and, in tests and tools, outside them.
import { Context, log } from '@temporalio/activity';

export function warn(message: string): void {
  try {
    Context.current();
  } catch {
    console.warn(message);
    return;
  }
  log.warn(message);
}
