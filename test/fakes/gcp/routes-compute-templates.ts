// Compute v1 instance templates (global): the machine type, provisioning model (flex-start,
// reservation-bound) and reservation affinity a managed instance group's VMs are made with.
// REST: https://cloud.google.com/compute/docs/reference/rest/v1/instanceTemplates
import { ApiError, ok, type FakeGcp } from './server';
import { GLOBAL, SEG, bad, need, op, seconds, tKey } from './compute-common';

const RESERVATION_NAME_KEY = 'compute.googleapis.com/reservation-name';

export function instanceTemplateRoutes(f: FakeGcp): void {
  f.route(
    'GET',
    new RegExp(`${GLOBAL}/instanceTemplates/${SEG}$`),
    'compute.instanceTemplates.get',
    ({ params: [p, t] }) => {
      const it = f.resources.get(tKey(p, t));
      // Not found: 404 NOT_FOUND (https://cloud.google.com/apis/design/errors).
      if (!it) throw new ApiError(404, `The resource 'projects/${p}/global/instanceTemplates/${t}' was not found`);
      return ok(it);
    },
  );
  f.route('POST', new RegExp(`${GLOBAL}/instanceTemplates$`), 'compute.instanceTemplates.insert', (ctx) =>
    f.idempotent(ctx, () => {
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
      return op(f, undefined, () =>
        f.resources.set(tKey(p, b.name), {
          kind: 'compute#instanceTemplate',
          ...b,
          selfLink: `projects/${p}/global/instanceTemplates/${b.name}`,
        }),
      );
    }),
  );
  f.route('DELETE', new RegExp(`${GLOBAL}/instanceTemplates/${SEG}$`), 'compute.instanceTemplates.delete', (ctx) =>
    f.idempotent(ctx, () => {
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
      return op(f, undefined, () => f.resources.delete(tKey(p, t)));
    }),
  );
}
