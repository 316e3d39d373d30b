// Cloud Monitoring's admin surface the monitoring step calls: alert policies and notification
// channels (Monitoring v3: google/monitoring/v3/alert_service.proto, alert.proto,
// notification_service.proto) and dashboards (Dashboards v1: google/monitoring/dashboard/v1/
// dashboards_service.proto, dashboard.proto), over REST as the google.api.http rules map them.
// Rules enforced name the proto field or page they follow.
/* eslint-disable @typescript-eslint/no-explicit-any -- request bodies are the JSON the clients send */
import { randomInt } from 'node:crypto';
import { ApiError, ok, type Ctx, type FakeGcp, type Reply } from './server';

const SEG = '([^/:]+)';
const V3 = 'monitoring.projects';

export interface MonitoringAdmin {
  /** Notification channels that exist (projects/P/notificationChannels/ID); tests seed them. */
  channels: Set<string>;
  /**
   * API methods (e.g. monitoring.projects.alertPolicies.create) whose next call is applied and then
   * answered 503: the effect happened, the caller never learns it.
   */
  loseNext: Set<string>;
}

/** Label rules of AlertPolicy.user_labels (alert.proto): up to 64; [a-z0-9_-], keys start with a letter, at most 63. */
function checkLabels(field: string, labels: unknown, keyFirst = /^[a-z]/): void {
  if (labels === undefined) return;
  const entries = Object.entries(labels as Record<string, unknown>);
  if (entries.length > 64) throw new ApiError(400, `${field}: at most 64 labels`);
  for (const [k, v] of entries) {
    if (!keyFirst.test(k) || !/^[a-z0-9_-]{1,63}$/.test(k)) throw new ApiError(400, `${field}: invalid key "${k}"`);
    if (typeof v !== 'string' || !/^[a-z0-9_-]{0,63}$/.test(v))
      throw new ApiError(400, `${field}.${k}: invalid value "${String(v)}"`);
  }
}

/**
 * Proto3 JSON takes an enum by name or by number, and gax's REST transport sends numbers: both are
 * read here (ConditionCombinerType and ComparisonType, google/monitoring/v3/alert.proto, common.proto).
 */
const COMBINER = ['COMBINE_UNSPECIFIED', 'AND', 'OR', 'AND_WITH_MATCHING_RESOURCE'];
const COMPARISON = [
  'COMPARISON_UNSPECIFIED',
  'COMPARISON_GT',
  'COMPARISON_GE',
  'COMPARISON_LT',
  'COMPARISON_LE',
  'COMPARISON_EQ',
  'COMPARISON_NE',
];
const enumName = (names: string[], v: unknown) => (typeof v === 'number' ? names[v] : (v as string | undefined));

const seconds = (d: unknown) => (typeof d === 'string' && /^\d+(\.\d+)?s$/.test(d) ? Number(d.slice(0, -1)) : NaN);

