// The cost section of `dbmig plan` for a gcp plan. Offline by default, from the dated price table
// in common/prices (the dry run calls nothing); with --prices-online it first asks the Cloud Billing
// Catalog API, within a short deadline, and says which prices it used.
import { catalogPrices } from '../activities/platforms/gcp/billing/catalog';
import { endpointFromEnv, type GcpClientOptions } from '../activities/platforms/gcp/clients';
import { DATED_PRICES, estimateCost, withPrices, type CostEstimate } from '../common/cost';
import type { Plan } from '../common/plan';
import { table } from './format';
import { fitTable, TERMINAL_COLUMNS, wrapText } from './fit-table';

export interface CostOptions extends GcpClientOptions {
  /** Ask the Cloud Billing Catalog API first (default: no, the dated table only). */
  online?: boolean;
  /** The catalog lookup's deadline; default DBMIG_PRICES_TIMEOUT_MS, else 5 s. */
  timeoutMs?: number;
}

export const PRICES_TIMEOUT_ENV = 'DBMIG_PRICES_TIMEOUT_MS';

/**
 * The deadline of --prices-online: a slow link or a busy machine may need more than the 5 s default,
 * a test's local fake much more (the lookup is two HTTP calls). A bad value is refused, not guessed.
 */
export function pricesTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const text = env[PRICES_TIMEOUT_ENV];
  if (text === undefined || text === '') return 5_000;
  const ms = Number(text);
  if (!Number.isInteger(ms) || ms <= 0)
    throw new Error(`${PRICES_TIMEOUT_ENV}=${text}: expected a whole number of milliseconds above 0`);
  return ms;
}

const usd = (n: number | undefined) => (n === undefined ? 'n/a' : n.toFixed(2));

export function costTable(estimate: CostEstimate, wide = true): string {
  const rows = estimate.databases.map((d) => [
    d.database,
    `${d.capacity.mode} ${d.capacity.workers} x ${d.capacity.machineType}, ${d.capacity.hours / 24}d`,
    usd(d.capacity.usd),
    usd(d.capacity.onDemandUsd),
    `${d.target.kind} ${d.target.spec}`,
    usd(d.target.monthlyUsd),
  ]);
  const t = estimate.total;
  rows.push(['total', '', usd(t.capacityUsd), usd(t.onDemandUsd), '', usd(t.targetsMonthlyUsd)]);
  const headers = ['DATABASE', 'CAPACITY (held up to)', 'CAPACITY_USD', 'ON_DEMAND_USD', 'TARGET', 'TARGET_USD_MONTH'];
  return wide ? table(headers, rows) : fitTable(headers, rows, { wrap: [4] });
}

export interface PricedPlan {
  /** Where the prices came from, in words. */
  prices: string;
  /** Set when the table's region is not the plan's. */
  regionNote?: string;
  estimate: CostEstimate;
}

/** The estimate and where its prices came from (the catalog only when asked, within a deadline). */
export async function pricePlan(plan: Plan, opts: CostOptions = {}): Promise<PricedPlan> {
  let prices = DATED_PRICES;
  let source = `the dated price table common/prices/${DATED_PRICES.id}.json (read ${DATED_PRICES.read})`;
  if (!opts.online) source += '; --prices-online asks the Cloud Billing Catalog API instead';
  else {
    const endpoint = opts.endpoint ?? endpointFromEnv();
    const found = await catalogPrices({
      ...(endpoint ? { endpoint } : {}),
      ...(opts.authClient ? { authClient: opts.authClient } : {}),
      region: plan.gcp!.region,
      machineFamily: plan.gcp!.machineType.split('-')[0],
      timeoutMs: opts.timeoutMs ?? pricesTimeoutMs(),
    });
    const keys = Object.keys(found.prices).length;
    if (found.problem) source += `: the Cloud Billing Catalog API was not used (${found.problem})`;
    else {
      prices = withPrices(DATED_PRICES, found.prices);
      const of = Object.keys(DATED_PRICES.prices).length;
      const rest = `common/prices/${DATED_PRICES.id}.json, read ${DATED_PRICES.read}`;
      source = `the Cloud Billing Catalog API (${keys} of ${of} prices; the rest from ${rest})`;
    }
  }
  const sameRegion = plan.gcp!.region === DATED_PRICES.region || (opts.online && prices !== DATED_PRICES);
  return {
    prices: source,
    ...(sameRegion
      ? {}
      : { regionNote: `the table holds ${DATED_PRICES.region} prices; the plan's region is ${plan.gcp!.region}` }),
    estimate: estimateCost(plan, prices),
  };
}

/** The whole section: where the prices came from, the table, and what it leaves out. */
export async function costReport(plan: Plan, opts: CostOptions = {}): Promise<string> {
  return costText(await pricePlan(plan, opts));
}

/** The section as text; `wide` false keeps it to 120 columns. */
export function costText({ prices, regionNote, estimate }: PricedPlan, wide = true): string {
  const para = (text: string) => (wide ? text : wrapText(text, TERMINAL_COLUMNS).join('\n'));
  return [
    para(`cost estimate, USD list prices, approximate: prices from ${prices}${regionNote ? ` (${regionNote})` : ''}`),
    costTable(estimate, wide),
    para(
      `capacity: the migration workers for at most ${estimate.databases[0]?.capacity.hours / 24} days per ` +
        'database (ON_DEMAND_USD: the same workers on demand); targets: per month (730 h) from creation, ' +
        'storage included.',
    ),
    ...(estimate.workload ? [para(`each worker runs: ${estimate.workload}`)] : []),
    ...(estimate.unpriced.length ? [para(`not priced (left out of the totals): ${estimate.unpriced.join('; ')}`)] : []),
    para(`not counted: ${DATED_PRICES.caveat.split('Not counted: ')[1] ?? 'network egress, backups'}`),
  ].join('\n');
}
