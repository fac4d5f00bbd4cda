// Load on both topologies, one after the other in the same bench run: the production topology
// (src/platform/cluster.ts: PostgreSQL + the real Temporal server) and the dev server (the CLI's,
// SQLite in a file, as `npm start` runs it). Each gets the same two hosts, alpha and beta: our real
// worker in its own process with its own services file, the workflow bundle prebuilt. On each,
// test/helpers/load.ts submits the plan runs at once, then the apply runs on live demo services,
// and checks that none is lost, duplicated or left open. Also the CPU the server side and the
// workers used (utime + stime of their process trees, from /proc) to say where time went.
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { connectClient } from '../src/client';
import { loadConfig, type Config } from '../src/config';
import { updateHostFile } from '../src/host/host-file';
import { startCluster } from '../src/platform/cluster';
import { freePort, startDevServer } from '../src/platform/dev-server';
import { DEFAULT_TASK_QUEUE } from '../src/workflows/names';
import { declareLoadServices, historySample, phaseFigures, phaseProblems, runPhase, startLoadServices, stopLoadServices, type LoadHost, type LoadServices, type Phase, type PhaseFigures } from '../test/helpers/load';
import { spawnWorker, type WorkerProcess } from '../test/helpers/worker-process';

export const TOPOLOGIES = ['cluster', 'dev-server'] as const;
export type Topology = (typeof TOPOLOGIES)[number];

export interface PhaseResult extends PhaseFigures {
  /** Empty when every run was started once, closed as expected and none is open. */
  problems: string[];
  /** Events and protobuf bytes of a sample of the phase's histories. */
  history: { runs: number; events: number[]; bytes: number[] };
  /** CPU seconds used during the phase: the Temporal server (the dev server: with its SQLite), PostgreSQL, both workers. */
  cpu: { temporal: number; postgres: number; workers: number };
  /** Times visibility's counts said "all closed" before its list agreed. */
  rechecks: number;
}

export interface LoadResult {
  topology: Topology;
  setupMs: number;
  plan: PhaseResult;
  apply: PhaseResult;
}

const TICKS = 100; // USER_HZ on Linux

/**
 * utime + stime (s) of `pids` and their live descendants, plus what reaped children left in
 * cutime/cstime. With `ownGroupsOut`, a descendant leading its own process group (a service a worker
 * started detached) is not counted, nor anything under it (PostgreSQL's backends lead theirs too).
 */
async function treeCpu(pids: number[], ownGroupsOut = false): Promise<number> {
  const stats = new Map<number, { ppid: number; pgrp: number; ticks: number }>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const text = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // After the name: state ppid … utime(14) stime(15) cutime(16) cstime(17), counted from pid as 1.
    if (f.length > 15) stats.set(Number(name), { ppid: Number(f[1]), pgrp: Number(f[2]), ticks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]) });
  }
  const inTree = (pid: number) => {
    for (let p: number | undefined = pid; p && p > 1; p = stats.get(p)?.ppid) {
      if (pids.includes(p)) return true;
      if (ownGroupsOut && stats.get(p)?.pgrp === p) return false;
    }
    return false;
  };
  let ticks = 0;
  for (const [pid, s] of stats) if (inTree(pid)) ticks += s.ticks;
  return ticks / TICKS;
}

interface Bed {
  client: Client;
  config: Config;
  hosts: LoadHost[];
  /** The Temporal server's (or dev server's) pid, and PostgreSQL's postmaster (none for the dev server). */
  serverPids(): { temporal: number[]; postgres: number[] };
  workerPids(): number[];
  setupMs: number;
  stop(): Promise<void>;
}

