// The Prometheus exporter's options, shared by the worker and the demo: every duration histogram the
// worker exports is in seconds, with buckets in seconds. The SDK's defaults are milliseconds for its
// own latencies and millisecond buckets (50, 100, 500, 1000, 2500, 10000) for every histogram, ours
// included: a cutover blocking writes for 0.06 s landed in le="50" and the dashboard's p95 read
// 47.5 s (issue 21). test/metrics-scrape.test.ts scrapes a real worker to hold this.

/**
 * The write block of a cutover, in seconds: from 5 ms (a cutover of an idle database) to a minute
 * (anything longer is a problem to read in the status, not a bucket).
 */
export const WRITE_BLOCK_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** Histograms of ours, by name, with their buckets (seconds). */
export const HISTOGRAM_BUCKETS: Record<string, number[]> = {
  dbmig_cutover_write_block_seconds: WRITE_BLOCK_BUCKETS_S,
};

/** The `metrics` telemetry option of Runtime.install for a Prometheus endpoint on `bindAddress`. */
export function prometheusExporter(bindAddress: string) {
  return {
    prometheus: {
      bindAddress,
      // The SDK's latencies (temporal_activity_execution_latency, …) in seconds, as Prometheus names them.
      useSecondsForDurations: true,
      histogramBucketOverrides: HISTOGRAM_BUCKETS,
    },
  };
}
