// The worker-group part of `dbmig gcp check`: per database, the instance template and managed
// instance group the platform will use, under the names it derives (worker-group.ts), read and
// compared with what the plan asks. Split from preflight/checks.ts, whose rows and helpers it uses.
import type { protos } from '@google-cloud/compute';
import { capacityMode } from '../../../../common/capacity';
import { effectiveSettings } from '../../../../common/plan-settings';
import { type DatabasePlan, type Plan } from '../../../../common/plan';
import { type GcpSettings } from '../../../../common/plan-gcp';
import type { DatabaseTask } from '../../../steps';
import { httpStatus } from '../errors';
import { enumName, failedRead, lastSegment, row, type CheckContext, type CheckResult } from './checks';
import { ownerTag, templateRequest, workerGroupNames } from '../compute/worker-group';
import { checkWorkerAccount } from './worker-account';

/** The task the fleet gives the platform for `database` (as cli/plan-report.ts builds it): names derive from it. */
function taskFor(plan: Plan, gcp: GcpSettings, migrationId: string, database: DatabasePlan): DatabaseTask {
  return { migrationId, platform: 'gcp', database, settings: effectiveSettings(plan, database), gcp };
}

/** `fn` over `items`, `size` at a time: a fleet of many databases is not read all at once. */
async function inBatches<T, R>(items: T[], size: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size) out.push(...(await Promise.all(items.slice(i, i + size).map(fn))));
  return out;
}

/** A get that answers undefined for a 404; any other failure is thrown. */
async function getOrAbsent<T>(get: () => Promise<[T, ...unknown[]]>): Promise<T | undefined> {
  try {
    return (await get())[0];
  } catch (err) {
    if (httpStatus(err) === 404) return undefined;
    throw err;
  }
}

/**
 * One database's instance template and MIG, under the names the platform gives them
 * (worker-group.ts workerGroupNames: the plan's gcp.instanceTemplate and gcp.migrationWorkerGroup as
 * prefixes, a hash of migration id and database as suffix). Absent, the platform creates them; an
 * existing one is reused only if it is what the platform would create (ensureWorkerGroup refuses it
 * otherwise): the template's machine type and provisioning model as templateRequest builds them
 * (FLEX_START for flex-start, https://cloud.google.com/compute/docs/instances/flex-start-vms; a
 * reservation-consuming model for calendar mode), the MIG made by this migration and database
 * (its description names them) on that template.
 */
async function checkWorkerGroup(ctx: CheckContext, task: DatabaseTask): Promise<CheckResult> {
  const { gcp, c, timeout } = ctx;
  const check = 'Migration workers';
  const who = task.database.name;
  const { template, group } = workerGroupNames(task);
  const calendar = capacityMode(task.database.priority, gcp.machineType) === 'calendar';
  // Calendar mode consumes the future reservation's auto-created reservation, named only once it exists.
  // Without gcp.workerImage or gcp.workerTemporal the request cannot be built (worker-account.ts says so):
  // the rows here compare only machine type and provisioning model, which do not depend on them.
  const withRuntime: DatabaseTask = {
    ...task,
    gcp: {
      ...gcp,
      workerImage: gcp.workerImage ?? 'registry.invalid/dbmig:check',
      workerTemporal: gcp.workerTemporal ?? { address: 'temporal.invalid:7233' },
    },
  };
  const want = templateRequest(withRuntime, calendar ? 'RESERVATION' : undefined).instanceTemplateResource!.properties!;
  const wantModel = String(want.scheduling?.provisioningModel ?? 'STANDARD');
  const another =
    'or give the plan another migrationId (the platform names its template and MIG after it), then check again';

  let t: protos.google.cloud.compute.v1.IInstanceTemplate | undefined;
  try {
    t = await getOrAbsent(() =>
      c.instanceTemplates.get({ project: gcp.project, instanceTemplate: template }, { timeout }),
    );
  } catch (err) {
    return failedRead(check, `${who}: read instance template ${template}`, err, 'compute.instanceTemplates.get');
  }
  let g: protos.google.cloud.compute.v1.IInstanceGroupManager | undefined;
  try {
    g = await getOrAbsent(() =>
      c.instanceGroupManagers.get({ project: gcp.project, zone: gcp.zone, instanceGroupManager: group }, { timeout }),
    );
  } catch (err) {
    return failedRead(check, `${who}: read MIG ${group} in ${gcp.zone}`, err, 'compute.instanceGroupManagers.get');
  }

  const machine = t && lastSegment(t.properties?.machineType);
  const model = t && String(t.properties?.scheduling?.provisioningModel ?? 'STANDARD');
  const deleteTemplate =
    `delete it (gcloud compute instance-templates delete ${template} --project=${gcp.project}), ` + another;
  if (t && machine !== want.machineType)
    return row(
      check,
      'FIX',
      `${who}: instance template ${template} exists with ${machine}, the plan asks ${want.machineType}`,
      deleteTemplate,
    );
  if (t && model !== wantModel)
    return row(
      check,
      'FIX',
      `${who}: instance template ${template} uses ${model}, ` +
        `${calendar ? 'calendar mode' : 'flex-start'} needs ${wantModel}`,
      deleteTemplate,
    );
  const deleteGroup =
    `delete it (gcloud compute instance-groups managed delete ${group} --zone=${gcp.zone} --project=${gcp.project}), ` +
    another;
  if (g && !String(g.description ?? '').includes(ownerTag(task)))
    return row(
      check,
      'FIX',
      `${who}: MIG ${group} exists in ${gcp.zone} and was not created by this migration and database`,
      deleteGroup,
    );
  if (g && lastSegment(g.instanceTemplate) !== template)
    return row(
      check,
      'FIX',
      `${who}: MIG ${group} exists in ${gcp.zone} with template ${lastSegment(g.instanceTemplate)}, not ${template}`,
      deleteGroup,
    );
  const templateSays = t
    ? `instance template ${template} exists (${machine}, ${model}) and is reused`
    : `instance template ${template} will be created (${want.machineType}, ${wantModel})`;
  const groupSays = g ? `MIG ${group} exists and is reused` : `MIG ${group} will be created`;
  return row(check, 'OK', `${who}: ${templateSays}; ${groupSays}`);
}

