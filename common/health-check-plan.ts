// The plan's health check after a cutover (cutover.healthCheck, databases[].healthCheck): what the
// application promises once it runs on the target, read while reverse replication keeps a rollback
// possible. A breach held for `for` rolls the database back by the same path as `dbmig rollback`
// (workflows/health-rollback.ts, activities/health-watch.ts). A URL that carries credentials is a
// secret reference (urlRef), never a value in the plan or the history (safety rule 8).
// Pure: the workflow validates plans with it.
import { z } from 'zod';
import { DURATION, parseDuration } from './durations';
import { SECRET_REF_PATTERN } from './notify-plan';

/** How often the check is read when the plan does not say. */
export const HEALTH_POLL_DEFAULT_MS = 10_000;

const boundedDuration = (minMs: number, maxMs: number, rule: string) =>
  z
    .string()
    .regex(DURATION, 'must be a duration like 30s, 5m or 1h')
    .refine(
      (s) => {
        const ms = parseDuration(s);
        return ms !== undefined && ms >= minMs && ms <= maxMs;
      },
      { message: rule },
    );

/** A plain http(s) URL with no user or password in it: those belong in urlRef. */
const plainUrl = z
  .string()
  .refine(
    (s) => {
      try {
        const u = new URL(s);
        return u.protocol === 'http:' || u.protocol === 'https:';
      } catch {
        return false;
      }
    },
    { message: 'must be an http:// or https:// URL' },
  )
  .refine(
    (s) => {
      try {
        const u = new URL(s);
        return u.username === '' && u.password === '';
      } catch {
        return true;
      }
    },
    { message: 'must not carry credentials: put the URL in a secret and name it with urlRef (env:NAME, file:PATH)' },
  );

const urlRef = z
  .string()
  .regex(SECRET_REF_PATTERN, 'must be a secret reference: env:NAME, file:PATH or gcpsm:NAME (never the URL itself)');

const endpoint = {
  url: plainUrl.optional().describe('The URL, when it carries no secret (no user, password or token).'),
  urlRef: urlRef
    .optional()
    .describe('A secret reference to the URL when it carries credentials (env:NAME, file:PATH or gcpsm:NAME).'),
};

const oneUrl = (e: { url?: string; urlRef?: string }) => (e.url === undefined) !== (e.urlRef === undefined);
const ONE_URL = { message: 'needs exactly one of url or urlRef' };

const prometheus = z
  .strictObject({
    ...endpoint,
    query: z.string().regex(/\S/, 'must be a PromQL query').max(4_000).describe('A PromQL instant query.'),
  })
  .refine(oneUrl, ONE_URL)
  .describe(
    "A Prometheus server's base URL (…/api/v1/query is appended) and a query whose value is compared with the " +
      'threshold: a scalar, or a vector whose every sample is (an empty result, or one that cannot be read, is ' +
      'no reading: it never counts towards a breach).',
  );

const http = z
  .strictObject({
    ...endpoint,
    expectStatus: z
      .number()
      .int()
      .min(100)
      .max(599)
      .optional()
      .describe('The status a healthy answer has. Any other status, or no answer, is a breach. Default 200.'),
    jsonPath: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\])*$/, 'must be a dotted path like errors.rate')
      .optional()
      .describe(
        'A dotted path (a.b[0].c) to a number in the JSON body, compared with the threshold. Default: only the ' +
          'status is checked.',
      ),
  })
  .refine(oneUrl, ONE_URL)
  .describe('An HTTP endpoint the application exposes, read with GET.');

export const healthCheckSchema = z
  .strictObject({
    prometheus: prometheus.optional(),
    http: http.optional(),
    above: z.number().optional().describe('A breach is a value above this.'),
    below: z.number().optional().describe('A breach is a value below this.'),
    for: boundedDuration(1_000, 86_400_000, 'must be a duration between 1s and 24h, like 2m').describe(
      'How long the breach must last, every reading in between breaching, before the database is rolled back.',
    ),
    every: boundedDuration(500, 600_000, 'must be a duration between 500ms and 10m, like 10s')
      .optional()
      .describe(`How often the check is read. Default ${HEALTH_POLL_DEFAULT_MS / 1000}s.`),
  })
  .superRefine((h, ctx) => {
    if ((h.prometheus === undefined) === (h.http === undefined))
      ctx.addIssue({ code: 'custom', message: 'needs exactly one of prometheus or http', path: [] });
    if (h.above !== undefined && h.below !== undefined)
      ctx.addIssue({ code: 'custom', message: 'takes one threshold, above or below, not both', path: ['below'] });
    const compared = h.prometheus !== undefined || h.http?.jsonPath !== undefined;
    if (compared && h.above === undefined && h.below === undefined)
      ctx.addIssue({
        code: 'custom',
        message: `needs a threshold: above or below (the ${h.prometheus ? 'query' : 'jsonPath'} value is compared)`,
        path: ['above'],
      });
    if (!compared && (h.above !== undefined || h.below !== undefined))
      ctx.addIssue({
        code: 'custom',
        message: 'a threshold needs a value to compare: a prometheus query or an http jsonPath',
        path: [h.above !== undefined ? 'above' : 'below'],
      });
  })
  .describe(
    'After the cutover, while reverse replication keeps a rollback possible: a check of what the application ' +
      'promises (a Prometheus query, or an HTTP endpoint it exposes) and a threshold. A breach held for `for` ' +
      'rolls the database back by the same path as `dbmig rollback`, notifies (event health-rollback) and ' +
      'records why in the status. Default: none, only a human rolls back.',
  );

export type HealthCheckPlan = z.infer<typeof healthCheckSchema>;

/** What the workflow carries to the watch activity: references and numbers only, never a secret value. */
export interface HealthCheckSettings {
  prometheus?: { url?: string; urlRef?: string; query: string };
  http?: { url?: string; urlRef?: string; expectStatus?: number; jsonPath?: string };
  above?: number;
  below?: number;
  forMs: number;
  everyMs: number;
}

export function healthCheckSettings(h: HealthCheckPlan | undefined): HealthCheckSettings | undefined {
  if (!h) return undefined;
  return {
    ...(h.prometheus ? { prometheus: h.prometheus } : {}),
    ...(h.http ? { http: h.http } : {}),
    ...(h.above !== undefined ? { above: h.above } : {}),
    ...(h.below !== undefined ? { below: h.below } : {}),
    forMs: parseDuration(h.for)!,
    everyMs: h.every !== undefined ? parseDuration(h.every)! : HEALTH_POLL_DEFAULT_MS,
  };
}

/** The check in a few words, for the status and the notification (no URL: it may be a secret's). */
export function describeHealthCheck(h: HealthCheckSettings): string {
  const what = h.prometheus
    ? `prometheus query ${h.prometheus.query}`
    : `http ${h.http?.jsonPath ?? 'status'}${h.http?.expectStatus ? ` (expect ${h.http.expectStatus})` : ''}`;
  const threshold = h.above !== undefined ? ` above ${h.above}` : h.below !== undefined ? ` below ${h.below}` : '';
  return `${what}${threshold} for ${h.forMs / 1000}s`;
}
