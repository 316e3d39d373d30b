// Compute v1: instance templates, managed instance groups (resize, and resize requests for
// flex-start), future reservations (calendar mode) and the reservations they auto-create, which a
// group's VMs consume, zone and global operations. Shapes from the compute v1
// protos in @google-cloud/compute (google/cloud/compute/v1/compute.proto; REST:
// https://cloud.google.com/compute/docs/reference/rest/v1). Each rule names the page it follows.
// Knobs for tests: resources `compute:decline/<future reservation>` (Google declines it) and
// `compute:fail/<resize request>` (no capacity: the request ends FAILED).
/* eslint-disable @typescript-eslint/no-explicit-any -- the fake keeps REST JSON as it comes */
import { ApiError, ok, renderOp, type Ctx, type FakeGcp } from './server';

const SEG = '([^/:]+)';
const RR = 'compute.instanceGroupManagerResizeRequests';
const DAY = 86_400_000;

/**
 * Calendar mode takes GPU (A4X, A4, A3) and H4D machine series, 1 to 80 GPU VMs, for 1 to 90 days,
 * starting from a day to 60 days ahead; once submitted it cannot be cancelled, deleted or modified.
 * https://cloud.google.com/compute/docs/instances/future-reservations-calendar-mode-overview
 * https://cloud.google.com/compute/docs/instances/create-future-reservations-calendar-mode
 */
const CALENDAR_SERIES = ['a4x', 'a4', 'a3', 'h4d'];
/** Reads of a resource before it moves one state on (a fake clock). */
const STEP_POLLS = 1;

const RESERVATION_NAME_KEY = 'compute.googleapis.com/reservation-name';

const bad = (m: string) => new ApiError(400, m);
const series = (machineType: string) => machineType.split('/').pop()!.split('-')[0].toLowerCase();
const seconds = (d: { seconds?: string | number } | undefined) => Number(d?.seconds ?? 0);