/**
 * What the workers run and as whom (worker-account.ts), the workers' zone (compute zones.get:
 * Zone.status UP, Zone.region), then each database's instance template (compute
 * instanceTemplates.get) and MIG (compute instanceGroupManagers.get) under the names the platform
 * will use (checkWorkerGroup). Those names derive from the migration id: without one (neither the
 * plan's migrationId nor PreflightOptions.migrationId) they cannot be looked up.
 */
export async function checkWorkers(ctx: CheckContext): Promise<CheckResult[]> {
  const { plan, gcp, c, timeout } = ctx;
  const check = 'Migration workers';
  const out: CheckResult[] = await checkWorkerAccount(ctx);
  try {
    const [zone] = await c.zones.get({ project: gcp.project, zone: gcp.zone }, { timeout });
    const status = enumName(zone.status, []);
    if (lastSegment(zone.region) !== gcp.region)
      out.push(
        row(
          check,
          'FIX',
          `zone ${gcp.zone} is in ${lastSegment(zone.region)}, not ${gcp.region}`,
          'set gcp.zone to a zone of gcp.region',
        ),
      );
    else if (status !== 'UP')
      out.push(row(check, 'WARN', `zone ${gcp.zone} is ${status}`, 'wait, or set gcp.zone to another zone'));
    else out.push(row(check, 'OK', `zone ${gcp.zone} is UP in ${gcp.region}`));
  } catch (err) {
    out.push(
      httpStatus(err) === 404
        ? row(check, 'FIX', `zone ${gcp.zone} does not exist`, 'set gcp.zone to a zone such as us-central1-a')
        : failedRead(check, `read zone ${gcp.zone}`, err, 'compute.zones.get'),
    );
  }
  const migrationId = ctx.migrationId ?? plan.migrationId;
  if (!migrationId) {
    out.push(
      row(
        check,
        'WARN',
        `the plan sets no migrationId: each database's instance template and MIG are named ` +
          `${gcp.instanceTemplate}-HASH and ${gcp.migrationWorkerGroup}-HASH after the id the migration starts ` +
          'with, so existing ones cannot be checked',
        'set migrationId in the plan (the id dbmig start will use), then run the check again',
      ),
    );
    return out;
  }
  const tasks = plan.databases.map((d) => taskFor(plan, gcp, migrationId, d));
  out.push(...(await inBatches(tasks, 8, (t) => checkWorkerGroup(ctx, t))));
  return out;
}
