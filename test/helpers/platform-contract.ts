// The contract every MigrationPlatform passes, registered once per platform (issue 7, point 7):
// - an operation that changes the world, run twice, leaves it as running it once did;
// - a get-or-create that meets a conflicting resource with its name refuses, with a message
//   naming the difference, before changing anything;
// - an undo (stop, delete, release, rollback) of what does not exist changes nothing.
// "The world" is whatever the platform's subject can observe (describeWorld), so a platform
// that leaves a second copy, a re-created object or a stray resource behind fails here.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { MigrationError } from '../../common/failures';
import { type CutoverResult, type DatabaseTask } from '../../activities/steps';
import { type MigrationPlatform } from '../../activities/platforms/platform';

export type GetOrCreate = 'provisionTarget' | 'reserveCapacity' | 'createMigrationJob';

/** The get-or-create steps in runbook order: a conflict on one is met after the earlier ones ran. */
const RUNBOOK: GetOrCreate[] = ['provisionTarget', 'reserveCapacity', 'createMigrationJob'];

export interface ConflictCase {
  operation: GetOrCreate;
  /** The conflicting resource, in words (the test's name). */
  what: string;
  /**
   * Puts a resource with the task's name but another configuration in place; runs after the
   * runbook steps before `operation`. Returns what the refusal's message must say.
   */
  arrange(task: DatabaseTask, platform: MigrationPlatform): Promise<RegExp>;
}

export interface TaskOptions {
  /** Defaults to one per scenario; another id shares the scenario's places but owns nothing there. */
  migrationId?: string;
  /** The task's target instance (cluster) does not exist either. */
  absentTarget?: boolean;
}

export interface PlatformSubject {
  name: string;
  /** The platform copies the rows itself (copyInitialData), rather than through replication. */
  copiesRows?: boolean;
  start(): Promise<MigrationPlatform>;
  stop(): Promise<void>;
  /** A task whose resources no other scenario shares: its own source database and target. */
  task(scenario: string, opts?: TaskOptions): Promise<DatabaseTask>;
  /** Everything the platform can have created or changed, minus facts that move on their own (LSNs, clocks). */
  describeWorld(): Promise<unknown>;
  conflicts: ConflictCase[];
  /** Tests that fail because of a known bug, by name: why (they run as `todo`). */
  knownBugs?: Record<string, string>;
}

const REPLICATION_TIMEOUT_MS = 60_000;
/** A retry comes after the heartbeat timeout, when what the interrupted attempt set off has landed. */
const RETRY_AFTER_MS = 1_000;
const CUTOVER_TIMEOUT_MS = 30_000;

/** A cutover's result without writeBlockMs, which measures the block a call made: a repeat may make none. */
const stable = ({ endpoint, finalLsn, sequencesCopied }: CutoverResult) => ({ endpoint, finalLsn, sequencesCopied });

