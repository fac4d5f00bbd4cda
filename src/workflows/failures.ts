// The one vocabulary of failures. Activities raise these types, the kit's retry policy and the
// README's table are derived from this list, and every engine error maps to one of them.
// Workflow-safe: no Node built-ins.

export interface FailureType {
  /** Whether another attempt of the same step can succeed. */
  retryable: boolean;
  /** What it means, for the README and for whoever reads a failed run. */
  meaning: string;
}

export const FAILURE_TYPES = {
  InvalidInput: { retryable: false, meaning: 'The input cannot work on this host (unknown unit, not a table, a file that is not there). Nothing was changed by the step.' },
  SafetyViolation: { retryable: false, meaning: 'Going on could harm the operator\'s data or host (a path outside the table, an object whose hash is wrong, a destination that would be overwritten).' },
  VerificationFailed: { retryable: false, meaning: 'The repair ran but the result does not hold (the table does not open at the expected version, a scan fails).' },
  SmokeCheckFailed: { retryable: false, meaning: 'The service runs but a smoke check did not answer as expected.' },
  WrongWorkflowId: { retryable: false, meaning: 'The run was started under another ID than `<runbook>:<target>`; one run per target cannot be kept.' },
  ResourceBusy: { retryable: false, meaning: 'Another run holds a resource this run would change; the message names the holder.' },
  NoWorker: { retryable: false, meaning: 'No worker polled the host\'s task queue within the schedule-to-start timeout.' },
  PlanDrifted: { retryable: false, meaning: 'After approval, the diagnosis no longer matches the approved plan; nothing was changed.' },
  Cancelled: { retryable: false, meaning: 'The step stopped because the run was cancelled.' },
  ApprovalRefused: { retryable: false, meaning: 'An approval broke a rule (self-approval, stale digest, another run, already answered); the run still waits.' },
  RunbookFailed: { retryable: false, meaning: 'The run failed; its details carry the report, with the failed step\'s own failure as the cause.' },
  DeadlineExceeded: { retryable: false, meaning: 'A wait (waitDownSeconds, waitHealthySeconds) ran out. The deadline counts from the step\'s first attempt, so retries never extend it.' },
  HostRefused: { retryable: false, meaning: "The host's services file does not allow this: an undeclared service or check, an inline service spec, a data path outside its data roots, an unreadable services file. Nothing was touched." },
  RepairNotAllowed: { retryable: false, meaning: 'The store needs a repair the run\'s policy does not allow (truncate-only on a corrupt store) or that its engine does not offer (Pebble). Nothing was changed but the snapshot; the plan says what each policy would lose.' },
  NotYet: { retryable: true, meaning: 'A condition did not hold yet (still running, not healthy); the next attempt may see it hold.' },
} as const satisfies Record<string, FailureType>;

export type FailureTypeName = keyof typeof FAILURE_TYPES;

/** What the retry policy of every step names as final. */
export const NON_RETRYABLE: string[] = Object.entries(FAILURE_TYPES)
  .filter(([, type]) => !type.retryable)
  .map(([name]) => name);

/**
 * Errors of the format and engine layers (plain `Error`s with a `name`), mapped to the failure they
 * are. Retrying cannot fix any of them: the bytes on disk are what they are.
 */
export const ENGINE_ERRORS: Record<string, FailureTypeName> = {
  UnsafePathError: 'SafetyViolation',
  LanceFormatError: 'InvalidInput',
  LanceTableError: 'InvalidInput',
  LfsPointerError: 'InvalidInput',
  LfsObjectMismatchError: 'SafetyViolation',
  LfsObjectMissingError: 'InvalidInput',
  LfsDestinationConflictError: 'SafetyViolation',
  NotAGitRepositoryError: 'InvalidInput',
  StateFileError: 'SafetyViolation',
  AbortError: 'Cancelled',
  HostFileError: 'HostRefused',
  ServiceRefusedError: 'HostRefused',
  OutsideDataRootsError: 'HostRefused',
  ServiceChangedError: 'PlanDrifted',
  TrustError: 'ApprovalRefused',
  StoreChangedError: 'SafetyViolation',
  StoreOpenError: 'VerificationFailed',
  NoSpaceError: 'InvalidInput',
  StoreInUseError: 'SafetyViolation',
  BboltFileError: 'InvalidInput',
  BboltCliError: 'VerificationFailed',
  BboltSurgeryRefusedError: 'SafetyViolation',
  EtcdRestoreRefusedError: 'SafetyViolation',
  BackupRefusedError: 'InvalidInput',
  ContainerInputError: 'InvalidInput',
  ImageArchiveExistsError: 'SafetyViolation',
};

/** The README table, generated so the two never disagree (a test compares them). */
export function failureTable(): string {
  const rows = Object.entries(FAILURE_TYPES).map(([name, t]) => `| \`${name}\` | ${t.retryable ? 'yes' : 'no'} | ${t.meaning} |`);
  const engine = Object.entries(ENGINE_ERRORS).map(([error, type]) => `\`${error}\` → \`${type}\``).join(', ');
  return ['| failure type | retried | meaning |', '|---|---|---|', ...rows, '', `Engine errors: ${engine}.`].join('\n');
}
