// The recipe's monitoring step, once per migration: a Cloud Monitoring dashboard and three alert
// policies (DMS lag warning, lag critical, failed job) notifying the plan's channels, removed when
// the fleet has finished unless gcp.monitoring.keep. APIs: Monitoring v3 AlertPolicyService
// (google/monitoring/v3/alert_service.proto), NotificationChannelService (notification_service.proto)
// and Dashboards v1 (google/monitoring/dashboard/v1/dashboards_service.proto).
//
// Get-or-create without request ids (none of these methods takes one): the dashboard has a
// caller-chosen id, so a second create is a 409; alert policy ids are assigned by the server, so a
// policy is looked up by its labels before every create attempt, and a lost response is found on
// the retry instead of being created twice.
import type { protos } from '@google-cloud/monitoring';
import { MigrationError } from '../../../../common/failures';
import { type FleetTask, type PlannedOperation, type PreparedMigration } from '../../../steps';
import type { GcpClients } from '../clients';
import { call, getOrUndefined, isAlreadyExists, isNotFound } from '../errors';
import { OWNER_LABEL } from '../names';
import { planned, plannedCall } from '../planned';
import { dashboardBody, dashboardName } from './dashboard';
import { alertPolicySpecs, type AlertKey, type PolicySpec } from './policies';
import { ALERT_LABEL, SPEC_LABEL, isOurs, monitoringProject, ownerValue } from './scope';

type AlertPolicy = protos.google.monitoring.v3.IAlertPolicy;

/** The Monitoring clients this step uses; GcpClients (clients.ts) makes them lazily. */
export type MonitoringClients = Pick<GcpClients, 'alertPolicies' | 'channels' | 'dashboards'>;

/**
 * Every channel the plan names must exist (NotificationChannelService.GetNotificationChannel): a
 * policy pointing at a missing one would be refused, and the plan's field is what to fix.
 */
async function checkChannels(c: MonitoringClients, fleet: FleetTask): Promise<void> {
  const channels = fleet.gcp!.monitoring.notificationChannels;
  for (const [i, name] of channels.entries()) {
    const found = await getOrUndefined(`get notification channel ${name}`, () =>
      c.channels.getNotificationChannel({ name }),
    );
    if (!found)
      throw new MigrationError(
        'InvalidPlan',
        `gcp.monitoring.notificationChannels[${i}]: ${name} does not exist (create it, or remove it from the plan)`,
      );
  }
}

async function ensureDashboard(c: MonitoringClients, fleet: FleetTask): Promise<string> {
  const name = dashboardName(fleet);
  const want = dashboardBody(fleet);
  const get = () => getOrUndefined(`get dashboard ${name}`, async () => (await c.dashboards.getDashboard({ name }))[0]);
  let have = await get();
  if (!have) {
    // A 409 is the create of an earlier attempt whose answer was lost (or a concurrent one).
    const created = await call(`create dashboard ${name}`, () =>
      c.dashboards.createDashboard({ parent: `projects/${monitoringProject(fleet)}`, dashboard: want }).then(
        ([d]) => d,
        (err: unknown) => (isAlreadyExists(err) ? undefined : Promise.reject(err)),
      ),
    );
    if (created) return name;
    have = await get();
    if (!have) throw new Error(`dashboard ${name}: create answered 409 but get finds none (retryable)`);
  }
  if (!isOurs(have.labels, fleet))
    throw new MigrationError(
      'AlreadyExistsMismatch',
      `dashboard ${name} exists without label ${OWNER_LABEL}=${ownerValue(fleet)}: it is not this migration's, ` +
        'and it is left as it is',
    );
  // Ours, from another definition (older code): replaced whole, with its etag so a concurrent
  // edit is refused rather than overwritten (Dashboard.etag).
  if (have.labels?.[SPEC_LABEL] !== want.labels?.[SPEC_LABEL])
    await call(`update dashboard ${name}`, () =>
      c.dashboards.updateDashboard({ dashboard: { ...want, etag: have.etag } }),
    );
  return name;
}

/**
 * The migration's policies, by AlertPolicyService.ListAlertPolicies with a filter on user labels
 * (https://cloud.google.com/monitoring/api/v3/sorting-and-filtering); the labels are checked again
 * here, so a filter the server read more loosely can never make another's policy ours.
 */
async function listOurPolicies(c: MonitoringClients, fleet: FleetTask, key?: AlertKey): Promise<AlertPolicy[]> {
  const filter = [
    `user_labels."${OWNER_LABEL}" = "${ownerValue(fleet)}"`,
    ...(key ? [`user_labels."${ALERT_LABEL}" = "${key}"`] : []),
  ].join(' AND ');
  const [policies] = await c.alertPolicies.listAlertPolicies({ name: `projects/${monitoringProject(fleet)}`, filter });
  return policies
    .filter((p) => isOurs(p.userLabels as Record<string, string>, fleet))
    .filter((p) => !key || p.userLabels?.[ALERT_LABEL] === key)
    .sort((a, b) => (a.name ?? '').localeCompare(b.name ?? ''));
}

