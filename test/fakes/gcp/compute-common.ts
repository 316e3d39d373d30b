// What the Compute v1 routes (routes-compute*.ts) share: path prefixes, resource keys, calendar
// mode's rules, and the answers every Compute method gives (an operation; a missing field).
import { ApiError, ok, renderOp, type FakeGcp } from './server';

export const SEG = '([^/:]+)';
export const ZONE = `^/compute/v1/projects/${SEG}/zones/${SEG}`;
export const GLOBAL = `^/compute/v1/projects/${SEG}/global`;
export const DAY = 86_400_000;

/**
 * Calendar mode takes GPU (A4X, A4, A3) and H4D machine series, 1 to 80 GPU VMs, for 1 to 90 days,
 * starting from a day to 60 days ahead; once submitted it cannot be cancelled, deleted or modified.
 * https://cloud.google.com/compute/docs/instances/future-reservations-calendar-mode-overview
 * https://cloud.google.com/compute/docs/instances/create-future-reservations-calendar-mode
 */
export const CALENDAR_SERIES = ['a4x', 'a4', 'a3', 'h4d'];
/** Reads of a resource before it moves one state on (a fake clock). */
export const STEP_POLLS = 1;

export const bad = (m: string) => new ApiError(400, m);
export const series = (machineType: string) => machineType.split('/').pop()!.split('-')[0].toLowerCase();
export const seconds = (d: { seconds?: string | number } | undefined) => Number(d?.seconds ?? 0);

/** Resource keys: instance templates, managed instance groups, and a group's VMs. */
export const tKey = (p: string, t: string) => `it/${p}/${t}`;
export const mKey = (p: string, z: string, m: string) => `mig/${p}/${z}/${m}`;
export const vmKey = (p: string, z: string, m: string) => `compute:vms/${p}/${z}/${m}`;

/** A resource as Compute answers it, without the fake's read counter. */
export const render = ({ _reads, ...res }: Record<string, unknown>) => (void _reads, res);

/** A Compute operation (zonal when `z` is given) that applies `finish` when it is done. */
export const op = (f: FakeGcp, z: string | undefined, finish?: () => unknown) =>
  ok(renderOp(f.operation('compute', finish, z ? { zone: z } : {})));

export const need = (v: unknown, field: string) => {
  // Compute answers a missing required field this way; the fields a resource needs at insert are its
  // proto's (google/cloud/compute/v1/compute.proto: InstanceTemplate.name, InstanceGroupManager.name and
  // base_instance_name, FutureReservation.name and time_window, "provided by the client when the resource
  // is created").
  if (v === undefined || v === null || v === '') throw bad(`Required field '${field}' not specified`);
};
