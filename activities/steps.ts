// What each step takes and returns: the types the workflows, the activities, the platforms and the
// engines share. Plain data (they are activity inputs and results, so they travel through histories).
import type { DatabasePlan, PlatformName } from '../common/plan';
import type { EffectiveSettings } from '../common/plan-settings';
import type { GcpSettings } from '../common/plan-gcp';
import type { SimSettings } from '../common/sim-plan';
import type { ExpectedRates } from '../common/expected-rates';
import type { Anomaly } from '../common/anomaly';
import type { CapacityMode } from '../common/capacity';
import type { MigrationState } from '../common/states';

/** What every platform operation receives: the database's plan entry and its settings. */
export interface DatabaseTask {
  migrationId: string;
  platform: PlatformName;
  database: DatabasePlan;
  settings: EffectiveSettings;
  /** The plan's gcp section (project, region, ...); present when platform is gcp. */
  gcp?: GcpSettings;
  /** The plan's sim section; present when platform is sim. */
  sim?: SimSettings;
  /**
   * Set by the activity layer: the workflow run and activity this call serves, the same across the
   * activity's retries. Vendor request ids derive from it (common/naming.ts requestId).
   */
  requestScope?: string;
  /**
   * Finalize only: an operator acknowledged the writes made on the closed source after the cutover
   * (the post-cutover watch found them); without it, finalize refuses while there are any.
   */
  acknowledgeSourceWrites?: boolean;
  /** The copy and apply rates the anomaly detector compares with (common/expected-rates.ts); absent: none. */
  expected?: ExpectedRates;
  /** Watch only: the anomalies the workflow believes active as the watch starts (a run continued as new). */
  anomalies?: Anomaly[];
}

export type Severity = 'error' | 'warning' | 'info';

export interface Finding {
  code: string;
  severity: Severity;
  message: string;
  table?: string;
}

export interface AssessmentResult {
  serverVersion: string;
  /** The target's major version as the platform will provision it, where it knows it. */
  targetVersion?: string;
  tables: string[];
  estimatedRows: number;
  findings: Finding[];
  /** True when an error-severity finding stops the migration before any side effect. */
  blocked: boolean;
}

export interface TargetInfo {
  endpoint: string;
  /** Whether the target database belongs to this migration (created by it, now or earlier). */
  ownedByMigration: boolean;
}

export interface CapacityReservation {
  name: string;
  mode: CapacityMode;
  workers: number;
}

export type ReplicationPhase = 'NOT_CREATED' | 'CREATED' | 'FULL_DUMP' | 'CDC' | 'STOPPED';

export interface ReplicationStatus {
  phase: ReplicationPhase;
  lagSeconds: number | null;
  lagBytes: number | null;
  tablesTotal: number;
  tablesReady: number;
  rowsOnTarget: number;
  /** Cumulative apply/copy errors on the target; growth means replication keeps failing. */
  errorCount: number;
  errors: string[];
  /** Age of the lag sample, where lag comes from a metrics pipeline (gcp). */
  sampleAgeSeconds?: number | null;
  /** The platform's own phase name (e.g. DMS's), shown until lag samples arrive. */
  detail?: string;
  /**
   * During the initial copy: bytes copied so far, where the platform counts them (sim); the waits
   * turn it into a rate for copy-slow. Absent: not measured (no verdict).
   */
  copiedBytes?: number;
  /**
   * During CDC: the position the target has applied up to, in bytes of the source's log (local:
   * the slot's confirmed_flush_lsn; sim: its apply curve). The watcher turns its advance into the
   * apply rate for apply-slow. Absent: not measured (no verdict).
   */
  appliedBytes?: number;
}

/** The status of a job that does not exist yet; platforms fill in what they find. */
export function notCreatedStatus(): ReplicationStatus {
  return {
    phase: 'NOT_CREATED',
    lagSeconds: null,
    lagBytes: null,
    tablesTotal: 0,
    tablesReady: 0,
    rowsOnTarget: 0,
    errorCount: 0,
    errors: [],
  };
}

export type TableVerdict = 'match' | 'drift' | 'mismatch';

export interface TableCheck {
  table: string;
  sourceRows: number;
  targetRows: number;
  sourceChecksum: string;
  targetChecksum: string;
  verdict: TableVerdict;
  /** Chunks compared (the chunked live validation); absent in whole-table results. */
  chunks?: number;
  /** Compared whole: the table has no primary key to chunk it by. */
  keyless?: boolean;
  /** Where a mismatching table differs: a few chunks, by key range, with a few keys (never values). */
  differences?: ChunkDifference[];
  /** Differing chunks beyond those listed. */
  moreDifferences?: number;
}

export interface ChunkDifference {
  /** The key range in words, e.g. "id in (20000, 40000]". */
  range: string;
  sourceRows: number;
  targetRows: number;
  keys: string[];
}

export interface ValidationResult {
  mode: 'live' | 'final';
  ok: boolean;
  tables: TableCheck[];
  summary: string;
  /**
   * Objects of the source that replication does not carry (code MIGRATED_SET_CHANGED: a table made
   * after the copy, a large object made after the assessment), each named with what to do. Their
   * presence makes `ok` false without a mismatch: the runbook holds before the cutover instead of
   * failing. Absent where the platform does not check (and in results of older workers).
   */
  findings?: Finding[];
}

