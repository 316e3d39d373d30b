// The part of `dbmig gcp check` about what the migration workers run and as whom: the plan names
// dbmig's worker image and the Temporal address they serve (worker-startup.ts refuses capacity
// without them), and their service account holds, on the project, a role granting each permission
// they need (permissions.ts WORKER_VM_PERMISSIONS). The roles are read from the project's IAM policy
// (Resource Manager v3 projects.getIamPolicy,
// https://cloud.google.com/resource-manager/reference/rest/v3/projects/getIamPolicy; google/iam/v1/policy.proto
// Policy.bindings: role, members "serviceAccount:EMAIL"); testIamPermissions cannot answer for another
// identity than the caller's.
import { httpStatus } from '../errors';
import { defaultWorkerServiceAccount } from '../compute/worker-startup';
import { ROLES_GRANTING, WORKER_VM_PERMISSIONS } from './permissions';
import { failedRead, row, type CheckContext, type CheckResult } from './checks';

const CHECK = 'Worker service account';

/** The plan's settings the workers cannot run without, as FIX rows. */
function runtimeSettings({ gcp }: CheckContext): CheckResult[] {
  const out: CheckResult[] = [];
  if (!gcp.workerImage)
    out.push(
      row(
        CHECK,
        'FIX',
        'the plan sets no gcp.workerImage: the reserved workers would have nothing to run, so capacity is refused',
        "build this repository's Dockerfile, push it (e.g. to Artifact Registry) and set gcp.workerImage to " +
          'REGISTRY/PATH:TAG',
      ),
    );
  if (!gcp.workerTemporal?.address)
    out.push(
      row(
        CHECK,
        'FIX',
        'the plan sets no gcp.workerTemporal.address: the workers would not know which Temporal to serve',
        'set gcp.workerTemporal.address to the Temporal frontend host:port the workers reach from gcp.network',
      ),
    );
  const key = gcp.workerTemporal?.apiKeyRef;
  if (out.length === 0)
    out.push(
      row(
        CHECK,
        'OK',
        `workers run ${gcp.workerImage} as \`dbmig worker --data-plane\`, serving Temporal at ` +
          `${gcp.workerTemporal!.address}${key ? ` (API key ${key})` : ''}`,
      ),
    );
  return out;
}

/** Each permission the workers' account lacks, by name, with the role to grant. */
export async function checkWorkerAccount(ctx: CheckContext): Promise<CheckResult[]> {
  const { gcp, c, timeout } = ctx;
  const out = runtimeSettings(ctx);
  const email = gcp.workerServiceAccount ?? defaultWorkerServiceAccount(gcp.project);
  const member = `serviceAccount:${email}`;
  let roles: string[];
  try {
    const [policy] = await c.projects.getIamPolicy(
      { resource: `projects/${gcp.project}`, options: { requestedPolicyVersion: 3 } },
      { timeout },
    );
    roles = (policy.bindings ?? []).filter((b) => (b.members ?? []).includes(member)).map((b) => String(b.role ?? ''));
  } catch (err) {
    const doing = `read the IAM policy of projects/${gcp.project} for ${email}`;
    return [
      ...out,
      httpStatus(err) === 403
        ? row(CHECK, 'FIX', `${doing}: permission denied`, 'grant resourcemanager.projects.getIamPolicy to the check')
        : failedRead(CHECK, doing, err, 'resourcemanager.projects.getIamPolicy'),
    ];
  }
  const custom = roles.filter((r) => !r.startsWith('roles/'));
  const grant = (role: string) =>
    `gcloud projects add-iam-policy-binding ${gcp.project} --member=${member} --role=${role}`;
  for (const { permission, role, why } of WORKER_VM_PERMISSIONS) {
    const by = roles.find((r) => ROLES_GRANTING[permission]?.includes(r));
    if (by) out.push(row(CHECK, 'OK', `${email} has ${permission} (${why}) through ${by}`));
    else if (custom.length)
      out.push(
        row(
          CHECK,
          'WARN',
          `${email} holds no predefined role granting ${permission} (${why}); its custom role(s) ` +
            `${custom.join(', ')} were not read`,
          `make sure one of them includes ${permission}, or ${grant(role)}`,
        ),
      );
    else
      out.push(
        row(
          CHECK,
          'FIX',
          `${email} lacks ${permission} (${why})` +
            (roles.length ? '' : ': it has no role on the project (does it exist?)'),
          grant(role),
        ),
      );
  }
  return out;
}
