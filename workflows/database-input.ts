// What the parent hands one database's workflow (and what a run hands the next across
// continue-as-new), and the task every step of it receives. Its own file, so the runbook's parts
// can name the input without importing the workflow.
import type { DatabaseTask } from '../activities';
import type { CutoverWindow } from '../common/cutover-window';
import type { NotificationSettings } from '../common/notify-plan';
import type { DatabasePlan, PlatformName } from '../common/plan';
import type { EffectiveSettings } from '../common/plan-settings';
import type { GcpSettings } from '../common/plan-gcp';
import type { SimSettings } from '../common/sim-plan';
import type { ExpectedRates } from '../common/expected-rates';
import type { DatabaseSummary } from '../common/status';
import type { CarriedRun } from './carried-run';

export interface DatabaseMigrationInput {
  migrationId: string;
  platform: PlatformName;
  /** The parent's workflow id, to report progress to; absent when run on its own. */
  parentWorkflowId?: string;
  database: DatabasePlan;
  settings: EffectiveSettings;
  /** From the validated plan, whose onTimeout defaults to escalate. */
  approval: { policy: 'manual' | 'auto'; timeoutMs: number; onTimeout: 'escalate' | 'fail' };
  notifications?: NotificationSettings;
  gcp?: GcpSettings;
  sim?: SimSettings;
  cutoverWindow?: CutoverWindow;
  /** The plan's roles, passed when the database names approvers (role:NAME entries resolve through them). */
  roles?: Record<string, string[]>;
  /**
   * The copy and apply rates its anomaly detector compares with (common/expected-rates.ts): the
   * rehearsal's or the fleet's median, decided by the parent when it starts the child; absent: none.
   */
  expected?: ExpectedRates;
  /** Where the run this one continues from was (carried-run.ts); absent on a first run. */
  carried?: CarriedRun;
}

/** The workflow's signature, for continue-as-new without importing the workflow itself. */
export type DatabaseMigrationWorkflow = (input: DatabaseMigrationInput) => Promise<DatabaseSummary>;

/** What every step of the run receives: the database and its platform's settings. */
export function taskOf(input: DatabaseMigrationInput): DatabaseTask {
  return {
    migrationId: input.migrationId,
    platform: input.platform,
    database: input.database,
    settings: input.settings,
    ...(input.gcp ? { gcp: input.gcp } : {}),
    ...(input.sim ? { sim: input.sim } : {}),
    ...(input.expected ? { expected: input.expected } : {}),
  };
}
