// The fleet's side of waves (dependsOn): which databases a database still waits for, shown in the
// status, and the signal that releases a child whose cutover is held for them (dependency-wait.ts).
// The fleet signals only when a held child reports its hold or a dependency completes: never per
// poll. Guarded by the waves-21 patch, and only for plans that name dependsOn.
import { getExternalWorkflowHandle, log, patched } from '@temporalio/workflow';
import { dependenciesCompletedSignal } from '../common/messages';
import { DEPENDENCY_DONE } from '../common/plan-waves';
import { isTerminal } from '../common/states';
import type { DatabaseSummary } from '../common/status';
import { WAVES_PATCH } from './dependency-wait';
import { describeError } from './errors';

export class FleetWaves {
  private readonly deps: Map<string, string[]>;
  /** Read once at the start of the run, only for a plan that names dependsOn (no other run records the marker). */
  private readonly patched: boolean;

  constructor(databases: readonly { name: string; dependsOn?: string[] }[]) {
    this.deps = new Map(databases.filter((d) => d.dependsOn?.length).map((d) => [d.name, d.dependsOn!]));
    this.patched = this.deps.size > 0 && patched(WAVES_PATCH);
  }

  /** Whether the plan orders any cutover after another's. */
  get any(): boolean {
    return this.deps.size > 0;
  }

  /** `s` with what it still waits for (the status's waitingFor), or `s` itself when nothing. */
  view(s: DatabaseSummary, lookup: (name: string) => DatabaseSummary | undefined): DatabaseSummary {
    const deps = this.deps.get(s.database);
    if (!deps || isTerminal(s.state)) return s;
    const waiting = deps.flatMap((d) => {
      const state = lookup(d)?.state ?? 'PENDING';
      return DEPENDENCY_DONE.has(state) ? [] : [`${d} (${state}${STUCK[state] ? `: ${STUCK[state]}` : ''})`];
    });
    return waiting.length ? { ...s, waitingFor: waiting } : s;
  }

  /**
   * After `summary` came in (its previous state `before`): releases the held children it concerns
   * whose dependencies have all completed: the child that just reported its hold, or every child
   * held for the database that just completed.
   */
  release(
    summary: DatabaseSummary,
    before: string,
    all: readonly DatabaseSummary[],
    lookup: (name: string) => DatabaseSummary | undefined,
  ): void {
    if (!this.patched) return;
    const justDone = DEPENDENCY_DONE.has(summary.state) && !DEPENDENCY_DONE.has(before);
    for (const held of all) {
      const deps = this.deps.get(held.database);
      if (!deps || !held.heldFor?.length || !held.started || isTerminal(held.state)) continue;
      if (held.database !== summary.database && !(justDone && deps.includes(summary.database))) continue;
      if (!deps.every((d) => DEPENDENCY_DONE.has(lookup(d)?.state ?? 'PENDING'))) continue;
      void getExternalWorkflowHandle(held.childWorkflowId)
        .signal(dependenciesCompletedSignal, { completed: deps })
        .catch((err) =>
          log.warn('could not release a held cutover', { child: held.childWorkflowId, error: describeError(err) }),
        );
    }
  }
}

/** What the operator can do about a dependency that will not complete on its own. */
const STUCK: Partial<Record<string, string>> = {
  FAILED: 'retry it (dbmig retry), or cancel this database',
  CANCELLED: 'retry it (dbmig retry), or cancel this database',
  NEEDS_ATTENTION: 'it will not complete under this migration: finish it by hand, then cancel this database',
  ROLLED_BACK: 'it gave the writes back to its source: cancel this database, or migrate both again',
};
