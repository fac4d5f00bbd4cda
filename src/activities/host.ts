import { hostname } from 'node:os';

/** The host of the worker that runs this: the default target host when the input names none. */
export async function resolveHost(): Promise<string> {
  return workerHost();
}

export function workerHost(): string {
  return process.env.RUNBOOK_HOST ?? hostname();
}
