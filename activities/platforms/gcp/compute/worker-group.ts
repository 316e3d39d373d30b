// The recipe's step 1: the migration workers' instance template and managed instance group, one of
// each per (migration, database), made get-or-create. The group starts at size 0 with no autoscaler.
// Flex-start: the template uses the FLEX_START provisioning model and workers only come from resize
// requests (flex-start.ts).
// https://cloud.google.com/compute/docs/instance-groups/create-mig-with-flex-start-vms
// https://cloud.google.com/compute/docs/instances/about-flex-start-vms
// Calendar mode: the template consumes the auto-created reservation of the calendar-mode request by
// name (SPECIFIC_RESERVATION, key compute.googleapis.com/reservation-name), and the group is resized
// to the reserved count (instanceGroupManagers.resize) once the reservation exists (calendar.ts).
// https://cloud.google.com/compute/docs/instances/reservations-consume
// https://cloud.google.com/compute/docs/instances/about-reservation-bound-vms
// https://cloud.google.com/compute/docs/instances/create-reservation-bound-vm
// What the VMs run (worker-startup.ts): Container-Optimized OS booting dbmig's worker image on the
// run's data-plane task queue, as the plan's worker service account (InstanceProperties.service_accounts).
// Shapes: google/cloud/compute/v1/compute.proto (InstanceTemplate, InstanceProperties, Scheduling,
// Metadata, ServiceAccount, InstanceGroupManager, InstanceGroupManagerInstanceLifecyclePolicy).
import type { protos } from '@google-cloud/compute';
import { fnv1a } from '../../../../common/naming';
import type { DatabaseTask } from '../../../steps';
import { MigrationError } from '../../../../common/failures';
import type { GcpClients } from '../clients';
import { waitGlobalOperation, waitZoneOperation } from './operations';
import { call, getOrUndefined } from '../errors';
import { DATABASE_LABEL, OWNER_LABEL, gcpRequestId, ownedBy, ownerLabels } from '../names';
import type { PollOptions } from '../poll';
import {
  WORKER_BOOT_IMAGE,
  WORKER_METADATA_KEYS,
  WORKER_SCOPES,
  workerMetadata,
  workerRuntime,
} from './worker-startup';

type Template = protos.google.cloud.compute.v1.IInstanceTemplate;
type Group = protos.google.cloud.compute.v1.IInstanceGroupManager;

/** Flex-start VMs run at most seven days (about-flex-start-vms: "limited run duration"). */
export const HOLD_SECONDS = 7 * 86_400;

const suffix = (task: DatabaseTask) => fnv1a(`${task.migrationId}/${task.database.name}`);

/**
 * Per (migration, database): the plan's names are the prefixes, the hash of (migration, database)
 * the suffix, so one database's release never deletes what another database uses. Compute names
 * are RFC 1035, at most 63 characters.
 */
export function workerGroupNames(task: DatabaseTask) {
  const { project, zone, instanceTemplate, migrationWorkerGroup } = task.gcp!;
  const template = `${instanceTemplate.slice(0, 54)}-${suffix(task)}`;
  const group = `${migrationWorkerGroup.slice(0, 54)}-${suffix(task)}`;
  return {
    template,
    group,
    templateUrl: `projects/${project}/global/instanceTemplates/${template}`,
    groupPath: `projects/${project}/zones/${zone}/instanceGroupManagers/${group}`,
  };
}

/** Instance group managers have no labels: the owner is named in the description, checked on delete. */
export function ownerTag(task: DatabaseTask): string {
  const labels = ownerLabels(task);
  return `${OWNER_LABEL}=${labels[OWNER_LABEL]} ${DATABASE_LABEL}=${labels[DATABASE_LABEL]}`;
}

/** ReservationAffinity.key that targets a SPECIFIC_RESERVATION by name (compute.proto, reservations-consume). */
export const RESERVATION_NAME_KEY = 'compute.googleapis.com/reservation-name';