export function computeRoutes(f: FakeGcp, migs: Set<string>): void {
  const zone = `^/compute/v1/projects/${SEG}/zones/${SEG}`;
  const global = `^/compute/v1/projects/${SEG}/global`;
  const op = (z: string | undefined, finish?: () => unknown) =>
    ok(renderOp(f.operation('compute', finish, z ? { zone: z } : {})));
  const need = (v: unknown, field: string) => {
    // Compute answers a missing required field this way; the fields a resource needs at insert are its
    // proto's (google/cloud/compute/v1/compute.proto: InstanceTemplate.name, InstanceGroupManager.name and
    // base_instance_name, FutureReservation.name and time_window, "provided by the client when the resource
    // is created").
    if (v === undefined || v === null || v === '') throw bad(`Required field '${field}' not specified`);
  };
  const insert = (ctx: Ctx, make: () => ReturnType<typeof ok>) => f.idempotent(ctx, make);

  // ---- instanceTemplates (global) ----
  const tKey = (p: string, t: string) => `it/${p}/${t}`;
  f.route(
    'GET',
    new RegExp(`${global}/instanceTemplates/${SEG}$`),
    'compute.instanceTemplates.get',
    ({ params: [p, t] }) => {
      const it = f.resources.get(tKey(p, t));
      // Not found: 404 NOT_FOUND (https://cloud.google.com/apis/design/errors).
      if (!it) throw new ApiError(404, `The resource 'projects/${p}/global/instanceTemplates/${t}' was not found`);
      return ok(it);
    },
  );
  f.route('POST', new RegExp(`${global}/instanceTemplates$`), 'compute.instanceTemplates.insert', (ctx) =>
    insert(ctx, () => {
      const [p] = ctx.params;
      const b = ctx.body ?? {};
      need(b.name, 'resource.name');
      need(b.properties?.machineType, 'resource.properties.machineType');
      // The machine type of a template is a bare name (InstanceProperties.machine_type), not a URL.
      // google/cloud/compute/v1/compute.proto InstanceProperties.machine_type: "only accepts a machine type name".
      if (String(b.properties.machineType).includes('/'))
        throw bad('Invalid value for field resource.properties.machineType: must be a machine type name');
      const s = b.properties?.scheduling ?? {};
      // about-flex-start-vms: FLEX_START needs a termination action and a max run duration of at most 7 days.
      // https://cloud.google.com/compute/docs/instances/about-flex-start-vms
      if (s.provisioningModel === 'FLEX_START') {
        if (!s.instanceTerminationAction) throw bad('FLEX_START requires scheduling.instanceTerminationAction');
        if (seconds(s.maxRunDuration) <= 0 || seconds(s.maxRunDuration) > 7 * 86_400)
          throw bad('FLEX_START requires scheduling.maxRunDuration of at most 7 days');
      }
      // ReservationAffinity: SPECIFIC_RESERVATION "must specify key value fields"; by name, the key
      // is compute.googleapis.com/reservation-name (reservations-consume).
      const ra = b.properties?.reservationAffinity ?? {};
      // https://cloud.google.com/compute/docs/instances/reservations-consume
      if (ra.consumeReservationType === 'SPECIFIC_RESERVATION') {
        if (ra.key !== RESERVATION_NAME_KEY || !ra.values?.length)
          throw bad(
            `Invalid value for field resource.properties.reservationAffinity: SPECIFIC_RESERVATION needs ` +
              `key '${RESERVATION_NAME_KEY}' and the reservation's name in values`,
          );
      }
      // about-reservation-bound-vms: RESERVATION_BOUND VMs consume a specific reservation and say what
      // happens to them at its end (a termination action); flex-start VMs cannot consume reservations.
      // https://cloud.google.com/compute/docs/instances/about-reservation-bound-vms
      if (s.provisioningModel === 'RESERVATION_BOUND') {
        if (ra.consumeReservationType !== 'SPECIFIC_RESERVATION')
          throw bad('RESERVATION_BOUND requires reservationAffinity.consumeReservationType SPECIFIC_RESERVATION');
        if (!s.instanceTerminationAction) throw bad('RESERVATION_BOUND requires scheduling.instanceTerminationAction');
      }
      // Flex-start VMs do not consume reservations:
      // https://cloud.google.com/compute/docs/instances/about-flex-start-vms
      if (
        s.provisioningModel === 'FLEX_START' &&
        ra.consumeReservationType &&
        ra.consumeReservationType !== 'NO_RESERVATION'
      )
        throw bad('FLEX_START VMs cannot consume reservations: reservationAffinity must be NO_RESERVATION');
      // A name taken: 409 ALREADY_EXISTS (https://cloud.google.com/apis/design/errors).
      if (f.resources.has(tKey(p, b.name)))
        throw new ApiError(409, `The resource 'projects/${p}/global/instanceTemplates/${b.name}' already exists`);
      return op(undefined, () =>
        f.resources.set(tKey(p, b.name), {
          kind: 'compute#instanceTemplate',
          ...b,
          selfLink: `projects/${p}/global/instanceTemplates/${b.name}`,
        }),
      );
    }),
  );
  f.route('DELETE', new RegExp(`${global}/instanceTemplates/${SEG}$`), 'compute.instanceTemplates.delete', (ctx) =>
    insert(ctx, () => {
      const [p, t] = ctx.params;
      // https://cloud.google.com/apis/design/errors (404 NOT_FOUND)
      if (!f.resources.has(tKey(p, t)))
        throw new ApiError(404, `The resource 'projects/${p}/global/instanceTemplates/${t}' was not found`);
      // A template a MIG uses cannot be deleted (resourceInUseByAnotherResource).
      const user = [...f.resources.entries()].find(
        ([k, v]) => k.startsWith(`mig/${p}/`) && String(v.instanceTemplate).endsWith(`/instanceTemplates/${t}`),
      );
      // "It is not possible to delete templates that are already in use by a managed instance group":
      // https://cloud.google.com/compute/docs/reference/rest/v1/instanceTemplates/delete
      if (user) throw bad(`The instance_template resource '${t}' is already being used by '${user[1].name}'`);
      return op(undefined, () => f.resources.delete(tKey(p, t)));
    }),
  );
  f.route('GET', new RegExp(`${global}/operations/${SEG}$`), 'compute.globalOperations.get', ({ params: [, o] }) =>
    ok(renderOp(f.poll(o))),
  );

  // ---- instanceGroupManagers (zonal) ----
  const mKey = (p: string, z: string, m: string) => `mig/${p}/${z}/${m}`;
  const vmKey = (p: string, z: string, m: string) => `compute:vms/${p}/${z}/${m}`;
  /** A MIG named in createFakeGcp's `migs` exists already, made by someone else. */
  const getMig = (p: string, z: string, m: string) => {
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
    if (!mig)
      throw new ApiError(404, `The resource 'projects/${p}/zones/${z}/instanceGroupManagers/${m}' was not found`);
    return mig;
  };
  f.route(
    'GET',
    new RegExp(`${zone}/instanceGroupManagers/${SEG}$`),
    'compute.instanceGroupManagers.get',
    ({ params: [p, z, m] }) => ok(getMig(p, z, m)),
  );
  f.route('POST', new RegExp(`${zone}/instanceGroupManagers$`), 'compute.instanceGroupManagers.insert', (ctx) =>
    insert(ctx, () => {
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
      return op(z, () => {
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
    new RegExp(`${zone}/instanceGroupManagers/${SEG}$`),
    'compute.instanceGroupManagers.delete',
    (ctx) =>
      insert(ctx, () => {
        const [p, z, m] = ctx.params;
        getMig(p, z, m);
        // instanceGroupManagers.delete: "deletes the group and all instances it manages".
        return op(z, () => {
          consume(p, z, m, 0);
          f.resources.delete(mKey(p, z, m));
          f.resources.delete(vmKey(p, z, m));
          for (const k of [...f.resources.keys()]) if (k.startsWith(`rr/${p}/${z}/${m}/`)) f.resources.delete(k);
        });
      }),
  );
  f.route(
    'POST',
    new RegExp(`${zone}/instanceGroupManagers/${SEG}/listManagedInstances$`),
    'compute.instanceGroupManagers.listManagedInstances',
    ({ params: [p, z, m] }) => {
      getMig(p, z, m);
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
  // The VMs of a group whose template has a SPECIFIC_RESERVATION affinity consume that reservation
  // in the group's zone (reservations-consume): it must exist, match the machine type and have
  // enough unused count, else the VMs cannot be created. The fake refuses such a resize outright.
  const resKey = (p: string, z: string, r: string) => `res/${p}/${z}/${r}`;
  const useKey = (p: string, z: string, m: string) => `compute:consumes/${p}/${z}/${m}`;
  /** Sets how many VMs of group `m` hold their reservation (0: none; on delete or a size-0 resize). */
  const consume = (p: string, z: string, m: string, n: number) => {
    const use = f.resources.get(useKey(p, z, m));
    const res = use && f.resources.get(use.reservation);
    if (res) res.specificReservation.inUseCount = String(Number(res.specificReservation.inUseCount) - use.count);
    f.resources.delete(useKey(p, z, m));
    if (n > 0 && use) {
      const now = f.resources.get(use.reservation);
      if (now) now.specificReservation.inUseCount = String(Number(now.specificReservation.inUseCount) + n);
      f.resources.set(useKey(p, z, m), { reservation: use.reservation, count: n });
    }
  };
  f.route(
    'POST',
    new RegExp(`${zone}/instanceGroupManagers/${SEG}/resize$`),
    'compute.instanceGroupManagers.resize',
    (ctx) =>
      insert(ctx, () => {
        const [p, z, m] = ctx.params;
        const mig = getMig(p, z, m);
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
        return op(z, () => {
          if (reservation) {
            if (!f.resources.has(useKey(p, z, m))) f.resources.set(useKey(p, z, m), { reservation, count: 0 });
            consume(p, z, m, size);
          } else consume(p, z, m, 0);
          mig.targetSize = size;
          const vms = (f.resources.get(vmKey(p, z, m)) as string[] | undefined) ?? [];
          for (let i = vms.length; i < size; i++) vms.push(`${mig.baseInstanceName}-${i}`);
          f.resources.set(vmKey(p, z, m), vms.slice(0, size));
        });
      }),
  );

  // ---- resize requests (flex-start) ----
  // about-resize-requests-mig: ACCEPTED → CREATING → SUCCEEDED (the MIG's target size grows by
  // resizeBy and the VMs are created all at once) or FAILED; cancel only while ACCEPTED or CREATING;
  // delete refused while ACCEPTED or CREATING; deleting a request leaves the VMs it created.
  const rr = `${zone}/instanceGroupManagers/${SEG}/resizeRequests`;
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
    getMig(p, z, m);
    const res = f.resources.get(rKey(p, z, m, r));
    // https://cloud.google.com/apis/design/errors (404 NOT_FOUND)
    if (!res)
      throw new ApiError(
        404,
        `The resource 'projects/${p}/zones/${z}/instanceGroupManagers/${m}/resizeRequests/${r}' was not found`,
      );
    return res;
  };
  const render = ({ _reads, ...res }: Record<string, unknown>) => (void _reads, res);
  f.route('GET', new RegExp(`${rr}/${SEG}$`), `${RR}.get`, ({ params: [p, z, m, r] }) => {
    const res = getRr(p, z, m, r);
    advance(p, z, m, res);
    return ok(render(res));
  });
  // instanceGroupManagerResizeRequests.list (InstanceGroupManagerResizeRequestsListResponse.items).
  f.route('GET', new RegExp(`${rr}$`), `${RR}.list`, ({ params: [p, z, m] }) => {
    getMig(p, z, m);
    const items = [...f.resources.entries()]
      .filter(([k]) => k.startsWith(`rr/${p}/${z}/${m}/`))
      .map(([, res]) => (advance(p, z, m, res), render(res)));
    return ok({ kind: 'compute#instanceGroupManagerResizeRequestList', ...(items.length ? { items } : {}) });
  });
  f.route('POST', new RegExp(`${rr}$`), `${RR}.insert`, (ctx) =>
    insert(ctx, () => {
      const [p, z, m] = ctx.params;
      const mig = getMig(p, z, m);
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
      return op(z, () =>
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
    insert(ctx, () => {
      const [p, z, m, r] = ctx.params;
      const res = getRr(p, z, m, r);
      // google/cloud/compute/v1/compute.proto InstanceGroupManagerResizeRequests.Cancel: "Cancel is only
      // possible for requests that are accepted in the queue".
      if (res.state !== 'ACCEPTED' && res.state !== 'CREATING')
        throw bad(`resize request ${r} is ${res.state}; only ACCEPTED or CREATING can be cancelled`);
      return op(z, () => (res.state = 'CANCELLED'));
    }),
  );
  f.route('DELETE', new RegExp(`${rr}/${SEG}$`), `${RR}.delete`, (ctx) =>
    insert(ctx, () => {
      const [p, z, m, r] = ctx.params;
      const res = getRr(p, z, m, r);
      // google/cloud/compute/v1/compute.proto InstanceGroupManagerResizeRequests.Delete: "Deletes the
      // specified, inactive resize request. Requests that are still active cannot be deleted."
      if (res.state === 'ACCEPTED' || res.state === 'CREATING')
        throw bad(`resize request ${r} is ${res.state}; cancel it before deleting`);
      return op(z, () => f.resources.delete(rKey(p, z, m, r)));
    }),
  );

  // ---- future reservations ----
  // FutureReservationStatus.ProcurementStatus: SUBMITTED requests go PENDING_APPROVAL → APPROVED →
  // PROVISIONING (after start_time, reservations being created) → FULFILLED, or DECLINED.
  const frKey = (p: string, z: string, n: string) => `fr/${p}/${z}/${n}`;
  const getFr = (p: string, z: string, n: string) => {
    const fr = f.resources.get(frKey(p, z, n));
    // https://cloud.google.com/apis/design/errors (404 NOT_FOUND)
    if (!fr) throw new ApiError(404, `The resource 'projects/${p}/zones/${z}/futureReservations/${n}' was not found`);
    return fr;
  };
  const NEXT: Record<string, string> = {
    PENDING_APPROVAL: 'APPROVED',
    APPROVED: 'PROVISIONING',
    PROVISIONING: 'FULFILLED',
  };
  const step = (p: string, z: string, fr: any) => {
    const s = fr.status.procurementStatus;
    if (!NEXT[s] || ++fr._reads < STEP_POLLS) return;
    fr._reads = 0;
    if (s === 'PENDING_APPROVAL' && f.resources.has(`compute:decline/${fr.name}`))
      return void (fr.status.procurementStatus = 'DECLINED');
    fr.status.procurementStatus = NEXT[s];
    if (NEXT[s] === 'FULFILLED') {
      // At the start time Compute Engine creates the reservation(s) (auto-created reservations).
      const res = fr.reservationName ?? `${fr.name}-${Date.now()}`;
      const url = `projects/${p}/zones/${z}/reservations/${res}`;
      fr.status.autoCreatedReservations = [url];
      fr.status.fulfilledCount = fr.specificSkuProperties.totalCount;
      f.resources.set(`res/${p}/${z}/${res}`, {
        kind: 'compute#reservation',
        name: res,
        zone: z,
        selfLink: url,
        specificReservationRequired: !!fr.specificReservationRequired,
        specificReservation: {
          count: String(fr.specificSkuProperties.totalCount),
          inUseCount: '0',
          instanceProperties: { ...fr.specificSkuProperties.instanceProperties },
        },
        status: 'READY',
      });
    }
  };
  f.route(
    'GET',
    new RegExp(`${zone}/futureReservations/${SEG}$`),
    'compute.futureReservations.get',
    ({ params: [p, z, n] }) => {
      const fr = getFr(p, z, n);
      step(p, z, fr);
      return ok(render(fr));
    },
  );
  f.route('POST', new RegExp(`${zone}/futureReservations$`), 'compute.futureReservations.insert', (ctx) =>
    insert(ctx, () => {
      const [p, z] = ctx.params;
      const b = ctx.body ?? {};
      need(b.name, 'resource.name');
      need(b.timeWindow?.startTime, 'resource.timeWindow.startTime');
      // A future reservation's period ends at an end time or after a duration
      // (google/cloud/compute/v1/compute.proto FutureReservationTimeWindow).
      if (!b.timeWindow.endTime && !b.timeWindow.duration)
        throw bad("Required field 'resource.timeWindow.endTime' not specified");
      const sku = b.specificSkuProperties;
      if (!sku?.sourceInstanceTemplate)
        need(sku?.instanceProperties?.machineType, 'resource.specificSkuProperties.instanceProperties.machineType');
      need(sku?.totalCount, 'resource.specificSkuProperties.totalCount');
      const start = Date.parse(b.timeWindow.startTime);
      const end = b.timeWindow.endTime
        ? Date.parse(b.timeWindow.endTime)
        : start + seconds(b.timeWindow.duration) * 1000;
      // google/cloud/compute/v1/compute.proto FutureReservationTimeWindow: a period from start_time on.
      if (!(end > start)) throw bad('timeWindow.endTime must be after timeWindow.startTime');
      // https://cloud.google.com/compute/docs/instances/future-reservations-calendar-mode-overview
      if (b.reservationMode === 'CALENDAR') {
        const mt = sku.instanceProperties?.machineType ?? '';
        if (!CALENDAR_SERIES.includes(series(mt)))
          throw bad(
            `Calendar mode does not offer machine type ${mt}: ` +
              `only the ${CALENDAR_SERIES.join(', ')} machine series (GPU and H4D VMs)`,
          );
        if (Number(sku.totalCount) < 1 || Number(sku.totalCount) > 80)
          throw bad('Calendar mode reserves 1 to 80 GPU VMs per request');
        const days = (end - start) / DAY;
        if (days < 1 || days > 90) throw bad(`Calendar mode reserves for 1 to 90 days, not ${days.toFixed(2)}`);
        const ahead = (start - Date.now()) / DAY;
        if (ahead < 1 - 1 / 24 || ahead > 60)
          throw bad(
            `Calendar mode requests start 1 to 60 days ahead; timeWindow.startTime is ${ahead.toFixed(2)} days ahead`,
          );
      }
      // https://cloud.google.com/apis/design/errors (409 ALREADY_EXISTS)
      if (f.resources.has(frKey(p, z, b.name)))
        throw new ApiError(409, `The resource 'projects/${p}/zones/${z}/futureReservations/${b.name}' already exists`);
      const submitted = b.planningStatus === 'SUBMITTED';
      return op(z, () =>
        f.resources.set(frKey(p, z, b.name), {
          kind: 'compute#futureReservation',
          ...b,
          zone: z,
          status: { procurementStatus: submitted ? 'PENDING_APPROVAL' : 'DRAFTING' },
          _reads: 0,
        }),
      );
    }),
  );
  /** A submitted calendar-mode request cannot be cancelled or deleted:
   * https://cloud.google.com/compute/docs/instances/create-future-reservations-calendar-mode */
  const endable = (fr: any, verb: string) => {
    if (fr.reservationMode === 'CALENDAR' && fr.planningStatus === 'SUBMITTED')
      throw bad(`A calendar-mode future reservation cannot be ${verb} after it is submitted`);
  };
  f.route('POST', new RegExp(`${zone}/futureReservations/${SEG}/cancel$`), 'compute.futureReservations.cancel', (ctx) =>
    insert(ctx, () => {
      const [p, z, n] = ctx.params;
      const fr = getFr(p, z, n);
      endable(fr, 'cancelled');
      // A request can be cancelled only before its lock time:
      // https://cloud.google.com/compute/docs/instances/delete-future-reservations
      if (['PROVISIONING', 'FULFILLED'].includes(fr.status.procurementStatus))
        throw bad(`future reservation ${n} is ${fr.status.procurementStatus}; it can no longer be cancelled`);
      return op(z, () => (fr.status.procurementStatus = 'CANCELLED'));
    }),
  );
  f.route('DELETE', new RegExp(`${zone}/futureReservations/${SEG}$`), 'compute.futureReservations.delete', (ctx) =>
    insert(ctx, () => {
      const [p, z, n] = ctx.params;
      const fr = getFr(p, z, n);
      endable(fr, 'deleted');
      // Deleting a (non-calendar) future reservation leaves its auto-created reservations in place.
      return op(z, () => f.resources.delete(frKey(p, z, n)));
    }),
  );

  // ---- advice.calendarMode (service Advice, compute.proto) ----
  // Recommends a zone and window for one resource spec, and says for each other location why not
  // (FutureResourcesRecommendationOtherLocation.Status). The rules are calendar mode's own
  // (future-reservations-calendar-mode-overview, create-future-reservations-calendar-mode): the
  // machine series it offers (else NOT_SUPPORTED), 1 to 80 VMs for 1 to 90 days starting 1 to 60
  // days ahead (else CONDITIONS_NOT_MET). The fake knows only the zones the request's location
  // policy allows; knob `compute:no-capacity/<zone>` makes a zone answer NO_CAPACITY.
  f.route(
    'POST',
    new RegExp(`^/compute/v1/projects/${SEG}/regions/${SEG}/advice/calendarMode$`),
    'compute.advice.calendarMode',
    (ctx) => {
      const specs = Object.entries<any>(ctx.body?.futureResourcesSpecs ?? {});
      // CalendarModeAdviceRequest.future_resources_specs: "Currently only one value is allowed in this map."
      if (specs.length !== 1)
        throw ApiError.invalid('futureResourcesSpecs', `exactly one resource spec is allowed, not ${specs.length}`);
      const [[key, spec]] = specs;
      const sku = spec.targetResources?.specificSkuResources ?? {};
      const range = spec.timeRangeSpec ?? {};
      const start = Date.parse(range.startTimeNotEarlierThan ?? '');
      const days = Number(String(range.maxDuration ?? range.minDuration ?? '0s').replace(/s$/, '')) / 86_400;
      const ahead = (start - Date.now()) / DAY;
      const count = Number(sku.instanceCount ?? 0);
      const zones = Object.entries<any>(spec.locationPolicy?.locations ?? {})
        .filter(([, l]) => l.preference !== 'DENY')
        .map(([z]) => z);
      const why = (z: string): { status: string; details: string } | undefined => {
        if (!CALENDAR_SERIES.includes(series(String(sku.machineType ?? ''))))
          return { status: 'NOT_SUPPORTED', details: `calendar mode does not offer ${sku.machineType}` };
        if (!(count >= 1 && count <= 80)) return { status: 'CONDITIONS_NOT_MET', details: '1 to 80 VMs per request' };
        if (!(days >= 1 && days <= 90)) return { status: 'CONDITIONS_NOT_MET', details: 'a duration of 1 to 90 days' };
        if (!(ahead >= 1 - 1 / 24 && ahead <= 60))
          return { status: 'CONDITIONS_NOT_MET', details: 'a start 1 to 60 days ahead' };
        if (f.resources.has(`compute:no-capacity/${z.split('/').pop()}`))
          return { status: 'NO_CAPACITY', details: 'no capacity for the requested window' };
        return undefined;
      };
      const location = zones.find((z) => !why(z));
      const otherLocations = Object.fromEntries(
        zones.filter((z) => z !== location).map((z) => [z, why(z) ?? { status: 'RECOMMENDED', details: '' }]),
      );
      const rec = {
        recommendationType: 'FUTURE_RESERVATION',
        ...(location
          ? {
              location,
              startTime: new Date(start).toISOString(),
              endTime: new Date(start + days * DAY).toISOString(),
              recommendationId: `rec-${f.random().toString(16).slice(2, 10)}`,
            }
          : {}),
        ...(Object.keys(otherLocations).length ? { otherLocations } : {}),
      };
      return ok({ recommendations: [{ recommendationsPerSpec: { [key]: rec } }] });
    },
  );

  f.route('GET', new RegExp(`${zone}/operations/${SEG}$`), 'compute.zoneOperations.get', ({ params: [, , o] }) =>
    ok(renderOp(f.poll(o))),
  );
}
