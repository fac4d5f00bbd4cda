// Exit codes of the `runbook` command, shared by its subcommands.
import { InvalidRequestError, RefusedError } from '../client';

/** 0 success, 1 the run failed (or did not succeed), 2 bad input, 3 refused by a guard. */
export const EXIT = { ok: 0, failed: 1, badInput: 2, refused: 3 } as const;

/** An error the CLI reports as `runbook: <message>` and exits with `code`. */
export class ExitError extends Error {
  constructor(message: string, readonly code: number) {
    super(message);
  }
}

/** The exit code an error ends the command with: its own, 2 for a wrong request, 3 for a guard's refusal, else 1. */
export function exitCodeFor(err: unknown): number {
  return err instanceof ExitError ? err.code : err instanceof InvalidRequestError ? EXIT.badInput : err instanceof RefusedError ? EXIT.refused : EXIT.failed;
}
