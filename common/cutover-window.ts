// Cutover windows ("Mon-Fri 22:00-02:00 Europe/Berlin"): approval is accepted any time, the
// cutover itself waits for the window. Pure, so the workflow can compute its timer.
export const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export type Day = (typeof DAYS)[number];

export interface CutoverWindow {
  days: Day[];
  /** Local wall-clock times, HH:MM; an end before the start crosses midnight. */
  start: string;
  end: string;
  timeZone: string;
}

const minutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

function local(t: Date, timeZone: string): { day: number; minute: number } {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    weekday: 'short',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(t);
  const get = (type: string) => parts.find((p) => p.type === type)!.value;
  return {
    day: DAYS.indexOf(get('weekday').toLowerCase().slice(0, 3) as Day),
    minute: Number(get('hour')) * 60 + Number(get('minute')),
  };
}

export function isInWindow(t: Date, w: CutoverWindow): boolean {
  const { day, minute } = local(t, w.timeZone);
  const start = minutes(w.start);
  const end = minutes(w.end);
  const on = (d: number) => w.days.includes(DAYS[(d + 7) % 7]);
  if (start < end) return on(day) && minute >= start && minute < end;
  // Crosses midnight: the evening part belongs to its day, the morning part to the day before.
  return (on(day) && minute >= start) || (on(day - 1) && minute < end);
}

/** Milliseconds until the window is open (0 when it is); searched minute by minute, DST-safe. */
export function msUntilWindow(now: Date, w: CutoverWindow): number {
  if (isInWindow(now, w)) return 0;
  const firstMinute = Math.ceil(now.getTime() / 60_000) * 60_000;
  for (let t = firstMinute; t <= now.getTime() + 8 * 86_400_000; t += 60_000) {
    if (isInWindow(new Date(t), w)) return t - now.getTime();
  }
  throw new Error('the cutover window never opens (no day selected?)');
}

export function describeWindow(w: CutoverWindow): string {
  return `${w.days.join(',')} ${w.start}-${w.end} ${w.timeZone}`;
}

export function validTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}