/**
 * The reservation-bound provisioning model takes the GPU series calendar mode reserves (A4X, A4, A3;
 * about-reservation-bound-vms); other series calendar mode takes (H4D) consume the reservation as
 * STANDARD VMs (reservations-consume). Reservation-bound VMs end (here: are deleted) with the reservation.
 */
const RESERVATION_BOUND_SERIES = ['a4x', 'a4', 'a3'];
const seriesOf = (machineType: string) => machineType.split('/').pop()!.split('-')[0].toLowerCase();

type Scheduling = protos.google.cloud.compute.v1.IScheduling;

/** The provisioning model of VMs that consume a calendar-mode reservation of `machineType`. */
export const consumingModel = (machineType: string) =>
  RESERVATION_BOUND_SERIES.includes(seriesOf(machineType)) ? 'RESERVATION_BOUND' : 'STANDARD';

function consumingScheduling(machineType: string): Scheduling {
  return RESERVATION_BOUND_SERIES.includes(seriesOf(machineType))
    ? {
        // create-reservation-bound-vm: RESERVATION_BOUND, a termination action for the end of the
        // reservation period, host maintenance TERMINATE (GPU VMs cannot live-migrate).
        provisioningModel: 'RESERVATION_BOUND',
        instanceTerminationAction: 'DELETE',
        onHostMaintenance: 'TERMINATE',
        automaticRestart: true,
      }
    : { provisioningModel: 'STANDARD', onHostMaintenance: 'TERMINATE', automaticRestart: true };
}

/**
 * The workers' template: flex-start VMs (no `reservation`), or VMs that consume the named
 * reservation (calendar mode: the future reservation's auto-created reservation).
 */
export function templateRequest(
  task: DatabaseTask,
  reservation?: string,
): protos.google.cloud.compute.v1.IInsertInstanceTemplateRequest {
  const { project, machineType, network } = task.gcp!;
  const { template } = workerGroupNames(task);
  const rt = workerRuntime(task);
  return {
    project,
    requestId: gcpRequestId(task, 'insert', template),
    instanceTemplateResource: {
      name: template,
      description:
        `dbmig migration workers (${reservation ? `reservation ${reservation}` : 'flex-start'}) ` +
        `for ${ownerTag(task)}, serving ${rt.dataPlaneQueue}`,
      properties: {
        machineType,
        labels: ownerLabels(task),
        disks: [
          { boot: true, autoDelete: true, type: 'PERSISTENT', initializeParams: { sourceImage: WORKER_BOOT_IMAGE } },
        ],
        metadata: { items: workerMetadata(rt) },
        serviceAccounts: [{ email: rt.serviceAccount, scopes: WORKER_SCOPES }],
        // No accessConfigs: no external IP; the workers reach sources and targets over the plan's VPC.
        networkInterfaces: [{ network }],
        ...(reservation
          ? {
              scheduling: consumingScheduling(machineType),
              // reservations-consume: VMs that must consume one reservation name it (SPECIFIC_RESERVATION).
              reservationAffinity: {
                consumeReservationType: 'SPECIFIC_RESERVATION',
                key: RESERVATION_NAME_KEY,
                values: [reservation],
              },
            }
          : {
              // about-flex-start-vms: FLEX_START, a termination action, a max run duration of at most 7
              // days; flex-start VMs cannot live-migrate nor consume reservations.
              scheduling: {
                provisioningModel: 'FLEX_START',
                instanceTerminationAction: 'DELETE',
                maxRunDuration: { seconds: HOLD_SECONDS },
                onHostMaintenance: 'TERMINATE',
                automaticRestart: false,
              },
              reservationAffinity: { consumeReservationType: 'NO_RESERVATION' },
            }),
      },
    },
  };
}

/** The request that sets the group's size (calendar mode: to the reserved count). */
export function resizeGroupRequest(
  task: DatabaseTask,
  size: number,
): protos.google.cloud.compute.v1.IResizeInstanceGroupManagerRequest {
  const { project, zone } = task.gcp!;
  const { group } = workerGroupNames(task);
  return {
    project,
    zone,
    instanceGroupManager: group,
    size,
    requestId: gcpRequestId(task, 'resize', group, String(size)),
  };
}