/** A cutover that waits forever must fail the test, not hang it. */
function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what}: no result after ${CUTOVER_TIMEOUT_MS} ms`)),
      CUTOVER_TIMEOUT_MS,
    );
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export function platformContract(subject: PlatformSubject): void {
  describe(`platform contract: ${subject.name}`, () => {
    let platform: MigrationPlatform;
    const world = () => subject.describeWorld();
    // A test named in knownBugs runs as todo: its failure is reported, not counted.
    const it = (name: string, fn: () => Promise<void>): void => {
      test(name, subject.knownBugs?.[name] ? { todo: subject.knownBugs[name] } : {}, fn);
    };

    before(async () => {
      platform = await subject.start();
    });
    after(() => subject.stop());

    /** Runs `op` twice; the world after the second run must be the world after the first. */
    async function twice<T>(name: string, op: () => Promise<T>, settle?: () => Promise<void>): Promise<[T, T]> {
      const first = await op();
      await settle?.();
      const once = await world();
      const second = await op();
      await settle?.();
      unchanged(once, await world(), `${name} run a second time changed the world`);
      return [first, second];
    }

    /** Runs `op` on a world where its object does not exist: no throw, nothing changes. */
    async function noOp(name: string, op: () => Promise<unknown>): Promise<void> {
      const before = await world();
      await op();
      unchanged(before, await world(), `${name} of nothing changed the world`);
    }

    /** Runs `op`, which must throw RollbackUnavailable and change nothing. */
    async function refused(name: string, op: () => Promise<unknown>): Promise<void> {
      const before = await world();
      await assert.rejects(op, (err: unknown) => {
        assert.ok(err instanceof MigrationError, `not a MigrationError: ${String(err)}`);
        assert.equal(err.type, 'RollbackUnavailable', err.message);
        return true;
      });
      unchanged(before, await world(), `the refused ${name} changed the world`);
    }

    /** Replication settles in CDC once the copy is done; only then does the world stand still. */
    async function untilCdc(task: DatabaseTask): Promise<void> {
      const until = Date.now() + REPLICATION_TIMEOUT_MS;
      for (;;) {
        const s = await platform.getReplicationStatus(task);
        if (s.phase === 'CDC') return;
        assert.equal(s.errorCount, 0, `replication fails: ${s.errors.join('; ')}`);
        assert.ok(
          Date.now() < until,
          `replication still ${s.phase} (${s.detail ?? ''}) after ${REPLICATION_TIMEOUT_MS} ms`,
        );
        await new Promise((r) => setTimeout(r, 100));
      }
    }

    describe('the runbook to a cutover, each step twice', () => {
      let task: DatabaseTask;
      before(async () => {
        task = await subject.task('cutover');
      });

      it('provisionTarget twice: same target, world as once', async () => {
        const [a, b] = await twice('provisionTarget', () => platform.provisionTarget(task));
        assert.deepEqual(b, a);
        assert.equal(a.ownedByMigration, true);
      });

      it("deleteTarget of another migration's target changes nothing", async () => {
        const other = await subject.task('cutover', { migrationId: 'someone-else' });
        await noOp('deleteTarget', () => platform.deleteTarget(other));
      });

      it('reserveCapacity twice: same reservation, world as once', async () => {
        const [a, b] = await twice('reserveCapacity', () => platform.reserveCapacity(task));
        assert.deepEqual(b, a);
      });

      it('createMigrationJob twice: world as once', async () => {
        await twice('createMigrationJob', () => platform.createMigrationJob(task));
        assert.deepEqual(await platform.verifyMigrationJob(task), []);
      });

      it('startMigrationJob twice: world as once (compared in CDC)', async () => {
        await twice(
          'startMigrationJob',
          () => platform.startMigrationJob(task),
          async () => {
            // Where the platform copies the rows itself, the copy is what reaches CDC (the full-dump wait runs it).
            await platform.copyInitialData?.(task, () => undefined);
            await untilCdc(task);
          },
        );
      });

      if (subject.copiesRows)
        it('copyInitialData twice: world as once (compared in CDC)', async () => {
          await twice(
            'copyInitialData',
            () => platform.copyInitialData!(task, () => undefined),
            () => untilCdc(task),
          );
        });

      it('cutover twice: same result, world as once', async () => {
        const [a, b] = await twice('cutover', () => platform.cutover(task, () => undefined));
        assert.deepEqual(stable(b), stable(a));
      });

      it('rollbackCutover twice: world as once', async () => {
        await twice('rollbackCutover', () => platform.rollbackCutover(task));
      });

      it('finalizeCutover twice: world as once', async () => {
        await twice('finalizeCutover', () => platform.finalizeCutover(task));
      });

      it('rollbackAfterCutover after finalizeCutover is refused (RollbackUnavailable), world unchanged', async () => {
        await refused('rollbackAfterCutover', () => platform.rollbackAfterCutover(task, () => undefined));
      });
    });

    it('cutover interrupted at each of its steps, run again, completes as once', async () => {
      // A worker can die anywhere in a cutover; the retry (on another worker, after the heartbeat
      // timeout) must finish it. Each round interrupts a fresh job at its k-th distinct step.
      for (let k = 1; ; k++) {
        const task = await subject.task(`interrupt-${k}`);
        await platform.provisionTarget(task);
        await platform.createMigrationJob(task);
        await platform.startMigrationJob(task);
        await platform.copyInitialData?.(task, () => undefined);
        await untilCdc(task);
        const steps: string[] = [];
        const interrupted = await platform
          .cutover(task, (step) => {
            if (step !== steps.at(-1)) steps.push(step);
            if (steps.length === k) throw new Error(`interrupted at "${step}"`);
          })
          .then(
            () => false,
            () => true,
          );
        if (interrupted) await new Promise((r) => setTimeout(r, RETRY_AFTER_MS));
        const [a, b] = await twice(`cutover after an interruption at "${steps.at(-1)}"`, () =>
          withTimeout(
            platform.cutover(task, () => undefined),
            `cutover retried after "${steps.at(-1)}"`,
          ),
        );
        assert.deepEqual(stable(b), stable(a));
        const final = await platform.validateData(task, 'final');
        assert.ok(final.ok, `after an interruption at "${steps.at(-1)}": ${final.summary}`);
        if (!interrupted) return;
      }
    });

    describe('undo of a running job, each step twice, back to the world before', () => {
      let task: DatabaseTask;
      let initial: unknown;
      before(async () => {
        task = await subject.task('undo');
        initial = await world();
        await platform.provisionTarget(task);
        await platform.reserveCapacity(task);
        await platform.createMigrationJob(task);
        await platform.startMigrationJob(task);
        await platform.copyInitialData?.(task, () => undefined);
        await untilCdc(task);
      });

      it('stopMigrationJob twice: world as once', async () => {
        await twice('stopMigrationJob', () => platform.stopMigrationJob(task));
      });

      it('deleteMigrationJob twice: world as once', async () => {
        await twice('deleteMigrationJob', () => platform.deleteMigrationJob(task));
      });

      it('releaseCapacity twice: world as once', async () => {
        await twice('releaseCapacity', () => platform.releaseCapacity(task));
      });

      it('deleteTarget twice: world as once', async () => {
        await twice('deleteTarget', () => platform.deleteTarget(task));
      });

      it('after the undo the world is as it was before the runbook', async () => {
        unchanged(initial, await world(), 'the undo left the world changed');
      });
    });

    describe('undo of what does not exist changes nothing', () => {
      const undos = {
        stopMigrationJob: (t: DatabaseTask) => platform.stopMigrationJob(t),
        deleteMigrationJob: (t: DatabaseTask) => platform.deleteMigrationJob(t),
        releaseCapacity: (t: DatabaseTask) => platform.releaseCapacity(t),
        deleteTarget: (t: DatabaseTask) => platform.deleteTarget(t),
        rollbackCutover: (t: DatabaseTask) => platform.rollbackCutover(t),
        finalizeCutover: (t: DatabaseTask) => platform.finalizeCutover(t),
      };
      // Every undo gets the same two worlds: each must leave them as it found them.
      for (const [name, undo] of Object.entries(undos)) {
        it(`${name} for a migration that created nothing`, async () => {
          const task = await subject.task('none');
          await noOp(name, () => undo(task));
        });
        it(`${name} for a migration whose target instance does not exist`, async () => {
          const task = await subject.task('nothing', { absentTarget: true });
          await noOp(name, () => undo(task));
        });
      }
      it('rollbackAfterCutover for a migration that created nothing is refused (RollbackUnavailable)', async () => {
        const task = await subject.task('none');
        await refused('rollbackAfterCutover', () => platform.rollbackAfterCutover(task, () => undefined));
      });
      it('rollbackAfterCutover for a migration whose target instance does not exist is refused', async () => {
        const task = await subject.task('nothing', { absentTarget: true });
        await refused('rollbackAfterCutover', () => platform.rollbackAfterCutover(task, () => undefined));
      });
    });

    describe('a conflicting resource is refused, naming the difference, before any change', () => {
      subject.conflicts.forEach((c, i) => {
        it(`${c.operation} refuses ${c.what}`, async () => {
          const task = await subject.task(`conflict-${i}`);
          for (const step of RUNBOOK.slice(0, RUNBOOK.indexOf(c.operation))) await platform[step](task);
          const difference = await c.arrange(task, platform);
          const before = await world();
          await assert.rejects(
            () => platform[c.operation](task),
            (err: unknown) => {
              assert.ok(err instanceof MigrationError, `not a MigrationError: ${String(err)}`);
              assert.equal(err.type, 'AlreadyExistsMismatch', err.message);
              assert.match(err.message, difference);
              return true;
            },
          );
          unchanged(before, await world(), `the refused ${c.operation} changed the world`);
        });
      });
    });
  });
}

function unchanged(before: unknown, after: unknown, message: string): void {
  const diffs = worldDifferences(before, after);
  assert.ok(diffs.length === 0, `${message}:\n  ${diffs.join('\n  ')}`);
}

/** Where two descriptions of the world differ, one line per changed path (a whole world's diff is unreadable). */
export function worldDifferences(before: unknown, after: unknown, path = ''): string[] {
  if (isDeepStrictEqual(before, after)) return [];
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
  if (!isObject(before) || !isObject(after) || Array.isArray(before) !== Array.isArray(after))
    return [`${path || '(world)'}: ${JSON.stringify(before)} -> ${JSON.stringify(after)}`];
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
  return keys.flatMap((k) =>
    worldDifferences(before[k], after[k], `${path}${Array.isArray(before) ? `[${k}]` : `.${k}`}`),
  );
}
