// Compute v1 managed instance groups (zonal): insert, get, delete, list their VMs, and resize,
// whose VMs consume a specific reservation when their template says so.
// REST: https://cloud.google.com/compute/docs/reference/rest/v1/instanceGroupManagers
/* eslint-disable @typescript-eslint/no-explicit-any -- the fake keeps REST JSON as it comes */
import { ApiError, ok, type FakeGcp } from './server';
import { SEG, ZONE, bad, mKey, need, op, tKey, vmKey } from './compute-common';

/** A MIG named in createFakeGcp's `migs` exists already, made by someone else. */
export function getMig(f: FakeGcp, migs: Set<string>, p: string, z: string, m: string): any {
  if (!f.resources.has(mKey(p, z, m)) && migs.has(m))
    f.resources.set(mKey(p, z, m), {
      kind: 'compute#instanceGroupManager',
      name: m,
      description: 'operator-managed workers',
      instanceTemplate: `projects/${p}/global/instanceTemplates/operator-template`,
      targetSize: 2,
      zone: z,
    });
  const mig = f.resources.get(mKey(p, z, m));
  // https://cloud.google.com/apis/design/errors (404 NOT_FOUND)
  if (!mig) throw new ApiError(404, `The resource 'projects/${p}/zones/${z}/instanceGroupManagers/${m}' was not found`);
  return mig;
}

// The VMs of a group whose template has a SPECIFIC_RESERVATION affinity consume that reservation
// in the group's zone (reservations-consume): it must exist, match the machine type and have
// enough unused count, else the VMs cannot be created. The fake refuses such a resize outright.
const resKey = (p: string, z: string, r: string) => `res/${p}/${z}/${r}`;
const useKey = (p: string, z: string, m: string) => `compute:consumes/${p}/${z}/${m}`;

/** Sets how many VMs of group `m` hold their reservation (0: none; on delete or a size-0 resize). */
function consume(f: FakeGcp, p: string, z: string, m: string, n: number): void {
  const use = f.resources.get(useKey(p, z, m));
  const res = use && f.resources.get(use.reservation);
  if (res) res.specificReservation.inUseCount = String(Number(res.specificReservation.inUseCount) - use.count);
  f.resources.delete(useKey(p, z, m));
  if (n > 0 && use) {
    const now = f.resources.get(use.reservation);
    if (now) now.specificReservation.inUseCount = String(Number(now.specificReservation.inUseCount) + n);
    f.resources.set(useKey(p, z, m), { reservation: use.reservation, count: n });
  }
}

