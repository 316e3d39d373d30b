// Reading a workflow's history for the times its activities took, as the server stamped them: the
// forecast's timeline (forecast-timeline.ts) and what a rehearsal measured per step
// (rehearsal-steps.ts) both come from here. Pure: the caller fetches the history.
import type { temporal } from '@temporalio/proto';

export type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/** An activity's span: scheduled, then completed (or failed, cancelled, timed out: the end of its last attempt). */
export interface ActivitySpan {
  start: number;
  end?: number;
}

export const eventMs = (e: HistoryEvent): number => {
  const t = e.eventTime;
  return t ? Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6) : NaN;
};

/** Each activity of `type`, in the order scheduled. A span holds its retries: the server records the last attempt. */
export function activitySpans(events: HistoryEvent[], type: string): ActivitySpan[] {
  return [...spansByType(events, (t) => t === type).values()][0] ?? [];
}

/** Every activity type's spans, in the order each type was first scheduled. */
export function spansByType(events: HistoryEvent[], want: (type: string) => boolean = () => true) {
  const byId = new Map<string, ActivitySpan>();
  const out = new Map<string, ActivitySpan[]>();
  for (const e of events) {
    const s = e.activityTaskScheduledEventAttributes;
    const type = s?.activityType?.name;
    if (type && want(type)) {
      const a: ActivitySpan = { start: eventMs(e) };
      byId.set(String(e.eventId), a);
      out.set(type, [...(out.get(type) ?? []), a]);
    }
    const done =
      e.activityTaskCompletedEventAttributes ??
      e.activityTaskFailedEventAttributes ??
      e.activityTaskCanceledEventAttributes ??
      e.activityTaskTimedOutEventAttributes;
    const a = done ? byId.get(String(done.scheduledEventId)) : undefined;
    if (a) a.end = eventMs(e);
  }
  return out;
}

/** The first message (signal or update) the workflow took at or after `after`: an approval, say. */
export function firstMessageAfter(events: HistoryEvent[], after: number): number | undefined {
  const e = events.find(
    (x) =>
      (x.workflowExecutionSignaledEventAttributes || x.workflowExecutionUpdateAcceptedEventAttributes) &&
      eventMs(x) >= after,
  );
  return e ? eventMs(e) : undefined;
}
