// The development hosts of `npm start` (this machine) and `npm run stack:cluster` (alpha and beta):
// each a services file that declares the demo HTTP service, and our worker started for it.
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import type { z } from 'zod';
import { updateHostFile } from './host/host-file';
import type { hostService } from './workflows/service-spec';

const root = fileURLToPath(new URL('..', import.meta.url));

/** The demo HTTP service (demo/http-service.mjs) on `port`, its pidfile and log in `dir`. */
export function demoApiEntry(dir: string, port: number): z.input<typeof hostService> {
  return {
    adapter: 'exec',
    start: [process.execPath, `${root}demo/http-service.mjs`, '--port', String(port)],
    pidFile: `${dir}/demo-api.pid`,
    logFile: `${dir}/demo-api.log`,
    health: { url: `http://127.0.0.1:${port}/health`, expectStatus: 200 },
    checks: { root: { url: `http://127.0.0.1:${port}/`, expectStatus: 200, bodyMatch: '"pid"' } },
  };
}

/**
 * Writes a development host's services file (kept services stay): the demo service as `demo-api`,
 * `dataRoots` as the only data roots, development trust (unsigned approvals accepted) and no inline
 * service specs.
 */
export async function writeDevHostFile(path: string, options: { dataRoots: string[]; demoDir: string; demoPort: number }): Promise<void> {
  await updateHostFile(path, (file) => ({
    ...file,
    trust: 'development',
    allowInlineServices: false,
    dataRoots: options.dataRoots,
    services: { ...file.services, 'demo-api': demoApiEntry(options.demoDir, options.demoPort) },
  }));
}

/** Our worker (src/worker.ts) in its own process with `env` added, its output on ours. */
export function spawnStackWorker(env: Record<string, string>): ResultPromise {
  return execa(process.execPath, ['--import', 'tsx', 'src/worker.ts'], { cwd: root, env, stdin: 'ignore', stdout: 'inherit', stderr: 'inherit', reject: false });
}

/** SIGTERM (the SDK drains running steps), SIGKILL after `graceMs`; resolves when it exited. */
export async function stopWorker(worker: ResultPromise, graceMs = 20_000): Promise<void> {
  worker.kill('SIGTERM');
  const timer = setTimeout(() => worker.kill('SIGKILL'), graceMs);
  await worker;
  clearTimeout(timer);
}