export function instanceGroupRoutes(f: FakeGcp, migs: Set<string>): void {
  f.route(
    'GET',
    new RegExp(`${ZONE}/instanceGroupManagers/${SEG}$`),
    'compute.instanceGroupManagers.get',
    ({ params: [p, z, m] }) => ok(getMig(f, migs, p, z, m)),
  );
  f.route('POST', new RegExp(`${ZONE}/instanceGroupManagers$`), 'compute.instanceGroupManagers.insert', (ctx) =>
    f.idempotent(ctx, () => {
      const [p, z] = ctx.params;
      const b = ctx.body ?? {};
      need(b.name, 'resource.name');
      need(b.instanceTemplate ?? b.versions?.[0]?.instanceTemplate, 'resource.instanceTemplate');
      need(b.baseInstanceName, 'resource.baseInstanceName');
      const t = String(b.instanceTemplate).split('/').pop()!;
      // The group's instanceTemplate must name an existing template ("The URL of the instance template that is
      // specified for this managed instance group"):
      // https://cloud.google.com/compute/docs/reference/rest/v1/instanceGroupManagers/insert
      if (!f.resources.has(tKey(p, t)))
        throw bad(`The resource 'projects/${p}/global/instanceTemplates/${t}' was not found`);
      // https://cloud.google.com/apis/design/errors (409 ALREADY_EXISTS)
      if (f.resources.has(mKey(p, z, b.name)) || migs.has(b.name))
        throw new ApiError(
          409,
          `The resource 'projects/${p}/zones/${z}/instanceGroupManagers/${b.name}' already exists`,
        );
      return op(f, z, () => {
        f.resources.set(mKey(p, z, b.name), {
          kind: 'compute#instanceGroupManager',
          targetSize: 0,
          ...b,
          zone: z,
          status: {},
        });
        f.resources.set(vmKey(p, z, b.name), []);
      });
    }),
  );
  f.route(
    'DELETE',
    new RegExp(`${ZONE}/instanceGroupManagers/${SEG}$`),
    'compute.instanceGroupManagers.delete',
    (ctx) =>
      f.idempotent(ctx, () => {
        const [p, z, m] = ctx.params;
        getMig(f, migs, p, z, m);
        // instanceGroupManagers.delete: "deletes the group and all instances it manages".
        return op(f, z, () => {
          consume(f, p, z, m, 0);
          f.resources.delete(mKey(p, z, m));
          f.resources.delete(vmKey(p, z, m));
          for (const k of [...f.resources.keys()]) if (k.startsWith(`rr/${p}/${z}/${m}/`)) f.resources.delete(k);
        });
      }),
  );
  f.route(
    'POST',
    new RegExp(`${ZONE}/instanceGroupManagers/${SEG}/listManagedInstances$`),
    'compute.instanceGroupManagers.listManagedInstances',
    ({ params: [p, z, m] }) => {
      getMig(f, migs, p, z, m);
      const vms: string[] = f.resources.get(vmKey(p, z, m)) ?? [];
      return ok({
        managedInstances: vms.map((name) => ({
          instance: `projects/${p}/zones/${z}/instances/${name}`,
          currentAction: 'NONE',
          instanceStatus: 'RUNNING',
        })),
      });
    },
  );

  // ---- resize (instanceGroupManagers.resize: set the target size) ----
  f.route(
    'POST',
    new RegExp(`${ZONE}/instanceGroupManagers/${SEG}/resize$`),
    'compute.instanceGroupManagers.resize',
    (ctx) =>
      f.idempotent(ctx, () => {
        const [p, z, m] = ctx.params;
        const mig = getMig(f, migs, p, z, m);
        const size = Number(ctx.query.get('size'));
        // ResizeInstanceGroupManagerRequest.size is a REQUIRED int32, a number of running instances
        // (google/cloud/compute/v1/compute.proto).
        if (!Number.isInteger(size) || size < 0)
          throw bad(`Invalid value for field 'size': '${ctx.query.get('size')}'`);
        const t = f.resources.get(tKey(p, String(mig.instanceTemplate).split('/').pop()!));
        const ra = t?.properties?.reservationAffinity ?? {};
        let reservation: string | undefined;
        // A VM consuming a specific reservation needs that reservation, with matching properties and free
        // capacity: https://cloud.google.com/compute/docs/instances/reservations-consume
        if (ra.consumeReservationType === 'SPECIFIC_RESERVATION' && size > 0) {
          const name = String(ra.values?.[0] ?? '')
            .split('/')
            .pop()!;
          reservation = resKey(p, z, name);
          const res = f.resources.get(reservation);
          if (!res) throw bad(`Specified reservation '${name}' does not exist in zone ${z}.`);
          const sr = res.specificReservation;
          const mine = f.resources.get(useKey(p, z, m))?.count ?? 0;
          const free = Number(sr.count) - Number(sr.inUseCount) + mine;
          if (String(sr.instanceProperties.machineType).split('/').pop() !== String(t.properties.machineType))
            throw bad(
              `Specified reservation '${name}' does not match the instance properties: it holds ` +
                `${sr.instanceProperties.machineType}, the template asks for ${t.properties.machineType}.`,
            );
          if (size > free)
            throw bad(
              `Specified reservation '${name}' does not have available resources for the request: ` +
                `${free} of ${sr.count} free, ${size} asked.`,
            );
        }
        return op(f, z, () => {
          if (reservation) {
            if (!f.resources.has(useKey(p, z, m))) f.resources.set(useKey(p, z, m), { reservation, count: 0 });
            consume(f, p, z, m, size);
          } else consume(f, p, z, m, 0);
          mig.targetSize = size;
          const vms = (f.resources.get(vmKey(p, z, m)) as string[] | undefined) ?? [];
          for (let i = vms.length; i < size; i++) vms.push(`${mig.baseInstanceName}-${i}`);
          f.resources.set(vmKey(p, z, m), vms.slice(0, size));
        });
      }),
  );
}
