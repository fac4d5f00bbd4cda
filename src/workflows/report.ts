// The shapes a runbook shows the world: live progress (query) and the final report (result).

export type StepState = 'pending' | 'running' | 'completed' | 'failed' | 'compensated';

export type Outcome =
  | 'Running'
  | 'AwaitingApproval'
  | 'Planned'
  | 'Succeeded'
  | 'Failed'
  | 'Rejected'
  | 'ApprovalTimedOut'
  | 'Cancelled';

export interface FileMove {
  from: string;
  to: string;
  sha256: string;
}

/** A command an activity ran, kept for the report (output trimmed to its tail). */
export interface CommandRecord {
  command: string[];
  exitCode: number | null;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export interface StepRecord {
  name: string;
  state: StepState;
  attempts: number;
  startedAt?: string;
  endedAt?: string;
  durationMs?: number;
  /** What the step saw or did: counts, checksums, commands, PIDs. */
  evidence?: unknown;
  /** The newest heartbeat detail the activity reported. */
  lastHeartbeat?: unknown;
  error?: string;
}

export interface Plan {
  summary: string;
  /** What apply would do, in order, in words an operator can approve. */
  actions: string[];
  /** Read-only observations the plan is based on. */
  observations: unknown;
  /** The runbook asks a person even when the input says `approval: "auto"` (e.g. data would be lost). */
  requiresApproval?: boolean;
}

export interface Approval {
  approver: string;
  decision: 'approve' | 'reject';
  planDigest: string;
  comment?: string;
  at: string;
}

export interface RunbookProgress {
  runbook: string;
  target: string;
  mode: 'plan' | 'apply';
  outcome: Outcome;
  triggeredBy: string;
  plan?: Plan;
  planDigest?: string;
  approval?: Approval;
  steps: StepRecord[];
}

export interface RunbookReport extends RunbookProgress {
  workflowId: string;
  runId: string;
  startedAt: string;
  endedAt: string;
  /** True when anything on the host was changed by this run. */
  changed: boolean;
  filesMoved: FileMove[];
  compensations: StepRecord[];
  /** Decisions worth reading: why an undo did or did not run, rows no longer served. */
  notes: string[];
  error?: string;
}

export interface ApprovalRequest {
  approver: string;
  planDigest: string;
  decision: 'approve' | 'reject';
  comment?: string;
}

/** Sent by activities so the progress query can show attempts and heartbeats of running steps. */
export interface StepSignal {
  activityId: string;
  attempt: number;
  heartbeat?: unknown;
}
