// Load on a fleet of two hosts, shared by test/cluster/load.test.ts and the bench's `load` section:
// serviceRestart runs submitted at once through the client (startRunbook, the path every surface
// takes), then checked from the server alone: each run once in visibility (by search attribute) and
// by its workflow ID, closed, none open, no claim left open. Each run needs its own workflow ID,
// `serviceRestart:<host>/<service>`, so every run names its own service, declared in its host's
// services file:
//   plan   `<tag>-p<i>`: entries no process serves (a plan only reads the pidfile: "stopped")
//   apply  `<tag>-a<i>`: the demo HTTP service (demo/http-service.mjs) on its own port, one node
//          process each, started before the timed part by the exec adapter the runbook drives, so
//          every apply run is a real restart (stop, wait down, start, wait healthy, smoke check)
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import proto from '@temporalio/proto';
import { serviceControl } from '../../src/activities/services/index';
import { startRunbook } from '../../src/client';
import type { Config } from '../../src/config';
import { updateHostFile } from '../../src/host/host-file';
import { demoApiEntry } from '../../src/stack-hosts';
import { RunbookOutcome } from '../../src/workflows/names';
import { pidInFile, waitFor } from './service';

export interface LoadHost {
  name: string;
  servicesFile: string;
  /** Where the apply services' pidfiles and logs go. */
  demoDir: string;
}

export interface LoadRun {
  host: string;
  service: string;
  workflowId: string;
  /** apply services: pidfile, log and start command (as the host file declares them). */
  pidFile?: string;
  logFile?: string;
  start?: string[];
}

export interface LoadServices {
  plan: LoadRun[];
  apply: LoadRun[];
}

const idOf = (host: string, service: string) => `serviceRestart:${host}/${service}`;

/**
 * Distinct free ports in 12000-19999: below the kernel's ephemeral range (32768+), so none of the
 * hundreds of outgoing connections a load run opens takes one before its service listens, and apart
 * from the cluster's own picks (20000-31999).
 */
async function distinctPorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) {
    const port = 12_000 + Math.floor(Math.random() * 8_000);
    const free = await new Promise<boolean>((resolve) => {
      const probe = createServer();
      probe.once('error', () => resolve(false));
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
    if (free) ports.add(port);
  }
  return [...ports];
}

/**
 * Declares `counts.plan` plan services and `counts.apply` apply services, alternately on each host
 * (run i on host i mod hosts), in one write of each host's services file (other entries kept).
 */
export async function declareLoadServices(hosts: LoadHost[], counts: { plan: number; apply: number }, tag: string): Promise<LoadServices> {
  const ports = await distinctPorts(counts.apply);
  const plan: LoadRun[] = [];
  const apply: LoadRun[] = [];
  const entries = new Map<string, Record<string, unknown>>(hosts.map((h) => [h.name, {}]));
  for (let i = 0; i < counts.plan; i++) {
    const host = hosts[i % hosts.length]!;
    const service = `${tag}-p${i}`;
    // A plan run never starts it; it reads the pidfile, which does not exist: "stopped".
    entries.get(host.name)![service] = { adapter: 'exec', start: [process.execPath, '-e', 'setInterval(() => {}, 1e9)'], pidFile: join(host.demoDir, `${service}.pid`) };
    plan.push({ host: host.name, service, workflowId: idOf(host.name, service) });
  }
  for (let i = 0; i < counts.apply; i++) {
    const host = hosts[i % hosts.length]!;
    const service = `${tag}-a${i}`;
    const entry = { ...(demoApiEntry(host.demoDir, ports[i]!) as { start: string[] }), pidFile: join(host.demoDir, `${service}.pid`), logFile: join(host.demoDir, `${service}.log`), stopTimeoutSeconds: 10 };
    entries.get(host.name)![service] = entry;
    apply.push({ host: host.name, service, workflowId: idOf(host.name, service), pidFile: entry.pidFile, logFile: entry.logFile, start: entry.start });
  }
  for (const host of hosts) {
    await updateHostFile(host.servicesFile, (file) => ({ ...file, services: { ...file.services, ...(entries.get(host.name) as typeof file.services) } }));
  }
  return { plan, apply };
}

async function inBatches<T, R>(items: T[], size: number, each: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size) out.push(...(await Promise.all(items.slice(i, i + size).map(each))));
  return out;
}

