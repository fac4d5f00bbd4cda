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
  | 'Drifted'
  | 'Cancelled'
  | 'CompensationFailed';

/**
 * A list too long for a payload (restorable files, versions): the host keeps it in a file named by
 * its sha256; the payload carries the count and the first few items.
 */
export interface ListRef<T> {
  count: number;
  first: T[];
  /** Absolute path on the host; absent when `first` is the whole list. */
  file?: string;
  /** sha256 of the file's bytes: what the plan digest covers, checked before use. */
  sha256: string;
}

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
  /** Stable id (`stop`, `restore`): what the audit and tests read. */
  id: string;
  /** What an operator reads; also the activity's summary in the Temporal UI. */
  name: string;
  /** The step changes the host. */
  mutates: boolean;
  /** The activity behind the step, to find it among the run's pending activities. */
  activityId?: string;
  state: StepState;
  attempts: number;
  startedAt?: string;
  endedAt?: string;
  durationMs?: number;
  /** What the step saw or did: counts, checksums, commands, PIDs. */
  evidence?: unknown;
  /** The newest heartbeat detail of a running step, and when it came (from the server, not the history). */
  lastHeartbeat?: unknown;
  lastHeartbeatAt?: string;
  /** Why the previous attempt of a running step failed. */
  lastFailure?: string;
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
  /** Ways to repair an approver may pick from (`runbook approve --choice <id>`); apply uses the approved one. */
  choices?: PlanChoice[];
  /** The choice apply takes when nobody picks another: the one that loses least. */
  defaultChoice?: string;
}

export interface PlanChoice {
  id: string;
  /** What it does and what it loses, in words. */
  summary: string;
  /** It can be applied (a candidate that failed its check is listed, but cannot be picked). */
  usable: boolean;
}

export interface Approval {
  approver: string;
  decision: 'approve' | 'reject';
  planDigest: string;
  /** The plan's choice the approver picked (absent: the default). */
  choice?: string;
  comment?: string;
  at: string;
  /** The host checked an SSH signature (false: a development-trust host took the name as given). */
  verified?: boolean;
  /** Whose key signed (the approver, or a voucher such as the chat service) and its fingerprint. */
  signer?: string;
  fingerprint?: string;
  person?: string;
}

/** What the host said about an approval's signature. */
export interface VerifiedApproval {
  approver: string;
  verified: boolean;
  person?: string;
  signer?: string;
  fingerprint?: string;
}

/** Who asked for the run, as the host verified it: `unverified:<name>` when the signature did not hold. */
export interface VerifiedRequester {
  requester: string;
  verified: boolean;
  person?: string;
  signer?: string;
  fingerprint?: string;
  reason?: string;
}

export interface RunbookProgress {
  workflowId: string;
  runId: string;
  runbook: string;
  target: string;
  mode: 'plan' | 'apply';
  outcome: Outcome;
  triggeredBy: string;
  /** How the host verified who asked (its signature), when it was asked. */
  requester?: VerifiedRequester;
  plan?: Plan;
  planDigest?: string;
  approval?: Approval;
  /** What the run waits for now, in words (whose approval, which command). */
  waitingFor?: string;
  /** Resources this run holds until it ends. */
  claims?: string[];
  steps: StepRecord[];
}

export interface RunbookReport extends RunbookProgress {
  workflowId: string;
  runId: string;
  startedAt: string;
  endedAt: string;
  /** True when anything on the host was changed by this run. */
  changed: boolean;
  /** The first moves of the run (each step's evidence names the host file with all of them). */
  filesMoved: FileMove[];
  filesMovedCount: number;
  compensations: StepRecord[];
  /** Decisions worth reading: why an undo did or did not run, rows no longer served. */
  notes: string[];
  /** Facts that changed between the approved plan and the check before the first change. */
  drift?: string[];
  error?: string;
}

export interface ApprovalRequest {
  /** The run being approved: an approval never carries over to another run of the same ID. */
  runId: string;
  approver: string;
  planDigest: string;
  decision: 'approve' | 'reject';
  /** One of the plan's `choices` (its id), instead of its default; signed with the rest. */
  choice?: string;
  comment?: string;
  /** `ssh-keygen -Y sign` (namespace runbook-approval) over {workflowId, runId, digest, decision, approver, choice?}; see src/trust. */
  signature?: string;
}