export function groupRequest(task: DatabaseTask): protos.google.cloud.compute.v1.IInsertInstanceGroupManagerRequest {
  const { project, zone } = task.gcp!;
  const { group, templateUrl } = workerGroupNames(task);
  return {
    project,
    zone,
    requestId: gcpRequestId(task, 'insert', group),
    instanceGroupManagerResource: {
      name: group,
      description: `dbmig migration workers for ${ownerTag(task)}`,
      instanceTemplate: templateUrl,
      baseInstanceName: `dbmig-${suffix(task)}`,
      // create-mig-with-flex-start-vms: size 0, no autoscaler, no repair (a flex-start VM that fails
      // cannot be recreated in place).
      targetSize: 0,
      instanceLifecyclePolicy: { defaultActionOnFailure: 'DO_NOTHING' },
    },
  };
}

/** The first field where `have` differs from what the plan needs, as "field: have ≠ want". */
function firstDifference(pairs: [string, unknown, unknown][]): string | undefined {
  const d = pairs.find(([, have, want]) => String(have ?? '') !== String(want ?? ''));
  return d && `${d[0]} is ${JSON.stringify(d[1] ?? null)}, the plan needs ${JSON.stringify(d[2])}`;
}

const last = (url: unknown) =>
  String(url ?? '')
    .split('/')
    .pop();

const metadataValue = (t: Template['properties'], key: string) =>
  t?.metadata?.items?.find((i) => i.key === key)?.value ?? '';

/**
 * The first property where an existing template differs from what the plan needs. The startup
 * script itself is not compared (a newer dbmig may word it differently while the run waits); what it
 * runs is: the image, the Temporal address, namespace and task queue, the API key's secret.
 */
function templateDifference(have: Template, want: Template): string | undefined {
  const h = have.properties ?? {};
  const w = want.properties!;
  const k = WORKER_METADATA_KEYS;
  const settings = [k.image, k.address, k.namespace, k.taskQueue, k.apiKeySecret].map(
    (key): [string, unknown, unknown] => [`properties.metadata ${key}`, metadataValue(h, key), metadataValue(w, key)],
  );
  return firstDifference([
    ['properties.serviceAccounts[0].email', h.serviceAccounts?.[0]?.email, w.serviceAccounts![0].email],
    ...settings,
    ['properties.machineType', last(h.machineType), w.machineType],
    ['properties.scheduling.provisioningModel', h.scheduling?.provisioningModel, w.scheduling!.provisioningModel],
    [
      'properties.scheduling.instanceTerminationAction',
      h.scheduling?.instanceTerminationAction,
      w.scheduling!.instanceTerminationAction,
    ],
    [
      'properties.reservationAffinity.consumeReservationType',
      h.reservationAffinity?.consumeReservationType,
      w.reservationAffinity!.consumeReservationType,
    ],
    [
      'properties.reservationAffinity.values',
      (h.reservationAffinity?.values ?? []).join(','),
      (w.reservationAffinity!.values ?? []).join(','),
    ],
    [
      'properties.disks[0].initializeParams.sourceImage',
      h.disks?.[0]?.initializeParams?.sourceImage,
      w.disks![0].initializeParams!.sourceImage,
    ],
    [
      'properties.networkInterfaces[0].network',
      last(h.networkInterfaces?.[0]?.network),
      last(w.networkInterfaces![0].network),
    ],
    [
      'properties.networkInterfaces[0].accessConfigs (external IP)',
      h.networkInterfaces?.[0]?.accessConfigs?.length ?? 0,
      0,
    ],
  ]);
}

function groupDifference(have: Group, want: Group, task: DatabaseTask): string | undefined {
  if (!String(have.description ?? '').includes(ownerTag(task)))
    return `it was not created by this migration and database (its description does not name ${ownerTag(task)})`;
  return firstDifference([
    ['instanceTemplate', last(have.instanceTemplate), last(want.instanceTemplate)],
    ['status.autoscaler', have.status?.autoscaler ?? '', ''],
  ]);
}