/** AlertPolicy as create and update must carry it (alert.proto field comments). */
function checkPolicy(p: any, creating: boolean): void {
  if (!p) throw new ApiError(400, 'alert_policy is required (CreateAlertPolicyRequest.alert_policy)');
  if (creating && p.name)
    throw new ApiError(400, 'alert_policy.name: do not include the name when creating (AlertPolicy.name)');
  if (!p.displayName) throw new ApiError(400, 'alert_policy.display_name is required');
  if ([...(p.displayName as string)].length > 512) throw new ApiError(400, 'alert_policy.display_name: at most 512');
  const conditions: any[] = p.conditions ?? [];
  if (conditions.length < 1 || conditions.length > 6)
    throw new ApiError(400, 'alert_policy.conditions: a policy can have from one to six conditions');
  if (conditions.length > 1 && !['AND', 'OR', 'AND_WITH_MATCHING_RESOURCE'].includes(enumName(COMBINER, p.combiner)!))
    throw new ApiError(400, 'alert_policy.combiner is required with more than one condition');
  checkLabels('alert_policy.user_labels', p.userLabels);
  const logBased = conditions.some((c) => c.conditionMatchedLog);
  // AlertPolicy.Condition (google/monitoring/v3/alert.proto): its name is assigned by Cloud Monitoring
  // ("do not include the name field" on create), oneof condition, MetricThreshold.filter ("must specify
  // the metric type and the resource type", "must not exceed 2048 Unicode characters"), comparison
  // ("Only COMPARISON_LT and COMPARISON_GT are supported currently"), duration ("a multiple of a
  // minute"), LogMatch.filter REQUIRED.
  conditions.forEach((c, i) => {
    const at = `alert_policy.conditions[${i}]`;
    if (creating && c.name) throw new ApiError(400, `${at}.name: assigned by Cloud Monitoring on create`);
    const kinds = Object.keys(c).filter((k) => k.startsWith('condition'));
    if (kinds.length !== 1) throw new ApiError(400, `${at}: exactly one condition type (oneof condition)`);
    const t = c.conditionThreshold;
    if (t) {
      // MetricThreshold.filter: must name the metric type and the resource type, at most 2048.
      if (!/metric\.type\s*=/.test(t.filter ?? '') || !/resource\.type\s*=/.test(t.filter ?? ''))
        throw new ApiError(400, `${at}.condition_threshold.filter must specify the metric type and the resource type`);
      if ([...(t.filter as string)].length > 2048)
        throw new ApiError(400, `${at}.condition_threshold.filter: at most 2048 characters`);
      // MetricThreshold.comparison: "Only COMPARISON_LT and COMPARISON_GT are supported currently".
      if (!['COMPARISON_GT', 'COMPARISON_LT'].includes(enumName(COMPARISON, t.comparison)!))
        throw new ApiError(400, `${at}.condition_threshold.comparison: only COMPARISON_LT and COMPARISON_GT`);
      // MetricThreshold.duration: only multiples of a minute.
      const d = t.duration === undefined ? 0 : seconds(t.duration);
      if (!Number.isInteger(d) || d % 60 !== 0)
        throw new ApiError(400, `${at}.condition_threshold.duration: a multiple of 60 seconds`);
    }
    if (c.conditionMatchedLog && !c.conditionMatchedLog.filter)
      throw new ApiError(400, `${at}.condition_matched_log.filter is required (LogMatch.filter)`);
  });
  if (logBased) {
    // https://cloud.google.com/monitoring/alerts/log-based-alerts: one LogMatch condition only, and
    // AlertStrategy.notification_rate_limit "Required for log-based alerting policies".
    if (conditions.length !== 1) throw new ApiError(400, 'a log-based alert policy has exactly one condition');
    if (!(seconds(p.alertStrategy?.notificationRateLimit?.period) > 0))
      throw new ApiError(400, 'alert_policy.alert_strategy.notification_rate_limit is required for log-based policies');
  }
}

/**
 * The filter of ListAlertPolicies as this fake understands it: AND of `user_labels."k" = "v"` (or
 * user_labels.k); anything else is refused, so a test never passes on a filter the fake ignored.
 */
