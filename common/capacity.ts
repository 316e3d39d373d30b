// Google Cloud's fleet-migration recipe: workers scale with size, priority picks the reservation mode.
export type Priority = 'high' | 'medium' | 'low';
export type CapacityMode = 'calendar' | 'flex-start';

export function workerCount(sizeGb: number): number {
  return Math.min(8, Math.max(1, Math.floor(sizeGb / 50)));
}

export function capacityMode(priority: Priority): CapacityMode {
  return priority === 'high' ? 'calendar' : 'flex-start';
}

const RANK: Record<Priority, number> = { high: 0, medium: 1, low: 2 };

/** Stable: databases of equal priority keep their plan order. */
export function byPriority<T extends { priority: Priority }>(items: readonly T[]): T[] {
  return items
    .map((item, index) => ({ item, index }))
    .sort((a, b) => RANK[a.item.priority] - RANK[b.item.priority] || a.index - b.index)
    .map((x) => x.item);
}
