// HTTP smoke checks: a URL, the status it must answer, optionally a body pattern; retried with a delay.
import { sleep } from '@temporalio/activity';
import type { HttpCheck } from '../workflows/inputs';
import { ApplicationFailure } from '@temporalio/activity';
import { reportProgress } from './progress';

export interface HttpCheckResult {
  url: string;
  ok: boolean;
  status?: number;
  tries: number;
  durationMs: number;
  /** Why the last try failed. */
  problem?: string;
}

/** One request: does `url` answer as `check` expects right now? */
export async function probe(check: HttpCheck): Promise<{ ok: boolean; status?: number; problem?: string }> {
  try {
    const response = await fetch(check.url, { signal: AbortSignal.timeout(check.timeoutMs), redirect: 'manual' });
    const body = await response.text();
    if (response.status !== check.expectStatus) return { ok: false, status: response.status, problem: `status ${response.status}, expected ${check.expectStatus}` };
    if (check.bodyMatch && !new RegExp(check.bodyMatch).test(body)) return { ok: false, status: response.status, problem: `body does not match /${check.bodyMatch}/` };
    return { ok: true, status: response.status };
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    return { ok: false, problem: cause ?? (err as Error).message };
  }
}

/** Tries `check` up to 1 + retries times, `delayMs` apart. */
export async function checkWithRetries(check: HttpCheck): Promise<HttpCheckResult> {
  const started = Date.now();
  let last: Awaited<ReturnType<typeof probe>> = { ok: false };
  let tries = 0;
  while (tries <= check.retries) {
    tries += 1;
    last = await probe(check);
    reportProgress({ url: check.url, tries, status: last.status, problem: last.problem });
    if (last.ok || tries > check.retries) break;
    await sleep(check.delayMs);
  }
  return { url: check.url, ok: last.ok, status: last.status, tries, durationMs: Date.now() - started, ...(last.ok ? {} : { problem: last.problem }) };
}

/** Runs every check (all of them, so the report shows each result), then fails if any failed. */
export async function runSmokeChecks(checks: HttpCheck[]): Promise<{ results: HttpCheckResult[] }> {
  const results: HttpCheckResult[] = [];
  for (const check of checks) results.push(await checkWithRetries(check));
  const failed = results.filter((r) => !r.ok);
  if (failed.length) {
    throw ApplicationFailure.create({
      type: 'SmokeCheckFailed',
      nonRetryable: true, // each check already retried on its own schedule
      message: failed.map((r) => `${r.url}: ${r.problem}`).join('; '),
      details: [{ results }],
    });
  }
  return { results };
}
