// A plan's cutover window in the forecast. The forecast's clock runs `speedup` times faster than
// the calendar, so the workflow's own wait for the window (a timer from the server's clock) cannot
// be used; instead the forecast holds each database as the window would, by approving its cutover
// when the window next opens after the approval is due, computed on the forecast's calendar. The
// database waits in AWAITING_APPROVAL holding its place in the plan's concurrency, as a real one
// waiting for its window does. Pure.
import { msUntilWindow, type CutoverWindow } from '../common/cutover-window';
import type { DatabaseTimeline } from './forecast-timeline';

/** When (ms from the fleet's start) a cutover may begin: the approval due, then the window's opening. */
export function cutoverDueMs(
  start: Date,
  awaitingMs: number,
  approvalWaitMs: number,
  window: CutoverWindow | undefined,
): number {
  const approvedMs = awaitingMs + approvalWaitMs;
  return approvedMs + (window ? msUntilWindow(new Date(start.getTime() + approvedMs), window) : 0);
}

/** The longest a database can wait for the window (sampled every 15 minutes over a week). */
export function longestWindowWaitMs(window: CutoverWindow, from = new Date()): number {
  let longest = 0;
  for (let t = from.getTime(); t < from.getTime() + 7 * 86_400_000; t += 15 * 60_000)
    longest = Math.max(longest, msUntilWindow(new Date(t), window));
  return longest;
}

/**
 * The timeline read from the history shows one wait, from the live validation to the approval the
 * forecast sent at the window's opening: the approval wait is its first `approvalWaitMs`, the
 * window the rest.
 */
export function splitWindowWait(t: DatabaseTimeline, approvalWaitMs: number): DatabaseTimeline {
  const wait = t.phases.approvalWait;
  const window = t.phases.window;
  if (!wait || !window) return t;
  const split = Math.min(wait.startMs + approvalWaitMs, wait.endMs);
  return {
    ...t,
    phases: {
      ...t.phases,
      approvalWait: { startMs: wait.startMs, endMs: split },
      window: { startMs: split, endMs: window.endMs },
    },
  };
}
