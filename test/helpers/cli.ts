// The real `runbook` CLI as a user types it, against the test run's Temporal server.
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import type { Config } from '../../src/config';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

export interface CliResult {
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
}

/**
 * `runbook …args` for `config`'s task queue; never throws, the exit code is part of the result.
 * `options.env` adds variables (e.g. TEMPORAL_ADDRESS for another server than the test run's).
 */
export async function runCli(config: Config, args: string[], options: { input?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
  const { exitCode, stdout, stderr } = await execa(process.execPath, ['bin/runbook.js', ...args], {
    cwd: repoRoot,
    env: { ...process.env, RUNBOOK_TASK_QUEUE: config.taskQueue, ...options.env },
    reject: false,
    timeout: 120_000,
    input: options.input ?? '',
  });
  return { exitCode, stdout, stderr };
}

/** The output, for assertion messages: what the user would have seen. */
export const shown = (r: CliResult) => `exit ${r.exitCode}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
