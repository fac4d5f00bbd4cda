// The real worker entry point in its own process, as `npm start` and production run it, so tests can
// kill it with SIGKILL mid-step.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import type { Config } from '../../src/config';
import { freePort } from '../../src/platform/dev-server';
import { get, waitFor } from './service';

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface WorkerProcess {
  process: ResultPromise;
  metricsUrl: string;
}

/**
 * Starts `src/worker.ts` for `config.taskQueue`; resolves once its metrics endpoint answers.
 * `options.env` adds variables to the worker's environment (e.g. `RUNBOOK_HOST` for a second host).
 */
export async function spawnWorker(config: Config, running: WorkerProcess[], options: { env?: Record<string, string> } = {}): Promise<WorkerProcess> {
  const metricsPort = await freePort();
  const worker = execa(process.execPath, ['--import', 'tsx', 'src/worker.ts'], {
    cwd: root,
    env: { RUNBOOK_TASK_QUEUE: config.taskQueue, RUNBOOK_METRICS_ADDRESS: `127.0.0.1:${metricsPort}`, LOG_LEVEL: 'info', ...options.env },
    reject: false,
    lines: true,
  });
  const started = { process: worker, metricsUrl: `http://127.0.0.1:${metricsPort}/metrics` };
  running.push(started);
  await waitFor('the worker to start', async () => 'status' in (await get(started.metricsUrl)), 60_000);
  return started; // wrapped: an async function returning the ResultPromise itself would await its exit
}

/**
 * What the kernel counted for a live worker process (`/proc/<pid>/io`, all its threads): `wchar`
 * is every byte it passed to write calls (files, pipes, sockets), whether or not it reached the disk.
 */
export async function processIo(worker: WorkerProcess): Promise<{ rchar: number; wchar: number; writeBytes: number }> {
  const text = await readFile(`/proc/${worker.process.pid}/io`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { rchar: field('rchar'), wchar: field('wchar'), writeBytes: field('write_bytes') };
}

/** A live process's environment (`/proc/<pid>/environ`). */
export async function processEnv(pid: number): Promise<Record<string, string>> {
  const entries = (await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0').filter(Boolean);
  return Object.fromEntries(entries.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
}
