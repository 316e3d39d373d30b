// The baseline of the fan-out benchmark (bench/fleet-scale.ts, P5): the plainest sliding window
// Temporal allows. A parent starts one child per item, at most `concurrency` at a time; each child
// runs `steps` no-op activities in sequence. When the server suggests continue-as-new, the parent
// stops starting children, lets the running ones finish, and continues with the next index.
import { condition, continueAsNew, proxyActivities, startChild, workflowInfo } from '@temporalio/workflow';

export interface FanOutInput {
  children: number;
  concurrency: number;
  steps: number;
  /** The first child this run starts; 0 on the first run. */
  next?: number;
}

const { noop } = proxyActivities<{ noop(): Promise<void> }>({ startToCloseTimeout: '1m' });

export async function FanOutChild(steps: number): Promise<void> {
  for (let i = 0; i < steps; i++) await noop();
}

export async function FanOutParent(input: FanOutInput): Promise<number> {
  const id = workflowInfo().workflowId;
  let next = input.next ?? 0;
  let running = 0;
  while (next < input.children) {
    await condition(() => running < input.concurrency);
    if (workflowInfo().continueAsNewSuggested) break;
    const child = await startChild(FanOutChild, { workflowId: `${id}/${next}`, args: [input.steps] });
    next++;
    running++;
    child.result().then(
      () => running--,
      () => running--,
    );
  }
  await condition(() => running === 0);
  if (next < input.children) return continueAsNew<typeof FanOutParent>({ ...input, next });
  return input.children;
}