function labelFilter(filter: string): (labels: Record<string, string>) => boolean {
  if (!filter.trim()) return () => true;
  const terms = filter.split(/\s+AND\s+/).map((term) => {
    const m = /^\s*user_labels\.(?:"([^"]+)"|([a-z][a-z0-9_]*))\s*=\s*"([^"]*)"\s*$/.exec(term);
    // Not a Google rule: alertPolicies.list takes the whole filter syntax
    // (https://cloud.google.com/monitoring/api/ref_v3/rest/v3/projects.alertPolicies/list); the fake
    // serves user_labels equality only and says so with UNIMPLEMENTED (google/rpc/code.proto).
    if (!m) throw ApiError.of('UNIMPLEMENTED', `fake: alertPolicies.list filter term "${term}" is not served`);
    return [m[1] ?? m[2], m[3]] as const;
  });
  return (labels) => terms.every(([k, v]) => labels?.[k] === v);
}

/** One set of routes per fake: registering again (a test, after createFakeGcp did) adds channels to it. */
const registered = new WeakMap<FakeGcp, MonitoringAdmin>();

export function monitoringAdminRoutes(f: FakeGcp, admin?: Partial<MonitoringAdmin>): MonitoringAdmin {
  const known = registered.get(f);
  if (known) {
    for (const c of admin?.channels ?? []) known.channels.add(c);
    for (const m of admin?.loseNext ?? []) known.loseNext.add(m);
    return known;
  }
  const state: MonitoringAdmin = { channels: new Set(admin?.channels), loseNext: new Set(admin?.loseNext) };
  registered.set(f, state);
  /**
   * Applies the handler; a method in loseNext then answers 503 (its effect stays): UNAVAILABLE, the
   * transient answer Google's APIs give (https://cloud.google.com/apis/design/errors#handling_errors).
   */
  const lossy =
    (rpc: string, handler: (ctx: Ctx) => Reply) =>
    (ctx: Ctx): Reply => {
      const reply = handler(ctx);
      if (reply.status < 300 && state.loseNext.delete(rpc))
        throw new ApiError(503, 'Service unavailable (the change was applied; answer lost)');
      return reply;
    };
  const route = (method: string, pattern: RegExp, rpc: string, handler: (ctx: Ctx) => Reply) =>
    f.route(method, pattern, rpc, lossy(rpc, handler));

  // Notification channels: get only (NotificationChannelService.GetNotificationChannel).
  route(
    'GET',
    new RegExp(`^/v3/(projects/${SEG}/notificationChannels/${SEG})$`),
    `${V3}.notificationChannels.get`,
    ({ params: [name] }) => {
      // Get of a missing resource is NOT_FOUND (https://google.aip.dev/131).
      if (!state.channels.has(name)) throw new ApiError(404, `notification channel ${name} not found`);
      return ok({ name, type: 'email', enabled: true });
    },
  );

  // Alert policies: the name is assigned by the server (AlertPolicy.name).
  const pkey = (name: string) => `monitoring/${name}`;
  const policy = (name: string) => {
    const p = f.resources.get(pkey(name));
    // A missing resource is NOT_FOUND (https://google.aip.dev/131, https://google.aip.dev/135).
    if (!p) throw new ApiError(404, `alert policy ${name} not found`);
    return p;
  };
  const stamp = (name: string, body: any, created?: unknown) => {
    const now = { mutateTime: new Date().toISOString(), mutatedBy: 'fake@example.com' };
    return {
      ...body,
      name,
      enabled: body.enabled ?? true,
      combiner: body.combiner ?? 'COMBINE_UNSPECIFIED',
      conditions: (body.conditions ?? []).map((c: any) => ({
        ...c,
        name: c.name ?? `${name}/conditions/${randomInt(1e9, 1e10 - 1)}`,
      })),
      creationRecord: created ?? now,
      mutationRecord: now,
    };
  };
  route(
    'POST',
    new RegExp(`^/v3/projects/${SEG}/alertPolicies$`),
    `${V3}.alertPolicies.create`,
    ({ params: [p], body }) => {
      checkPolicy(body, true);
      const name = `projects/${p}/alertPolicies/${randomInt(1e9, 1e10 - 1)}${randomInt(1e6, 1e7 - 1)}`;
      const created = stamp(name, body);
      f.resources.set(pkey(name), created);
      return ok(created);
    },
  );
  route(
    'GET',
    new RegExp(`^/v3/projects/${SEG}/alertPolicies$`),
    `${V3}.alertPolicies.list`,
    ({ params: [p], query }) => {
      const match = labelFilter(query.get('filter') ?? '');
      const prefix = pkey(`projects/${p}/alertPolicies/`);
      const alertPolicies = [...f.resources.entries()]
        .filter(([k, v]) => k.startsWith(prefix) && match(v.userLabels ?? {}))
        .map(([, v]) => v);
      return ok({ alertPolicies, totalSize: alertPolicies.length });
    },
  );
  const one = new RegExp(`^/v3/(projects/${SEG}/alertPolicies/${SEG})$`);
  route('GET', one, `${V3}.alertPolicies.get`, ({ params: [name] }) => ok(policy(name)));
  route('DELETE', one, `${V3}.alertPolicies.delete`, ({ params: [name] }) => {
    policy(name);
    f.resources.delete(pkey(name));
    return ok({});
  });
  // UpdateAlertPolicy without update_mask replaces the policy and keeps its id.
  route('PATCH', one, `${V3}.alertPolicies.patch`, ({ params: [name], body, query }) => {
    const old = policy(name);
    // Not a Google rule: UpdateAlertPolicy takes an update_mask
    // (https://cloud.google.com/monitoring/api/ref_v3/rest/v3/projects.alertPolicies/patch); the fake
    // serves the whole-policy replace only and says so with UNIMPLEMENTED (google/rpc/code.proto).
    if (query.get('updateMask'))
      throw ApiError.of('UNIMPLEMENTED', 'fake: alertPolicies.patch with an update_mask is not served');
    checkPolicy(body, false);
    const updated = stamp(name, body, old.creationRecord);
    f.resources.set(pkey(name), updated);
    return ok(updated);
  });

  // Dashboards: the id is the caller's (Dashboard.name), unique in the project.
  const dkey = (name: string) => `monitoring/${name}`;
  const dashboard = (name: string) => {
    const d = f.resources.get(dkey(name));
    // A missing resource is NOT_FOUND (https://google.aip.dev/131, https://google.aip.dev/135).
    if (!d) throw new ApiError(404, `dashboard ${name} not found`);
    return d;
  };
  /**
   * CreateDashboardRequest.dashboard REQUIRED (google/monitoring/dashboard/v1/dashboards_service.proto);
   * Dashboard.display_name REQUIRED and oneof layout (google/monitoring/dashboard/v1/dashboard.proto);
   * TimeSeriesFilter.filter REQUIRED (google/monitoring/dashboard/v1/metrics.proto).
   */
  const checkDashboard = (d: any) => {
    if (!d) throw new ApiError(400, 'dashboard is required (CreateDashboardRequest.dashboard)');
    if (!d.displayName) throw new ApiError(400, 'dashboard.display_name is required (Dashboard.display_name)');
    const layouts = ['gridLayout', 'mosaicLayout', 'rowLayout', 'columnLayout'].filter((k) => d[k]);
    if (layouts.length > 1) throw new ApiError(400, 'dashboard: at most one layout (oneof layout)');
    for (const t of d.mosaicLayout?.tiles ?? [])
      for (const ds of t.widget?.xyChart?.dataSets ?? []) {
        const filter = ds.timeSeriesQuery?.timeSeriesFilter?.filter;
        if (ds.timeSeriesQuery?.timeSeriesFilter && !filter)
          throw new ApiError(400, 'dashboard: TimeSeriesFilter.filter is required');
      }
    checkLabels('dashboard.labels', d.labels);
  };
  let etags = 0;
  route(
    'POST',
    new RegExp(`^/v1/projects/${SEG}/dashboards$`),
    `${V3}.dashboards.create`,
    ({ params: [p], body, query }) => {
      checkDashboard(body);
      // The etag "should not be passed during dashboard creation"
      // (google/monitoring/dashboard/v1/dashboard.proto Dashboard.etag).
      if (body.etag) throw new ApiError(400, 'dashboard.etag must not be set on create');
      let name = `projects/${p}/dashboards/${randomInt(1e9, 1e10 - 1)}`;
      if (body.name) {
        const m = new RegExp(`^projects/${SEG}/dashboards/([a-zA-Z0-9_-]+)$`).exec(body.name);
        // CreateDashboardRequest.parent: "The [PROJECT_ID_OR_NUMBER] must match the dashboard resource name."
        // (google/monitoring/dashboard/v1/dashboards_service.proto)
        if (!m || m[1] !== p)
          throw new ApiError(400, `dashboard.name ${body.name} must be projects/${p}/dashboards/ID`);
        name = body.name;
      }
      // Create of an existing name is ALREADY_EXISTS (https://google.aip.dev/133).
      if (f.resources.has(dkey(name))) throw new ApiError(409, `dashboard ${name} already exists`);
      const created = { ...body, name, etag: `etag-${++etags}` };
      if (query.get('validateOnly') !== 'true') f.resources.set(dkey(name), created);
      return ok(created);
    },
  );
  route('GET', new RegExp(`^/v1/projects/${SEG}/dashboards$`), `${V3}.dashboards.list`, ({ params: [p] }) =>
    ok({
      dashboards: [...f.resources.entries()]
        .filter(([k]) => k.startsWith(dkey(`projects/${p}/dashboards/`)))
        .map(([, v]) => v),
    }),
  );
  const dash = new RegExp(`^/v1/(projects/${SEG}/dashboards/${SEG})$`);
  route('GET', dash, `${V3}.dashboards.get`, ({ params: [name] }) => ok(dashboard(name)));
  route('DELETE', dash, `${V3}.dashboards.delete`, ({ params: [name] }) => {
    dashboard(name);
    f.resources.delete(dkey(name));
    return ok({});
  });
  route('PATCH', dash, `${V3}.dashboards.patch`, ({ params: [name], body }) => {
    const old = dashboard(name);
    checkDashboard(body);
    // Dashboard.etag (google/monitoring/dashboard/v1/dashboard.proto): etags "prevent concurrent updates to
    // the same dashboard" (https://cloud.google.com/sdk/gcloud/reference/monitoring/dashboards/update).
    if (body.etag && body.etag !== old.etag) throw new ApiError(409, `dashboard ${name}: etag mismatch`);
    const updated = { ...body, name, etag: `etag-${++etags}` };
    f.resources.set(dkey(name), updated);
    return ok(updated);
  });
  return state;
}
