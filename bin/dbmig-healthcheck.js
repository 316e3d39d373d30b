#!/usr/bin/env node
// The worker image's HEALTHCHECK (no curl in the image). Healthy once the worker's Prometheus
// endpoint (DBMIG_METRICS_ADDRESS) answers and reports temporal_worker_start: the SDK counts a worker
// there when it is created, which `dbmig worker` does only after it has connected to Temporal and
// checked the namespace's search attributes. The endpoint alone comes up before the connection.
// Exit 0 healthy, 1 not, with one line saying why.
const address = process.env.DBMIG_METRICS_ADDRESS ?? '127.0.0.1:9464';
const TIMEOUT_MS = Number(process.env.DBMIG_HEALTHCHECK_TIMEOUT_MS ?? 4000);

function fail(why) {
  console.error(`dbmig worker unhealthy: ${why}`);
  process.exit(1);
}

if (address === 'off') fail('DBMIG_METRICS_ADDRESS=off, and the health check reads the metrics');
const colon = address.lastIndexOf(':');
if (colon < 0) fail(`DBMIG_METRICS_ADDRESS=${address} is not host:port`);
// A wildcard bind address is reached on loopback from inside the container.
let host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
if (host === '' || host === '0.0.0.0') host = '127.0.0.1';
if (host === '::') host = '::1';
const url = `http://${host.includes(':') ? `[${host}]` : host}:${address.slice(colon + 1)}/metrics`;

fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) })
  .then(async (res) => {
    if (!res.ok) fail(`${url} answered ${res.status}`);
    const body = await res.text();
    if (!/^temporal_worker_start\b/m.test(body)) fail(`${url} answers, but no worker has started yet`);
    console.log(`dbmig worker healthy (${url})`);
  })
  .catch((err) => fail(`${url}: ${err.cause?.code ?? err.name ?? err.message}`));