/** A sequence whose state a cutover carried to the target. */
export interface CarriedSequence {
  name: string;
  /** int8 as text: a bigint does not survive JSON as a number. */
  lastValue: string;
  /** false: the next nextval() returns lastValue itself (after setval(s, n, false) or RESTART). */
  isCalled: boolean;
}

export interface CutoverResult {
  endpoint: string;
  finalLsn: string;
  sequencesCopied: number;
  writeBlockMs: number;
  /** What the cutover carried, where the platform carries it itself (local); DMS carries its own. */
  sequences?: CarriedSequence[];
  /** Materialized views refreshed on the target because they were populated on the source. */
  materializedViews?: string[];
  /** Replication from the target back to the source, set up before the target took writes: a rollback path. */
  reverseReplication?: ReverseReplication;
}

/** Where the target's writes flow back to the source until the cutover is finalized or rolled back. */
export interface ReverseReplication {
  /** On the target. */
  publication: string;
  /** On the target. */
  slot: string;
  /** On the source. */
  subscription: string;
}

/** What undoing a cutover that stopped found; void where the platform cannot tell (gcp). */
export interface CutoverUndo {
  /**
   * The cutover had passed its point of no return (the source is closed, the target took over):
   * nothing was reopened, and the source stays closed.
   */
  pastPointOfNoReturn: boolean;
}

/** A rollback after the cutover: the source took writes again with every write the target took. */
export interface RollbackResult {
  /** From the block of the target's writes until the source took writes again. */
  writeBlockMs: number;
  /** What the rollback carried back to the source. */
  sequences: CarriedSequence[];
  materializedViews: string[];
}

/**
 * How far a rollback after the cutover got, read from what it recorded and from the target itself:
 * which side takes writes follows from it, whatever error the rollback failed with.
 *   none            no rollback attempt is recorded: the target takes writes.
 *   target-open     an attempt stopped before the target's close committed; its block is ended, so
 *                   the target takes writes again (`detail` says what was checked).
 *   target-closed   the target's close committed, the source is not reopened yet: neither side
 *                   takes writes until the rollback is resumed to its end.
 *   source-reopened the source takes writes again; only removing reverse replication is left.
 *   done            rolled back.
 *   unverified      the close did not commit, but the target cannot be shown to take writes (a
 *                   block of another attempt is still there, or its access differs from before).
 */
export interface RollbackProgress {
  stage: 'none' | 'target-open' | 'target-closed' | 'source-reopened' | 'done' | 'unverified';
  detail: string;
}

/**
 * Reverse replication after the cutover, as the post-cutover watcher sees it (one poll).
 * `problem` is set while it is broken; `sourceWrites` are the row changes committed on the closed
 * source since the last poll that did not come from reverse replication.
 */
export interface ReverseWatch {
  problem?: string;
  /** How many new apply errors the source's reverse subscription counts (cumulative count). */
  applyErrors?: number;
  /** Row changes made on the closed source by someone else than reverse replication: counts per table and kind. */
  sourceWrites: { table: string; kind: string; count: number }[];
  /** Sessions connected to the closed source other than dbmig's own: who may have written. */
  sessions: string[];
  /** Where the look read up to: passed to advanceReverseWatch once the workflow knows what it found. */
  watchedUpTo?: string;
  /** Why closed-source writes are not (yet) watched, when they are not. */
  unwatched?: string;
}

/** A request a platform sends that changes something; reads and operation polls are not listed. */
export interface PlannedCall {
  /** The API method, e.g. its id in the service's discovery document (sql.instances.insert). */
  method: string;
  /** The full name of the resource acted on; for a create, the name it will have. */
  resource: string;
  /** The request only validates and creates nothing (AIP-163). */
  validateOnly?: boolean;
}

/** One row of the dry run (`dbmig plan`): what a platform would do in a state of the runbook. */
export interface PlannedOperation {
  state: MigrationState;
  /** What is called, e.g. `sql instances.get → instances.insert` or a summary of the SQL. */
  api: string;
  resource: string;
  detail: string;
  /** The changing requests, in order, of a first run on which nothing exists yet. */
  calls?: PlannedCall[];
}

/** The title line of a database in the dry run: what the platform makes its target and capacity of. */
export interface PlannedSummary {
  /** e.g. `cloudsql orders-mysql`, `embedded PostgreSQL 17 cluster orders-target`. */
  target: string;
  /** e.g. `flex-start x8 workers`, `local copy-worker pool x8 workers`. */
  capacity: string;
}

/**
 * What the fleet-level steps receive: the migration as a whole, not one database. Small and
 * serialisable (it is an activity's input): the plan's gcp section and the database names only.
 */
export interface FleetTask {
  migrationId: string;
  platform: PlatformName;
  /** The plan's databases, by name, in the order they start. */
  databases: string[];
  /** The plan's gcp section; present when platform is gcp. */
  gcp?: GcpSettings;
  /** Set by the activity layer, as DatabaseTask.requestScope. */
  requestScope?: string;
}

/** What a platform set up for the whole migration (gcp: the dashboard and alert policies). */
export interface PreparedMigration {
  /** Full names of what exists for the migration, e.g. projects/P/dashboards/ID. */
  resources: string[];
}
