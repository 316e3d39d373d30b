// An application that owns the cutover decision for one database: it waits until the database
// awaits approval, checks what it cares about, and approves through the client library.
//   TEMPORAL_ADDRESS=localhost:7233 npx tsx examples/approver-app.ts MIGRATION_ID DATABASE
import { approveCutover, clientFromEnv, rejectCutover, RefusedError, waitForState } from '../client';

async function main(migrationId: string, database: string): Promise<number> {
  const { client, close } = await clientFromEnv();
  try {
    const ready = await waitForState(client, migrationId, database, 'AWAITING_APPROVAL', { pollMs: 500 });
    // The application's own gate: here, lag must be low and validation clean.
    const healthy = (ready.lagSeconds ?? 0) < 5 && !/mismatch/.test(ready.validation ?? '');
    const ack = healthy
      ? await approveCutover(
          client,
          migrationId,
          database,
          'approver-app',
          `lag ${ready.lagSeconds ?? 0}s; ${ready.validation}`,
        )
      : await rejectCutover(client, migrationId, database, 'approver-app', 'health gate failed');
    console.log(`${ack.decision} ${ack.database}`);
    return 0;
  } catch (err) {
    console.error(err instanceof RefusedError ? `refused: ${err.message}` : String(err));
    return 1;
  } finally {
    await close();
  }
}

const [migrationId, database] = process.argv.slice(2);
if (!migrationId || !database) {
  console.error('usage: approver-app MIGRATION_ID DATABASE');
  process.exit(2);
}
main(migrationId, database).then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`approver-app: ${err.message}`);
    process.exit(1);
  },
);