/**
 * Get-or-create of the template (consuming `reservation` when given, else flex-start) and the
 * group; answers the group's name.
 */
export async function ensureWorkerGroup(
  c: GcpClients,
  task: DatabaseTask,
  poll: PollOptions,
  reservation?: string,
): Promise<string> {
  const { project, zone } = task.gcp!;
  const { template, group } = workerGroupNames(task);
  const templates = c.instanceTemplates;
  const groups = c.instanceGroupManagers;

  const tReq = templateRequest(task, reservation);
  const haveT = await getOrUndefined(
    `get instance template ${template}`,
    async () => (await templates.get({ project, instanceTemplate: template }))[0],
  );
  if (haveT) {
    const diff = templateDifference(haveT, tReq.instanceTemplateResource!);
    if (diff) throw new MigrationError('AlreadyExistsMismatch', `instance template ${template} exists: ${diff}`);
  } else {
    const [op] = await call(`create instance template ${template}`, () => templates.insert(tReq));
    await waitGlobalOperation(c, task, op, poll);
  }

  const gReq = groupRequest(task);
  const haveG = await getOrUndefined(
    `get instance group manager ${group}`,
    async () => (await groups.get({ project, zone, instanceGroupManager: group }))[0],
  );
  if (haveG) {
    const diff = groupDifference(haveG, gReq.instanceGroupManagerResource!, task);
    if (diff) throw new MigrationError('AlreadyExistsMismatch', `instance group manager ${group} exists: ${diff}`);
  } else {
    const [op] = await call(`create instance group manager ${group}`, () => groups.insert(gReq));
    await waitZoneOperation(c, task, op, poll);
  }
  return group;
}

/**
 * Sets the group's target size to `size` (instanceGroupManagers.resize), unless it is that size
 * already; the group must exist (ensureWorkerGroup).
 */
export async function resizeWorkerGroup(
  c: GcpClients,
  task: DatabaseTask,
  poll: PollOptions,
  size: number,
): Promise<void> {
  const { project, zone } = task.gcp!;
  const { group } = workerGroupNames(task);
  const groups = c.instanceGroupManagers;
  const [have] = await call(`get instance group manager ${group}`, () =>
    groups.get({ project, zone, instanceGroupManager: group }),
  );
  if (Number(have.targetSize ?? 0) === size) return;
  const [op] = await call(`resize instance group manager ${group} to ${size}`, () =>
    groups.resize(resizeGroupRequest(task, size)),
  );
  await waitZoneOperation(c, task, op, poll);
}

/**
 * Deletes the group (and with it every VM it manages: instanceGroupManagers.delete), then the
 * template, each only when this (migration, database) made it.
 */
export async function deleteWorkerGroup(c: GcpClients, task: DatabaseTask, poll: PollOptions): Promise<void> {
  const { project, zone } = task.gcp!;
  const { template, group } = workerGroupNames(task);
  const templates = c.instanceTemplates;
  const groups = c.instanceGroupManagers;

  const haveG = await getOrUndefined(
    `get instance group manager ${group}`,
    async () => (await groups.get({ project, zone, instanceGroupManager: group }))[0],
  );
  // A group someone else made under this name may use the template: leave both.
  if (haveG && !String(haveG.description ?? '').includes(ownerTag(task))) return;
  if (haveG) {
    const [op] = await call(`delete instance group manager ${group}`, () =>
      groups.delete({ project, zone, instanceGroupManager: group, requestId: gcpRequestId(task, 'delete', group) }),
    );
    await waitZoneOperation(c, task, op, poll);
  }
  const haveT = await getOrUndefined(
    `get instance template ${template}`,
    async () => (await templates.get({ project, instanceTemplate: template }))[0],
  );
  if (haveT && ownedBy(haveT.properties?.labels as Record<string, string> | undefined, task)) {
    const [op] = await call(`delete instance template ${template}`, () =>
      templates.delete({ project, instanceTemplate: template, requestId: gcpRequestId(task, 'delete', template) }),
    );
    await waitGlobalOperation(c, task, op, poll);
  }
}
