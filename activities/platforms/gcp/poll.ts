// Long-running operations are polled to completion inside the activity; the activity's
// heartbeat timer keeps it alive meanwhile, and a retried attempt polls the same operation.
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
