// The write fence's deadline is armed before the block starts (issue 17, point 8). A worker opens
// the fence (test/helpers/fence-child.ts, a process of its own) while another session holds a
// conflicting lock, so its LOCK waits; the worker is frozen (SIGSTOP) in that round trip and the
// conflicting lock is released, so the server grants the SHARE lock to a session whose client
// will not say anything more. The lock must end by the block's deadline anyway, on every server
// version (before 17 only idle_in_transaction_session_timeout can end it; it used to be set only
// after the LOCK returned, leaving the lock to TCP keepalive, about 2 hours). The block must be
// on record, with that session and deadline, before the LOCK was sent. The rollback blocks the
// target through the same Fence.open (rollback.ts). Runs on 12, 15, 16, 17 and 18
// (FENCE_DEADLINE_VERSIONS to choose).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { LocalClusters, type ClusterInfo } from '../activities/platforms/local/clusters';
import { withClient } from '../activities/engines/postgres/sessions';

const stateDir = resolve('.local-platform', 'test-fence-deadline');
const clusters = new LocalClusters(stateDir);
const VERSIONS = (process.env.FENCE_DEADLINE_VERSIONS ?? '12,15,16,17,18').split(',').map(Number);
/** The block's length: long enough that the lock wait (at most 2 s) is over well before it. */
const BLOCK_MS = 10_000;
/** How late after the deadline the lock may still be seen: the poll's period on a loaded machine. */
const MARGIN_MS = 1_500;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

before(() => rm(stateDir, { recursive: true, force: true }));
after(async () => {
  for (const v of VERSIONS) await clusters.destroy(`fence${v}`).catch(() => undefined);
  await rm(stateDir, { recursive: true, force: true });
});

interface Child {
  proc: ChildProcess;
  lines: string[];
}

function startWorker(info: ClusterInfo): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', resolve(__dirname, 'helpers/fence-child.ts')], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  let buf = '';
  proc.stdout!.on('data', (d: Buffer) => {
    buf += String(d);
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts);
  });
  proc.stdin!.end(
    JSON.stringify({ params: { ...info, database: 'shop' }, tables: ['public.items'], blockMs: BLOCK_MS }),
  );
  return { proc, lines };
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** One attempt: undefined when the LOCK timed out before the conflicting lock was released (a slow machine). */
async function frozenInLock(info: ClusterInfo) {
  const db = { ...info, database: 'shop' };
  const holder = new pg.Client(db);
  const watch = new pg.Client(db);
  await holder.connect();
  await watch.connect();
  const worker = startWorker(info);
  try {
    await holder.query('begin');
    await holder.query(`insert into items (qty) values (1)`); // ROW EXCLUSIVE: the SHARE lock must wait
    const pid = await until(
      'the fence LOCK to wait',
      async () =>
        (
          await watch.query<{ pid: number }>(
            `select pid from pg_stat_activity where application_name = 'dbmig fence' and wait_event_type = 'Lock'`,
          )
        ).rows[0]?.pid,
      30_000,
    );
    process.kill(worker.proc.pid!, 'SIGSTOP');
    await holder.query('commit');
    const granted = await until(
      'the SHARE lock granted or the LOCK given up',
      async () => {
        const { rows } = await watch.query<{ granted: boolean }>(
          `select granted from pg_locks where pid = $1 and mode = 'ShareLock' and locktype = 'relation'`,
          [pid],
        );
        if (!rows.length) return false; // lock_timeout ended the wait first
        return rows[0].granted ? true : undefined;
      },
      10_000,
    );
    if (!granted) return undefined;
    const grantedAt = Date.now();
    const deadlineLine = worker.lines.find((l) => l.startsWith('DEADLINE '));
    assert.ok(deadlineLine, `the worker printed its deadline: ${worker.lines.join(' | ')}`);
    const deadline = Number(deadlineLine.split(' ')[1]);
    // Held until the server ends it; looked at for well past the deadline before giving up.
    const endedAt = await until(
      'the SHARE lock to end',
      async () => {
        const { rows } = await watch.query(`select 1 from pg_locks where pid = $1 and mode = 'ShareLock'`, [pid]);
        if (!rows.length) return Date.now();
        return Date.now() > deadline + 10_000 ? -1 : undefined;
      },
      BLOCK_MS + 20_000,
    );
    const record = worker.lines.find((l) => l.startsWith('RECORD '));
    return {
      pid,
      deadline,
      grantedAt,
      endedAt,
      record: record ? (JSON.parse(record.slice(7)) as { pid: number; deadline: number }) : undefined,
    };
  } finally {
    process.kill(worker.proc.pid!, 'SIGCONT');
    worker.proc.kill('SIGKILL');
    await holder.end().catch(() => undefined);
    await watch.end().catch(() => undefined);
  }
}

for (const version of VERSIONS) {
  test(`PostgreSQL ${version}: a worker frozen in the LOCK round trip blocks no longer than the deadline`, async () => {
    const info = await clusters.ensure(`fence${version}`, { version });
    await withClient({ ...info, database: 'postgres' }, (c) => c.query('create database shop'));
    await withClient({ ...info, database: 'shop' }, (c) =>
      c.query('create table items (id bigserial primary key, qty int not null)'),
    );
    let run: Awaited<ReturnType<typeof frozenInLock>>;
    for (let attempt = 1; !(run = await frozenInLock(info)); attempt++)
      assert.ok(attempt < 3, 'the LOCK was granted while the worker was frozen in one of 3 attempts');
    const late = run.endedAt < 0 ? Infinity : run.endedAt - run.deadline;
    console.log(
      `PostgreSQL ${version}: block of ${BLOCK_MS} ms; the lock granted to the frozen worker ended ` +
        (late === Infinity
          ? 'never (still held 10 s past the deadline)'
          : `${Math.abs(late)} ms ${late > 0 ? 'after' : 'before'} the deadline, ` +
            `held ${run.endedAt - run.grantedAt} ms from its grant`),
    );
    assert.ok(late <= MARGIN_MS, `the lock ended by the deadline (+${MARGIN_MS} ms): ${late} ms after it`);
    assert.deepEqual(
      run.record && { pid: run.record.pid, deadline: run.record.deadline },
      { pid: run.pid, deadline: run.deadline },
      'the block (its session and deadline) was recorded before the LOCK was sent',
    );
    // Writes come back: the server rolled the fence's transaction back.
    await withClient({ ...info, database: 'shop' }, (c) => c.query('insert into items (qty) values (2)'));
  });
}
