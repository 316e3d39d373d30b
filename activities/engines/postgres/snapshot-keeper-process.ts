// The snapshot keeper's process (snapshot-keeper.ts says why it exists). Reads its KeeperConfig
// from stdin, creates the slot with an exported snapshot, writes the snapshot's name and the
// slot's consistent point into dbmig.copy_state on the target, then waits, holding the replication
// connection idle, until the copy is released, the target stops answering, or the deadline.
import pg from 'pg';
import type { KeeperConfig } from './snapshot-keeper';
import { connect } from './sessions';

const POLL_MS = 1_000;
/** Consecutive failed reads of the target after which the keeper gives up (its target is gone). */
const TARGET_FAILURES = 30;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Opens the replication connection and creates the slot; the connection holds the snapshot. */
async function createSlot(config: KeeperConfig) {
  const source = await connect({ ...config.source, replication: 'database' }, undefined);
  const version = Number(
    (await source.query<{ server_version_num: string }>('SHOW server_version_num')).rows[0].server_version_num,
  );
  const slot = pg.escapeIdentifier(config.slot);
  const sql =
    version >= 150000
      ? `CREATE_REPLICATION_SLOT ${slot} LOGICAL pgoutput (SNAPSHOT 'export')`
      : `CREATE_REPLICATION_SLOT ${slot} LOGICAL pgoutput EXPORT_SNAPSHOT`;
  const { rows } = await source.query<{ consistent_point: string; snapshot_name: string }>(sql);
  return { source, created: rows[0] };
}

async function main(): Promise<void> {
  const config = JSON.parse(await readStdin()) as KeeperConfig;
  const target = await connect(config.target, undefined);
  let kept: Awaited<ReturnType<typeof createSlot>>;
  try {
    kept = await createSlot(config);
  } catch (err) {
    // The worker waiting for the snapshot reads this and fails the step with it, instead of timing
    // out: a role without REPLICATION is refused at the connection, before any slot is asked for.
    await target.query(`update dbmig.copy_state set keeper_error = $2 where job = $1`, [
      config.job,
      String((err as Error).message).slice(0, 500),
    ]);
    throw err;
  }
  const { source, created } = kept;
  await target.query(
    `update dbmig.copy_state set snapshot = $2, consistent_lsn = $3::pg_lsn, keeper_pid = $4 where job = $1`,
    [config.job, created.snapshot_name, created.consistent_point, process.pid],
  );
  let failures = 0;
  for (;;) {
    if (Date.now() >= config.deadline) break;
    await new Promise((r) => setTimeout(r, POLL_MS));
    try {
      const r = await target.query(`select released_at is not null as released from dbmig.copy_state where job = $1`, [
        config.job,
      ]);
      failures = 0;
      if (!r.rows.length || r.rows[0].released) break;
    } catch {
      if (++failures >= TARGET_FAILURES) break;
    }
  }
  // Ending the replication connection releases the snapshot; the slot stays for the subscription.
  await source.end().catch(() => undefined);
  await target.end().catch(() => undefined);
}

main().then(
  () => process.exit(0),
  () => process.exit(1),
);
