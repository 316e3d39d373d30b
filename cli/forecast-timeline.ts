// A database's forecast timeline, read from its own workflow's history: each phase runs from the
// time an activity was scheduled to the time it completed, as the server stamped them. The forecast
// ran `speedup` times faster than real time (the simulated platform's durations were divided by it),
// so every offset is multiplied back. Pure: the caller fetches the history (history-spans.ts reads it).
import {
  activitySpans as activities,
  eventMs as timeMs,
  firstMessageAfter,
  type HistoryEvent as Event,
} from './history-spans';

export const PHASES = ['copy', 'catchUp', 'validation', 'approvalWait', 'window', 'cutover'] as const;
export type Phase = (typeof PHASES)[number];

export interface Span {
  /** Milliseconds from the fleet's start, in forecast (real) time. */
  startMs: number;
  endMs: number;
}

export interface DatabaseTimeline {
  database: string;
  phases: Partial<Record<Phase, Span>>;
  /** From reserving capacity to releasing it: how long the database holds migration capacity. */
  capacity?: Span;
  /** The child's start and its end (the last event). */
  startMs: number;
  endMs: number;
}

export function databaseTimeline(
  database: string,
  events: Event[],
  fleetStart: number,
  speedup: number,
): DatabaseTimeline {
  const at = (ms: number) => (ms - fleetStart) * speedup;
  const span = (a?: { start: number; end?: number }): Span | undefined =>
    a?.end !== undefined ? { startMs: at(a.start), endMs: at(a.end) } : undefined;
  const phases: Partial<Record<Phase, Span>> = {};
  const copy = span(activities(events, 'waitForFullDump')[0]);
  const catchUp = span(activities(events, 'waitForReplicationReady')[0]);
  const live = activities(events, 'validateData')[0];
  const cut = activities(events, 'cutover');
  const validation = span(live);
  Object.assign(phases, copy && { copy }, catchUp && { catchUp }, validation && { validation });
  if (live?.end !== undefined && cut[0]) {
    // Awaiting approval from the live validation's end to the approval; then the window (if any) to the cutover.
    const approved = Math.min(firstMessageAfter(events, live.end) ?? cut[0].start, cut[0].start);
    phases.approvalWait = { startMs: at(live.end), endMs: at(approved) };
    phases.window = { startMs: at(approved), endMs: at(cut[0].start) };
  }
  const lastCut = cut.at(-1);
  if (cut[0] && lastCut?.end !== undefined) phases.cutover = { startMs: at(cut[0].start), endMs: at(lastCut.end) };
  const reserve = activities(events, 'reserveCapacity')[0];
  const release = activities(events, 'releaseCapacity').at(-1);
  const capacity =
    reserve && release?.end !== undefined ? { startMs: at(reserve.start), endMs: at(release.end) } : undefined;
  return {
    database,
    phases,
    ...(capacity ? { capacity } : {}),
    startMs: at(timeMs(events[0])),
    endMs: at(timeMs(events[events.length - 1])),
  };
}

/** The most databases holding capacity at once. */
export function peakConcurrency(timelines: DatabaseTimeline[]): number {
  const edges = timelines
    .flatMap((t) => (t.capacity ? [[t.capacity.startMs, 1] as const, [t.capacity.endMs, -1] as const] : []))
    .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let peak = 0;
  for (const [, d] of edges) peak = Math.max(peak, (now += d));
  return peak;
}
