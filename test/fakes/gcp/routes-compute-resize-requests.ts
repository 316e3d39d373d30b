// Compute v1 resize requests of a managed instance group (flex-start: the VMs are created all at
// once, or not at all). Knob for tests: resource `compute:fail/<resize request>` (no capacity: the
// request ends FAILED).
// REST: https://cloud.google.com/compute/docs/reference/rest/v1/instanceGroupManagerResizeRequests
/* eslint-disable @typescript-eslint/no-explicit-any -- the fake keeps REST JSON as it comes */
import { ApiError, ok, type FakeGcp } from './server';
import { SEG, STEP_POLLS, ZONE, bad, mKey, need, op, render, seconds, vmKey } from './compute-common';
import { getMig } from './routes-compute-groups';

const RR = 'compute.instanceGroupManagerResizeRequests';

export function resizeRequestRoutes(f: FakeGcp, migs: Set<string>): void {
  // about-resize-requests-mig: ACCEPTED → CREATING → SUCCEEDED (the MIG's target size grows by
  // resizeBy and the VMs are created all at once) or FAILED; cancel only while ACCEPTED or CREATING;
  // delete refused while ACCEPTED or CREATING; deleting a request leaves the VMs it created.
  const rr = `${ZONE}/instanceGroupManagers/${SEG}/resizeRequests`;
  const rKey = (p: string, z: string, m: string, r: string) => `rr/${p}/${z}/${m}/${r}`;
  const advance = (p: string, z: string, m: string, res: any) => {
    if (!['ACCEPTED', 'CREATING'].includes(res.state) || ++res._reads < STEP_POLLS) return;
    res._reads = 0;
    if (f.resources.has(`compute:fail/${res.name}`)) {
      res.state = 'FAILED';
      res.status = {
        error: { errors: [{ code: 'ZONE_RESOURCE_POOL_EXHAUSTED', message: 'no capacity within the wait' }] },
      };
    } else if (res.state === 'ACCEPTED') res.state = 'CREATING';
    else {
      res.state = 'SUCCEEDED';
      const mig = f.resources.get(mKey(p, z, m));
      const vms: string[] = f.resources.get(vmKey(p, z, m)) ?? [];
      for (let i = 0; i < res.resizeBy; i++) vms.push(`${mig.baseInstanceName}-${res.name}-${i}`);
      f.resources.set(vmKey(p, z, m), vms);
      mig.targetSize = (mig.targetSize ?? 0) + res.resizeBy;
    }
  };
  const getRr = (p: string, z: string, m: string, r: string) => {
    getMig(f, migs, p, z, m);
    const res = f.resources.get(rKey(p, z, m, r));
    // https://cloud.google.com/apis/design/errors (404 NOT_FOUND)
    if (!res)
      throw new ApiError(
        404,
        `The resource 'projects/${p}/zones/${z}/instanceGroupManagers/${m}/resizeRequests/${r}' was not found`,
      );
    return res;
  };
  f.route('GET', new RegExp(`${rr}/${SEG}$`), `${RR}.get`, ({ params: [p, z, m, r] }) => {
    const res = getRr(p, z, m, r);
    advance(p, z, m, res);
    return ok(render(res));
  });
  // instanceGroupManagerResizeRequests.list (InstanceGroupManagerResizeRequestsListResponse.items).
  f.route('GET', new RegExp(`${rr}$`), `${RR}.list`, ({ params: [p, z, m] }) => {
    getMig(f, migs, p, z, m);
    const items = [...f.resources.entries()]
      .filter(([k]) => k.startsWith(`rr/${p}/${z}/${m}/`))
      .map(([, res]) => (advance(p, z, m, res), render(res)));
    return ok({ kind: 'compute#instanceGroupManagerResizeRequestList', ...(items.length ? { items } : {}) });
  });
  f.route('POST', new RegExp(`${rr}$`), `${RR}.insert`, (ctx) =>
    f.idempotent(ctx, () => {
      const [p, z, m] = ctx.params;
      const mig = getMig(f, migs, p, z, m);
      const b = ctx.body ?? {};
      need(b.name, 'resource.name');
      // google/cloud/compute/v1/compute.proto InstanceGroupManagerResizeRequest: resize_by and instances
      // "cannot be used together"; and one of them says how many VMs to create.
      if (!b.resizeBy === !b.instances?.length) throw bad('Exactly one of resizeBy or instances must be set');
      const run = seconds(b.requestedRunDuration);
      // "The value must be between 10m (10 minutes) and 7d (7 days)":
      // https://cloud.google.com/sdk/gcloud/reference/compute/instance-groups/managed/resize-requests/create
      if (run < 600 || run > 7 * 86_400) throw bad('requestedRunDuration must be between 10 minutes and 7 days');
      // No template rule: resize requests serve groups whose VMs are FLEX_START or consume a
      // reservation (https://cloud.google.com/sdk/gcloud/reference/compute/instance-groups/managed/resize-requests/create,
      // --requested-run-duration: "If you want the managed instance group to consume a reservation
      // or use FLEX_START provisioning model"). No autoscaler on the group:
      // https://cloud.google.com/compute/docs/instance-groups/create-mig-with-flex-start-vms
      if (mig.status?.autoscaler) throw bad('Resize requests are not supported in a MIG with an autoscaler');
      // https://cloud.google.com/apis/design/errors (409 ALREADY_EXISTS)
      if (f.resources.has(rKey(p, z, m, b.name)))
        throw new ApiError(
          409,
          `The resource 'projects/${p}/zones/${z}/instanceGroupManagers/${m}/resizeRequests/${b.name}' already exists`,
        );
      return op(f, z, () =>
        f.resources.set(rKey(p, z, m, b.name), {
          kind: 'compute#instanceGroupManagerResizeRequest',
          ...b,
          state: 'ACCEPTED',
          zone: z,
          _reads: 0,
        }),
      );
    }),
  );
  f.route('POST', new RegExp(`${rr}/${SEG}/cancel$`), `${RR}.cancel`, (ctx) =>
    f.idempotent(ctx, () => {
      const [p, z, m, r] = ctx.params;
      const res = getRr(p, z, m, r);
      // google/cloud/compute/v1/compute.proto InstanceGroupManagerResizeRequests.Cancel: "Cancel is only
      // possible for requests that are accepted in the queue".
      if (res.state !== 'ACCEPTED' && res.state !== 'CREATING')
        throw bad(`resize request ${r} is ${res.state}; only ACCEPTED or CREATING can be cancelled`);
      return op(f, z, () => (res.state = 'CANCELLED'));
    }),
  );
  f.route('DELETE', new RegExp(`${rr}/${SEG}$`), `${RR}.delete`, (ctx) =>
    f.idempotent(ctx, () => {
      const [p, z, m, r] = ctx.params;
      const res = getRr(p, z, m, r);
      // google/cloud/compute/v1/compute.proto InstanceGroupManagerResizeRequests.Delete: "Deletes the
      // specified, inactive resize request. Requests that are still active cannot be deleted."
      if (res.state === 'ACCEPTED' || res.state === 'CREATING')
        throw bad(`resize request ${r} is ${res.state}; cancel it before deleting`);
      return op(f, z, () => f.resources.delete(rKey(p, z, m, r)));
    }),
  );
}