async function startBed(topology: Topology, dir: string, bundle: string): Promise<Bed> {
  const began = performance.now();
  let address: string;
  let serverPids: Bed['serverPids'];
  let stopServer: () => Promise<void>;
  if (topology === 'cluster') {
    const cluster = await startCluster({ ui: false }); // its own temp folder (PostgreSQL's user must enter it)
    address = cluster.address;
    serverPids = () => ({ temporal: [cluster.server.pid!], postgres: [cluster.postgres.pid!] });
    stopServer = () => cluster.stop();
  } else {
    const server = await startDevServer({ port: await freePort(), ui: false, dbFile: join(dir, 'temporal.db') });
    address = server.address;
    serverPids = () => ({ temporal: [server.process.pid!], postgres: [] });
    stopServer = () => server.stop();
  }
  const config: Config = { ...loadConfig({}), address, namespace: 'default', taskQueue: DEFAULT_TASK_QUEUE, metricsAddress: '' };
  const running: WorkerProcess[] = [];
  const hosts: LoadHost[] = [];
  try {
    for (const name of ['alpha', 'beta']) {
      const hostDir = join(dir, 'hosts', name);
      const host = { name, servicesFile: join(hostDir, 'services.json'), demoDir: join(hostDir, 'demo') };
      await mkdir(host.demoDir, { recursive: true });
      await mkdir(join(hostDir, 'state'), { recursive: true });
      await updateHostFile(host.servicesFile, () => ({ trust: 'development', allowInlineServices: false, dataRoots: [host.demoDir], services: {} }));
      hosts.push(host);
    }
    await Promise.all(hosts.map((h) => spawnWorker(config, running, {
      env: { TEMPORAL_ADDRESS: address, RUNBOOK_HOST: h.name, RUNBOOK_SERVICES_FILE: h.servicesFile, RUNBOOK_STATE_DIR: join(dir, 'hosts', h.name, 'state'), RUNBOOK_WORKFLOW_BUNDLE: bundle, LOG_LEVEL: 'warn' },
    })));
  } catch (err) {
    for (const w of running) w.process.kill('SIGKILL');
    await stopServer();
    throw err;
  }
  const client = await connectClient(config);
  return {
    client,
    config,
    hosts,
    serverPids,
    workerPids: () => running.map((w) => w.process.pid!),
    setupMs: performance.now() - began,
    async stop() {
      for (const w of running) w.process.kill('SIGTERM');
      await Promise.all(running.map((w) => w.process));
      await client.connection.close();
      await stopServer();
    },
  };
}

/** A look at a finished phase before its figures are taken (e.g. its slowest run's history), when investigating. */
type Inspect = (phase: Phase, client: Client) => Promise<void>;

async function measured(bed: Bed, phase: () => Promise<Phase>, outcome: 'Planned' | 'Succeeded', sample: number, inspect?: Inspect): Promise<PhaseResult> {
  const cpu = async () => ({ temporal: await treeCpu(bed.serverPids().temporal), postgres: await treeCpu(bed.serverPids().postgres), workers: await treeCpu(bed.workerPids(), true) });
  const before = await cpu();
  const p = await phase();
  const after = await cpu();
  await inspect?.(p, bed.client);
  return {
    ...phaseFigures(p),
    problems: await phaseProblems(bed.client, p, outcome),
    history: await historySample(bed.client, p, sample),
    cpu: { temporal: after.temporal - before.temporal, postgres: after.postgres - before.postgres, workers: after.workers - before.workers },
    rechecks: p.rechecks,
  };
}