async function ensurePolicy(c: MonitoringClients, fleet: FleetTask, spec: PolicySpec): Promise<string> {
  const doing = `alert policy ${spec.key} of migration ${fleet.migrationId}`;
  // Each attempt looks before it creates: an earlier attempt's create may have been applied and
  // its answer lost, and alertPolicies.create has no request id to recognise it by.
  const [keep, ...extra] = await call(`create ${doing}`, async () => {
    const found = await listOurPolicies(c, fleet, spec.key);
    if (found.length) return found;
    const [created] = await c.alertPolicies.createAlertPolicy({
      name: `projects/${monitoringProject(fleet)}`,
      alertPolicy: spec.body,
    });
    return [created];
  });
  // Two of the same key can only come from creates that raced: ours alike, the later ones go.
  for (const p of extra) await deletePolicy(c, p.name!);
  if (keep.userLabels?.[SPEC_LABEL] !== spec.body.userLabels?.[SPEC_LABEL])
    // No update mask: the whole policy is replaced and keeps its id, so its incidents continue
    // (UpdateAlertPolicyRequest.update_mask).
    await call(`update ${doing}`, () =>
      c.alertPolicies.updateAlertPolicy({ alertPolicy: { ...spec.body, name: keep.name } }),
    );
  return keep.name!;
}

async function deletePolicy(c: MonitoringClients, name: string): Promise<void> {
  await call(`delete alert policy ${name}`, () =>
    c.alertPolicies.deleteAlertPolicy({ name }).then(
      () => undefined,
      (err: unknown) => (isNotFound(err) ? undefined : Promise.reject(err)),
    ),
  );
}

/** Get-or-create of the migration's dashboard and alert policies; returns their names. */
export async function ensureMonitoring(c: MonitoringClients, fleet: FleetTask): Promise<PreparedMigration> {
  monitoringProject(fleet);
  await checkChannels(c, fleet);
  const resources = [await ensureDashboard(c, fleet)];
  // One at a time: "single-thread API calls that modify the state of alerting policies in a single
  // project" (alert_service.proto, CreateAlertPolicy).
  for (const spec of alertPolicySpecs(fleet)) resources.push(await ensurePolicy(c, fleet, spec));
  return { resources };
}

/**
 * Deletes what carries this migration's label, nothing else; nothing at all when `keep`
 * (gcp.monitoring.keep). Returns the names deleted.
 */
export async function removeMonitoring(
  c: MonitoringClients,
  fleet: FleetTask,
  keep = fleet.gcp?.monitoring.keep ?? false,
): Promise<string[]> {
  monitoringProject(fleet);
  if (keep) return [];
  const deleted: string[] = [];
  const name = dashboardName(fleet);
  const dashboard = await getOrUndefined(
    `get dashboard ${name}`,
    async () => (await c.dashboards.getDashboard({ name }))[0],
  );
  if (dashboard && isOurs(dashboard.labels, fleet)) {
    await call(`delete dashboard ${name}`, () =>
      c.dashboards.deleteDashboard({ name }).then(
        () => undefined,
        (err: unknown) => (isNotFound(err) ? undefined : Promise.reject(err)),
      ),
    );
    deleted.push(name);
  }
  const policies = await call(`list alert policies of migration ${fleet.migrationId}`, () => listOurPolicies(c, fleet));
  for (const p of policies) {
    await deletePolicy(c, p.name!);
    deleted.push(p.name!);
  }
  return deleted;
}

/** The dry run (`dbmig plan`) of the monitoring step: built from the same names and bodies. */
export function describeMonitoring(fleet: FleetTask): { prepare: PlannedOperation[]; finish: PlannedOperation[] } {
  const project = monitoringProject(fleet);
  const m = fleet.gcp!.monitoring;
  const policies = alertPolicySpecs(fleet);
  // Alert policy ids are the server's: the dry run cannot name them.
  const policyName = `projects/${project}/alertPolicies/*`;
  const prepare = [
    planned({
      state: 'PENDING',
      reads: [
        ...m.notificationChannels.map(() => 'monitoring.projects.notificationChannels.get'),
        'monitoring.projects.dashboards.get',
      ],
      calls: [plannedCall('monitoring.projects.dashboards.create', dashboardName(fleet))],
      resource: dashboardName(fleet),
      detail: `dashboard "dbmig ${fleet.migrationId}": DMS lag seconds and bytes of ${fleet.databases.length} job(s)`,
    }),
    planned({
      state: 'PENDING',
      reads: policies.map(() => 'monitoring.projects.alertPolicies.list'),
      calls: policies.map(() => plannedCall('monitoring.projects.alertPolicies.create', policyName)),
      resource: policyName,
      detail:
        `${policies.map((p) => p.key).join(', ')} (lag > ${m.lagWarningSeconds}s, > ${m.lagCriticalSeconds}s), ` +
        `notifying ${m.notificationChannels.length} channel(s)`,
    }),
  ];
  const finish = m.keep
    ? []
    : [
        planned({
          state: 'COMPLETED',
          reads: ['monitoring.projects.dashboards.get', 'monitoring.projects.alertPolicies.list'],
          calls: [
            plannedCall('monitoring.projects.dashboards.delete', dashboardName(fleet)),
            ...policies.map(() => plannedCall('monitoring.projects.alertPolicies.delete', policyName)),
          ],
          resource: `${dashboardName(fleet)}, ${policyName}`,
          detail: 'remove the dashboard and alert policies labelled with this migration (gcp.monitoring.keep: false)',
        }),
      ];
  return { prepare, finish };
}
