// A real HTTP service (demo/http-service.mjs) run as a detached process, and ways to look at it
// from outside: what answers on its port, and whether a pid is alive.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../src/platform/dev-server';
import { serviceControl } from '../../src/activities/services/index';
import type { z } from 'zod';
import { updateHostFile } from '../../src/host/host-file';
import type { ServiceRestartRequest, ServiceSpec } from '../../src/workflows/inputs';
import type { hostExecService, hostService, httpCheck } from '../../src/workflows/service-spec';

const demoService = fileURLToPath(new URL('../../demo/http-service.mjs', import.meta.url));

export interface TestService {
  dir: string;
  port: number;
  spec: Extract<ServiceSpec, { adapter: 'exec' }>;
  /** Its entry in the test worker's services file, as makeService declared it (to redeclare with changes). */
  declared: ExecEntryRequest;
  url(path?: string): string;
  cleanup(): Promise<void>;
}

/**
 * A demo HTTP service declared in the test worker's services file under `name` (health: GET
 * /health; smoke check `root`: GET / shows a pid), not yet started. `checks` adds declared checks.
 */
export async function makeService(name: string, { startupDelayMs = 0, checks = {} as Record<string, HttpCheckRequest> } = {}): Promise<TestService> {
  const dir = await mkdtemp(join(tmpdir(), `svc-${name}-`));
  const port = await freePort();
  const url = (path = '/') => `http://127.0.0.1:${port}${path}`;
  const spec = {
    adapter: 'exec' as const,
    name,
    start: [process.execPath, demoService, '--port', String(port), '--startup-delay-ms', String(startupDelayMs)],
    pidFile: join(dir, `${name}.pid`),
    logFile: join(dir, `${name}.log`),
    stopTimeoutSeconds: 10,
  };
  const { name: _name, ...entry } = spec; // the name is the entry's key, not a field of it
  const declared: ExecEntryRequest = {
    ...entry,
    health: { url: url('/health'), expectStatus: 200, retries: 0 },
    checks: { root: { url: url('/'), expectStatus: 200, bodyMatch: '"pid"' }, ...checks },
  };
  await declareService(name, declared);
  return {
    dir,
    port,
    spec,
    declared,
    url,
    async cleanup() {
      const pid = pidInFile(await readFile(spec.pidFile, 'utf8').catch(() => ''));
      if (pid !== undefined && pid > 1) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // not running
        }
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The pid a pidfile names: our JSON `{ pid, startTime, argv }`, or a bare pid. */
export function pidInFile(text: string): number | undefined {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  try {
    const pid = (JSON.parse(trimmed) as { pid?: unknown }).pid;
    return typeof pid === 'number' ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A stop command (argv) that fails once (exit 1: NotYet, retried) and then SIGTERMs the process in
 * `pidFile` (our JSON pidfile); `marker` records the first attempt.
 */
export function stopFailingOnce(marker: string, pidFile: string): string[] {
  return [process.execPath, '-e', `const fs=require('fs');if(!fs.existsSync(${JSON.stringify(marker)})){fs.writeFileSync(${JSON.stringify(marker)},'');process.exit(1)}process.kill(JSON.parse(fs.readFileSync(${JSON.stringify(pidFile)},'utf8')).pid,'SIGTERM')`];
}

export type Answer = { status: number; body: string } | { error: string };

/** One GET, as a user would see it: a status and body, or why no answer came (ECONNREFUSED…). */
export async function get(url: string): Promise<Answer> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return { status: res.status, body: await res.text() };
  } catch (err) {
    return { error: (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message };
  }
}

/** The pid the running service reports about itself over HTTP. */
export async function servingPid(service: TestService): Promise<number | undefined> {
  const answer = await get(service.url('/'));
  return 'status' in answer && answer.status === 200 ? (JSON.parse(answer.body) as { pid: number }).pid : undefined;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A demo service already running (started through the exec adapter), with the pid that answers. */
export async function runningService(name: string, services: TestService[], options?: Parameters<typeof makeService>[1]): Promise<{ service: TestService; pid: number }> {
  const service = await makeService(name, options);
  services.push(service);
  await serviceControl(service.spec).start();
  const pid = await waitFor(`${name} to answer`, () => servingPid(service));
  return { service, pid };
}

/** A serviceRestart input for `service` that applies at once and proves the restart over HTTP (its declared checks). */
export function restartInput(service: TestService, extra: Partial<ServiceRestartRequest> = {}): ServiceRestartRequest {
  return { mode: 'apply', approval: 'auto', service: service.spec.name, ...extra };
}

type HttpCheckRequest = z.input<typeof httpCheck>;
type ExecEntryRequest = z.input<typeof hostExecService>;

/** Adds (or replaces) `name` in the test worker's services file: the host's word on what may run. */
export async function declareService(name: string, entry: z.input<typeof hostService>): Promise<void> {
  await updateHostFile(testServicesFile(), (file) => ({ ...file, services: { ...file.services, [name]: entry } }));
}

/** Redeclares `service` as makeService did, with `changes` (more checks, a stop command…). */
export async function redeclare(service: TestService, changes: Partial<ExecEntryRequest>): Promise<void> {
  service.declared = { ...service.declared, ...changes };
  await declareService(service.spec.name, service.declared);
}

/** Declares one more check on `service`: a run picks it by name with `checks: [name]`. */
export async function declareCheck(service: TestService, name: string, check: HttpCheckRequest): Promise<void> {
  await redeclare(service, { checks: { ...service.declared.checks, [name]: check } });
}

export function testServicesFile(): string {
  const path = process.env.RUNBOOK_SERVICES_FILE;
  if (!path) throw new Error('run tests with `npm test`: it writes the test worker\'s services file');
  return path;
}