/** Starts the apply services (detached, as the exec adapter starts them) and waits until each answers /health. */
export async function startLoadServices(runs: LoadRun[]): Promise<void> {
  await inBatches(runs, 10, async (r) => {
    await serviceControl({ adapter: 'exec', name: r.service, start: r.start!, pidFile: r.pidFile!, logFile: r.logFile, stopTimeoutSeconds: 10 }).start();
  });
  const health = (r: LoadRun) => r.start![r.start!.indexOf('--port') + 1];
  await inBatches(runs, 10, async (r) => {
    const answers = async () => (await fetch(`http://127.0.0.1:${health(r)}/health`).catch(() => undefined))?.ok === true;
    await waitFor(`${r.service} to answer`, answers, 60_000).catch(async (err: Error) => {
      throw new Error(`${err.message}; its log ${r.logFile}: ${(await readFile(r.logFile!, 'utf8').catch(() => '')).slice(-500)}`);
    });
  });
}

/** Kills each apply service's process group (SIGKILL), as its pidfile names it now. */
export async function stopLoadServices(runs: LoadRun[]): Promise<void> {
  for (const r of runs) {
    const pid = pidInFile(await readFile(r.pidFile!, 'utf8').catch(() => ''));
    if (!pid || pid <= 1) continue;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

export interface Phase {
  mode: 'plan' | 'apply';
  requestedBy: string;
  runs: LoadRun[];
  /** Starts that threw (the run is lost if none of its ID exists). */
  startErrors: string[];
  /** Client clock: first start sent, every start answered. */
  submitMs: number;
  /** From the first start sent to the last run's close (server's close time). */
  wallMs: number;
  /** Each run's close minus start (server times), ms, sorted. */
  latencies: number[];
  /** Every execution visibility lists for this phase's requester. */
  listed: WorkflowExecutionInfo[];
  /** Times the counts said "all closed" but the list did not agree yet. */
  rechecks: number;
}

/**
 * Starts every run of `runs` at once (approval auto, requester `requestedBy`; `hostWaitTimeout` 10m,
 * since a host step may wait in its queue behind hundreds of others), then waits until visibility
 * counts them all and none running.
 */
export async function runPhase(client: Client, config: Config, mode: 'plan' | 'apply', runs: LoadRun[], requestedBy: string, timeoutMs: number): Promise<Phase> {
  const began = Date.now();
  const started = await Promise.allSettled(
    runs.map((r) => startRunbook(client, config, 'serviceRestart', { mode, approval: 'auto', service: r.service, host: r.host, hostWaitTimeout: '10m' }, { requestedBy, origin: 'load' })),
  );
  const submitMs = Date.now() - began;
  const startErrors = started.flatMap((s, i) => (s.status === 'rejected' ? [`${runs[i]!.workflowId}: ${(s.reason as Error).message}`] : []));
  const query = `TriggeredBy = "${requestedBy}"`;
  const expected = runs.length - startErrors.length;
  // Polled once a second: the figures come from the server's start and close times, not from here.
  // Done when the counts say so and the list agrees (every run listed with a close time); a list
  // that does not agree yet is polled again and counted in `rechecks`.
  let listed: WorkflowExecutionInfo[] = [];
  let rechecks = 0;
  for (const deadline = Date.now() + timeoutMs; ; await new Promise((r) => setTimeout(r, 1000))) {
    const [all, open] = await Promise.all([client.workflow.count(query), client.workflow.count(`${query} AND ExecutionStatus = "Running"`)]);
    if (all.count >= expected && open.count === 0) {
      listed = [];
      for await (const info of client.workflow.list({ query })) listed.push(info);
      if (listed.length >= expected && listed.every((i) => i.closeTime)) break;
      rechecks++;
    }
    if (Date.now() > deadline) {
      throw new Error(`${mode} runs of ${requestedBy} after ${timeoutMs} ms: ${all.count} of ${expected} counted, ${open.count} open by count, ${listed.filter((i) => !i.closeTime).length} open by list`);
    }
  }
  const closes = listed.map((i) => i.closeTime?.getTime() ?? NaN);
  return {
    mode,
    requestedBy,
    runs,
    startErrors,
    submitMs,
    wallMs: Math.max(...closes) - began,
    latencies: listed.map((i) => (i.closeTime?.getTime() ?? NaN) - i.startTime.getTime()).sort((a, b) => a - b),
    listed,
    rechecks,
  };
}

/**
 * What is wrong with a phase, from the server alone (empty: nothing): a start refused; an ID missing
 * from visibility, listed twice, or one nobody started; a run not Completed or not ending
 * `outcome`; by workflow ID, a run that does not exist, is not closed, or is another run than
 * listed; any run of this requester or any claim still open.
 */
export async function phaseProblems(client: Client, phase: Phase, outcome: 'Planned' | 'Succeeded'): Promise<string[]> {
  const problems = [...phase.startErrors.map((e) => `start refused: ${e}`)];
  const expected = new Set(phase.runs.map((r) => r.workflowId));
  const seen = new Map<string, WorkflowExecutionInfo[]>();
  for (const info of phase.listed) seen.set(info.workflowId, [...(seen.get(info.workflowId) ?? []), info]);
  for (const id of expected) {
    const infos = seen.get(id) ?? [];
    if (infos.length !== 1) problems.push(`${id}: listed ${infos.length} times`);
  }
  for (const [id, infos] of seen) {
    if (!expected.has(id)) problems.push(`${id}: listed, but never started`);
    for (const info of infos) {
      const got = info.typedSearchAttributes.get(RunbookOutcome);
      if (info.status.name !== 'COMPLETED' || got !== outcome) problems.push(`${id}: ${info.status.name} ${got}`);
    }
  }
  await inBatches(phase.runs, 25, async (r) => {
    const listedRun = seen.get(r.workflowId)?.[0]?.runId;
    const d = await client.workflow.getHandle(r.workflowId).describe().catch((err: Error) => err);
    if (d instanceof Error) problems.push(`${r.workflowId}: by ID: ${d.message}`);
    else if (d.status.name !== 'COMPLETED' || d.runId !== listedRun) problems.push(`${r.workflowId}: by ID ${d.status.name} run ${d.runId}, listed run ${listedRun}`);
  });
  const open = await client.workflow.count(`TriggeredBy = "${phase.requestedBy}" AND ExecutionStatus = "Running"`);
  if (open.count) problems.push(`${open.count} runs still open`);
  const claims = await client.workflow.count(`WorkflowType = "runbookClaim" AND ExecutionStatus = "Running"`);
  if (claims.count) problems.push(`${claims.count} claims still open`);
  return problems;
}

/** Nearest-rank percentile of sorted values. */
export const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;

export interface PhaseFigures {
  runs: number;
  runsPerSecond: number;
  p50Ms: number;
  p95Ms: number;
  maxMs: number;
  submitMs: number;
  wallMs: number;
  /** Fewest and most history events of any run (visibility's historyLength): retries or timed-out tasks show here. */
  events: [number, number];
}

export function phaseFigures(phase: Phase): PhaseFigures {
  return {
    runs: phase.listed.length,
    runsPerSecond: phase.listed.length / (phase.wallMs / 1000),
    p50Ms: percentile(phase.latencies, 50),
    p95Ms: percentile(phase.latencies, 95),
    maxMs: phase.latencies.at(-1)!,
    submitMs: phase.submitMs,
    wallMs: phase.wallMs,
    events: [Math.min(...phase.listed.map((i) => i.historyLength)), Math.max(...phase.listed.map((i) => i.historyLength))],
  };
}

/** Events and protobuf-encoded bytes of the histories of `sample` runs spread over the phase. */
export async function historySample(client: Client, phase: Phase, sample: number): Promise<{ runs: number; events: number[]; bytes: number[] }> {
  const step = Math.max(1, Math.floor(phase.runs.length / sample));
  const picked = phase.runs.filter((_, i) => i % step === 0).slice(0, sample);
  const events: number[] = [];
  const bytes: number[] = [];
  for (const r of picked) {
    const history = await client.workflow.getHandle(r.workflowId).fetchHistory();
    events.push(history.events?.length ?? 0);
    bytes.push(proto.temporal.api.history.v1.History.encode(history).finish().length);
  }
  return { runs: picked.length, events, bytes };
}
