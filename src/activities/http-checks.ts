// HTTP smoke checks: a URL, the status it must answer, optionally a body pattern; retried with a delay.
// URLs come from the host's services file. Bodies are read only up to MAX_BODY_BYTES and patterns run
// on RE2 (linear time), so neither a huge answer nor a pattern like `(a+)+$` can hang a worker.
import { ApplicationFailure, sleep } from '@temporalio/activity';
import { RE2JS } from 're2js';
import type { HttpCheck } from '../workflows/inputs';
import { invalidInput } from './failures';
import { reportProgress } from './progress';

/**
 * The most of a body a check reads. A body larger than this fails the check (`body larger than 1 MiB`)
 * rather than being matched on a truncated prefix: a pattern anchored at the end, or one whose match
 * lies past the cut, would otherwise pass or fail by accident. A check without `bodyMatch` reads no body.
 */
export const MAX_BODY_BYTES = 1024 * 1024;

export interface HttpCheckResult {
  url: string;
  ok: boolean;
  status?: number;
  tries: number;
  durationMs: number;
  /** Why the last try failed. */
  problem?: string;
}

/** `pattern` compiled for RE2; a pattern RE2 can't compile (backreferences, lookaround…) is InvalidInput. */
export function compileBodyMatch(pattern: string): RE2JS {
  try {
    return RE2JS.compile(pattern);
  } catch (err) {
    throw invalidInput(`bodyMatch ${JSON.stringify(pattern)} is not a valid RE2 pattern: ${(err as Error).message}`);
  }
}

/** The body as text, or `tooLarge` once more than `cap` bytes arrive (the rest is never read). */
async function readCapped(response: Response, cap: number): Promise<{ text: string } | { tooLarge: true }> {
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > cap) {
    await response.body?.cancel().catch(() => {});
    return { tooLarge: true };
  }
  if (!response.body) return { text: '' };
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > cap) {
      await reader.cancel().catch(() => {});
      return { tooLarge: true };
    }
    chunks.push(value);
  }
  return { text: new TextDecoder().decode(Buffer.concat(chunks)) };
}

/** One request: does `url` answer as `check` expects right now? Redirects are answers, never followed. */
export async function probe(check: HttpCheck): Promise<{ ok: boolean; status?: number; problem?: string }> {
  // Compiled before the request: a bad pattern fails the step (not retried) without fetching anything.
  const pattern = check.bodyMatch === undefined ? undefined : compileBodyMatch(check.bodyMatch);
  try {
    const response = await fetch(check.url, { signal: AbortSignal.timeout(check.timeoutMs), redirect: 'manual' });
    if (response.status !== check.expectStatus || !pattern) {
      await response.body?.cancel().catch(() => {});
      if (response.status !== check.expectStatus) return { ok: false, status: response.status, problem: `status ${response.status}, expected ${check.expectStatus}` };
      return { ok: true, status: response.status };
    }
    const body = await readCapped(response, MAX_BODY_BYTES);
    if ('tooLarge' in body) return { ok: false, status: response.status, problem: 'body larger than 1 MiB' };
    if (!pattern.test(body.text)) return { ok: false, status: response.status, problem: `body does not match /${check.bodyMatch}/` };
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
