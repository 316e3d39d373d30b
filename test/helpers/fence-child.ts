// A worker that opens a write fence and is then frozen by its parent (test/fence-deadline.test.ts):
// reads {params, tables, blockMs} from stdin (the password never in process arguments), prints
// the deadline it will pass, each record Fence.open asks for (before the LOCK), and OPEN once the
// fence is open; then waits to be stopped or killed.
import { Fence } from '../../activities/engines/postgres/fence';
import { connect, type ConnectionParams } from '../../activities/engines/postgres/sessions';

interface Input {
  params: ConnectionParams;
  tables: string[];
  blockMs: number;
}

async function main(): Promise<void> {
  let text = '';
  for await (const chunk of process.stdin) text += String(chunk);
  const input = JSON.parse(text) as Input;
  const helper = await connect(input.params);
  const deadline = Date.now() + input.blockMs;
  process.stdout.write(`DEADLINE ${deadline}\n`);
  await Fence.open(input.params, input.tables, deadline, helper, async (ref) => {
    process.stdout.write(`RECORD ${JSON.stringify({ ...ref, deadline })}\n`);
  });
  process.stdout.write('OPEN\n');
  setInterval(() => undefined, 60_000);
}

main().catch((err: Error) => {
  process.stdout.write(`ERROR ${err.message}\n`);
  process.exit(1);
});
