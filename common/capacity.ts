// Google Cloud's fleet-migration recipe: workers scale with size, priority picks the reservation mode,
// within what Dynamic Workload Scheduler offers for the workers' machine type.
export type Priority = 'high' | 'medium' | 'low';
export type CapacityMode = 'calendar' | 'flex-start';

export function workerCount(sizeGb: number): number {
  return Math.min(8, Math.max(1, Math.floor(sizeGb / 50)));
}

/**
 * The machine series (machine type prefixes) future reservation requests in calendar mode take:
 * GPU VMs (A4X, A4, A3) and H4D VMs; TPUs are reserved by chip, not machine type. General-purpose
 * series such as E2 or N2 are not offered.
 * https://cloud.google.com/compute/docs/instances/future-reservations-calendar-mode-overview
 * https://cloud.google.com/compute/docs/instances/create-future-reservations-calendar-mode
 */
export const CALENDAR_MODE_SERIES = ['a4x', 'a4', 'a3', 'h4d'] as const;

/** Whether calendar mode takes `machineType` (a name such as a3-highgpu-8g, or its URL). */
export function calendarModeOffers(machineType: string): boolean {
  const series = machineType.split('/').pop()!.split('-')[0].toLowerCase();
  return (CALENDAR_MODE_SERIES as readonly string[]).includes(series);
}

/**
 * High priority asks for guaranteed calendar-mode capacity where Google offers it for the machine
 * type; otherwise (and for medium and low) flex-start, which serves any priority and waits for
 * capacity. Without a machine type (the local platform), priority alone decides.
 */
export function capacityMode(priority: Priority, machineType?: string): CapacityMode {
  if (priority !== 'high') return 'flex-start';
  return machineType === undefined || calendarModeOffers(machineType) ? 'calendar' : 'flex-start';
}

const RANK: Record<Priority, number> = { high: 0, medium: 1, low: 2 };

/** Stable: databases of equal priority keep their plan order. */
export function byPriority<T extends { priority: Priority }>(items: readonly T[]): T[] {
  return items
    .map((item, index) => ({ item, index }))
    .sort((a, b) => RANK[a.item.priority] - RANK[b.item.priority] || a.index - b.index)
    .map((x) => x.item);
}