/** The plan runs, then the apply runs, on a fresh `topology`; everything it started is stopped after. */
export async function loadRun(topology: Topology, counts: { plan: number; apply: number }, bundle: string, log: (msg: string) => void, inspect?: Inspect): Promise<LoadResult> {
  const dir = await mkdtemp(join(tmpdir(), `bench-load-${topology}-`));
  const bed = await startBed(topology, dir, bundle).catch(async (err: unknown) => {
    await rm(dir, { recursive: true, force: true });
    throw err;
  });
  let services: LoadServices | undefined;
  try {
    services = await declareLoadServices(bed.hosts, counts, 'load');
    log(`load ${topology}: up in ${(bed.setupMs / 1000).toFixed(1)} s; ${counts.plan} plan runs`);
    const { plan: planRuns, apply: applyRuns } = services;
    const plan = await measured(bed, () => runPhase(bed.client, bed.config, 'plan', planRuns, 'load-plan', 600_000), 'Planned', 20, inspect);
    log(`load ${topology}: starting ${counts.apply} demo services (untimed); ${counts.apply} apply runs`);
    await startLoadServices(applyRuns);
    const apply = await measured(bed, () => runPhase(bed.client, bed.config, 'apply', applyRuns, 'load-apply', 600_000), 'Succeeded', 10, inspect);
    return { topology, setupMs: bed.setupMs, plan, apply };
  } finally {
    await bed.stop();
    if (services) await stopLoadServices(services.apply);
    await rm(dir, { recursive: true, force: true });
  }
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const perRunMs = (r: PhaseResult) => 1000 / r.runsPerSecond;
const cpuMs = (r: PhaseResult, part: keyof PhaseResult['cpu']) => ((r.cpu[part] / r.runs) * 1000).toFixed(0);
/** A cluster that takes more than this many times the dev server's time per run is looked into (issue 12). */
export const LOAD_RATIO_LIMIT = 3;

/**
 * The `load` section: both topologies in this run, `rounds` times each in the order cluster, dev
 * server, dev server, cluster, … (so drift in the machine's load hits both alike), then a row per
 * round and phase, and the ratios cluster/dev-server of the means over rounds.
 */
export async function loadSection(options: { plan: number; apply: number; rounds: number }, log: (msg: string) => void): Promise<{ table: string[][]; summary: string[] }> {
  const { buildBundle } = await import('../test/helpers/runner');
  const work = await mkdtemp(join(tmpdir(), 'bench-load-bundle-'));
  const results: LoadResult[] = [];
  try {
    const bundle = await buildBundle(work);
    for (let round = 0; round < options.rounds; round++) {
      for (const topology of round % 2 ? [...TOPOLOGIES].reverse() : TOPOLOGIES) results.push(await loadRun(topology, options, bundle, log));
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  const table = [['topology', 'phase', 'runs', 'runs/s', 'p50 ms', 'p95 ms', 'max ms', 'submit ms', 'all closed ms', 'events/run', 'bytes/run', 'CPU ms/run: temporal', 'postgres', 'workers']];
  const summary: string[] = [];
  for (const phase of ['plan', 'apply'] as const) {
    for (const topology of TOPOLOGIES) {
      for (const r of results.filter((x) => x.topology === topology)) {
        const p = r[phase];
        table.push([topology, phase, String(p.runs), p.runsPerSecond.toFixed(1), String(p.p50Ms), String(p.p95Ms), String(p.maxMs), String(p.submitMs), String(p.wallMs), mean(p.history.events).toFixed(1), mean(p.history.bytes).toFixed(0), cpuMs(p, 'temporal'), cpuMs(p, 'postgres'), cpuMs(p, 'workers')]);
        const bad = p.problems;
        summary.push(`${bad.length ? 'FAIL' : 'PASS'} load ${topology} ${phase}: ${p.runs} of ${options[phase]} runs, each listed once, closed ${phase === 'plan' ? 'Planned' : 'Succeeded'}, found by ID, none open${bad.length ? `: ${bad.slice(0, 5).join('; ')}${bad.length > 5 ? ` (+${bad.length - 5} more)` : ''}` : ''}${p.rechecks ? ` (visibility's list lagged its counts ${p.rechecks} times)` : ''}`);
      }
    }
    const of = (t: Topology) => results.filter((r) => r.topology === t).map((r) => r[phase]);
    const [cluster, dev] = [of('cluster'), of('dev-server')] as [PhaseResult[], PhaseResult[]];
    const m = (rs: PhaseResult[], f: (r: PhaseResult) => number) => mean(rs.map(f));
    const ratio = m(cluster, perRunMs) / m(dev, perRunMs);
    summary.push(
      `${ratio <= LOAD_RATIO_LIMIT ? 'INFO' : 'LOOK'} load ${phase}: cluster/dev-server ${ratio.toFixed(2)}x per run (${(1000 / m(cluster, perRunMs)).toFixed(1)} vs ${(1000 / m(dev, perRunMs)).toFixed(1)} runs/s), ` +
        `p50 ${(m(cluster, (r) => r.p50Ms) / m(dev, (r) => r.p50Ms)).toFixed(2)}x, p95 ${(m(cluster, (r) => r.p95Ms) / m(dev, (r) => r.p95Ms)).toFixed(2)}x; means of ${options.rounds} round(s)` +
        `${ratio <= LOAD_RATIO_LIMIT ? '' : ` (more than ${LOAD_RATIO_LIMIT}x: look into it)`}`,
    );
    const range = (t: Topology) => `${Math.min(...of(t).map((r) => r.events[0]))}-${Math.max(...of(t).map((r) => r.events[1]))}`;
    const h = TOPOLOGIES.map((t) => `${t} ${m(of(t), (r) => mean(r.history.events)).toFixed(1)} events, ${m(of(t), (r) => mean(r.history.bytes)).toFixed(0)} bytes (every run: ${range(t)} events)`);
    summary.push(`     load ${phase} history per run (fetchHistory of ${of('cluster')[0]!.history.runs} runs per round, protobuf-encoded): ${h.join('; ')}`);
  }
  summary.push(`     load set-up (not timed): ${results.map((r) => `${r.topology} ${(r.setupMs / 1000).toFixed(1)} s`).join(', ')}`);
  return { table, summary };
}
