// The plan's building blocks that several of its parts share: names, secret references, durations,
// and the readiness fields a database may set in place of the plan's defaults.
import { z } from 'zod';
import { DURATION, parseDuration } from './durations';

export const SECRET_REF = /^(env:[A-Za-z_][A-Za-z0-9_]*|file:.+|gcpsm:[A-Za-z0-9_\-/.]+)$/;
export const NAME = /^[a-z][a-z0-9_-]{0,47}$/;
export const NAME_RULE = 'must be lower-case letters, digits, _ or -, starting with a letter (at most 48)';

/**
 * Why `id` cannot be a migration id, or undefined when it can. The id names the workflow and every
 * resource derived from it, so --id follows the plan's migrationId rule and is checked offline.
 */
export function migrationIdProblem(id: string): string | undefined {
  return NAME.test(id) ? undefined : `migration id "${id}" ${NAME_RULE}`;
}
export const HHMM = /^([01]\d|2[0-3]):[0-5]\d$/;
/** A Cloud SQL instance or AlloyDB cluster name (at most 40). */
export const GCP_NAME = /^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$/;
export const PG_IDENT = /^[A-Za-z_][A-Za-z0-9_$-]{0,62}$/;

/** A duration as the plan writes it: a number and a unit, ms, s, m, h or d (parseDuration). */
export const duration = z.string().regex(DURATION, 'must be a duration like 30s, 5m or 24h');

/** How long the source may stay blocked: long enough to drain, short enough to be an outage nobody notices. */
export const cutoverTimeout = duration.refine(
  (s) => {
    const ms = parseDuration(s);
    return ms !== undefined && ms >= 1_000 && ms <= 600_000;
  },
  { message: 'must be a duration between 1s and 10m, like 30s' },
);

export const SECRET_RULE = 'must be a secret reference: env:NAME, file:PATH or gcpsm:NAME (never the password itself)';
export const VERSION = /^\d+(\.\d+)?$/;

// A database's readiness: the plan's defaults set all three, and a database may set any in their place.
const lagThresholdSeconds = z.number().positive().max(3600);
const stableWindow = duration;
const noPrimaryKey = z.enum(['fail', 'replica-identity-full']);
const LAG_THRESHOLD =
  'Replication lag, in seconds, at or under which a database counts as ready for its cutover (at most 3600).';
const STABLE_WINDOW = 'How long the lag must stay at or under lagThresholdSeconds before the database is ready.';
const NO_PRIMARY_KEY =
  'What to do with a table without a primary key: fail the assessment, or publish it with REPLICA IDENTITY FULL ' +
  '(updates and deletes then match whole rows, which is slower).';

/** The readiness fields of `defaults`, with their defaults. */
export const READINESS_DEFAULTS = { lagThresholdSeconds: 5, stableWindow: '30s', noPrimaryKey: 'fail' } as const;
export const readinessDefaults = {
  lagThresholdSeconds: lagThresholdSeconds.default(READINESS_DEFAULTS.lagThresholdSeconds).describe(LAG_THRESHOLD),
  stableWindow: stableWindow.default(READINESS_DEFAULTS.stableWindow).describe(STABLE_WINDOW),
  noPrimaryKey: noPrimaryKey.default(READINESS_DEFAULTS.noPrimaryKey).describe(NO_PRIMARY_KEY),
};

/** The same fields on a database, in place of defaults'. */
export const readinessOverrides = {
  lagThresholdSeconds: lagThresholdSeconds.optional().describe(`${LAG_THRESHOLD} Default: defaults's.`),
  stableWindow: stableWindow.optional().describe(`${STABLE_WINDOW} Default: defaults's.`),
  noPrimaryKey: noPrimaryKey.optional().describe(`${NO_PRIMARY_KEY} Default: defaults's.`),
};
