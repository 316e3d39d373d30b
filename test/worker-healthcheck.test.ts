// The image's HEALTHCHECK (bin/dbmig-healthcheck.js): unhealthy while the metrics endpoint is down,
// answers an error, or answers before a worker has started; healthy once a real `dbmig worker`
// has connected to Temporal and created its worker.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTimeSkippingServer } from './helpers/time-skipping';

const ROOT = join(__dirname, '..');
const SCRIPT = join(ROOT, 'bin', 'dbmig-healthcheck.js');

/** Runs the check as Docker does; asynchronously, so this process's stand-in servers can answer it. */
function healthcheck(address: string): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [SCRIPT],
      { encoding: 'utf8', timeout: 30_000, env: { PATH: process.env.PATH, DBMIG_METRICS_ADDRESS: address } },
      (err, stdout, stderr) => resolve({ status: err ? Number(err.code ?? 1) : 0, out: stdout + stderr }),
    );
  });
}

/** A stand-in metrics endpoint answering `status` with `body`. */
async function metricsServer(status: number, body: string): Promise<{ server: Server; address: string }> {
  const server = createServer((_req, res) => res.writeHead(status, { 'content-type': 'text/plain' }).end(body));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, address: `127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const closers: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const close of closers.reverse()) await close();
});

test('unhealthy until the metrics say a worker started; each reason named', async () => {
  const before = await metricsServer(200, '# HELP temporal_request Count\ntemporal_request{x="y"} 3\n');
  const started = await metricsServer(200, 'temporal_request 3\ntemporal_worker_start{namespace="default"} 1\n');
  const broken = await metricsServer(500, 'temporal_worker_start 1\n');
  for (const s of [before, started, broken]) closers.push(() => new Promise((r) => s.server.close(r)));

  let r = await healthcheck(before.address);
  assert.equal(r.status, 1, r.out);
  assert.match(r.out, /answers, but no worker has started yet/);
  r = await healthcheck(started.address);
  assert.equal(r.status, 0, r.out);
  r = await healthcheck(broken.address);
  assert.equal(r.status, 1, r.out);
  assert.match(r.out, /answered 500/);
  // The bind address a container uses (0.0.0.0) is reached on loopback.
  r = await healthcheck(started.address.replace('127.0.0.1', '0.0.0.0'));
  assert.equal(r.status, 0, r.out);

  // Nothing listening: the port of a server just closed.
  const gone = await metricsServer(200, '');
  await new Promise((res) => gone.server.close(res));
  r = await healthcheck(gone.address);
  assert.equal(r.status, 1, r.out);
  assert.match(r.out, /ECONNREFUSED/);
  r = await healthcheck('off');
  assert.equal(r.status, 1, r.out);
  assert.match(r.out, /DBMIG_METRICS_ADDRESS=off/);
});

test('a real dbmig worker becomes healthy once it has connected and started', async () => {
  const env = await startTimeSkippingServer();
  closers.push(() => env.teardown());
  const stateDir = await mkdtemp(join(tmpdir(), 'dbmig-healthcheck-'));
  closers.push(() => rm(stateDir, { recursive: true, force: true }));
  // A free port for the worker's metrics.
  const probe = await metricsServer(200, '');
  const address = probe.address;
  await new Promise((r) => probe.server.close(r));

  const worker: ChildProcess = spawn(process.execPath, [join(ROOT, 'bin', 'dbmig.js'), 'worker'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: env.address,
      TEMPORAL_NAMESPACE: 'default',
      TEMPORAL_TASK_QUEUE: 'healthcheck-test',
      DBMIG_METRICS_ADDRESS: address,
      DBMIG_STATE_DIR: stateDir,
    },
  });
  let log = '';
  worker.stdout!.on('data', (d) => (log += d));
  worker.stderr!.on('data', (d) => (log += d));
  const exited = new Promise<number | null>((r) => worker.once('exit', r));
  closers.push(async () => {
    if (worker.exitCode === null) worker.kill('SIGTERM');
    await exited;
  });

  // Polled until healthy; the deadline only bounds a hang (bundling the workflows takes seconds).
  const deadline = Date.now() + 240_000;
  let r = await healthcheck(address);
  while (r.status !== 0 && worker.exitCode === null && Date.now() < deadline) {
    await sleep(500);
    r = await healthcheck(address);
  }
  assert.equal(r.status, 0, `${r.out}\nworker log:\n${log}`);
  worker.kill('SIGTERM');
  assert.equal(await exited, 0, log);
  // Gone, it is unhealthy again.
  assert.equal((await healthcheck(address)).status, 1);
});
