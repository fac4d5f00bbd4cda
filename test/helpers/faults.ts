// The three faults of the cluster fault tests (test/cluster/faults-*.test.ts), each injected through
// the cluster's own handles and timed, with what shows that it happened: the Temporal server
// SIGKILLed and started again on the same database, a host's worker SIGKILLed and started again,
// PostgreSQL stopped for 20 s (connections refused the whole time) and started. Plus what a test
// needs around a fault: waiting for a run's report across transport errors, the run's open
// interval as the server records it, and when the run's server-visible progress moved again.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import type { WorkflowHandle } from '@temporalio/client';
import { progressOf, waitForReport, type Finished } from '../../src/client';
import type { ClusterBed, ClusterHost } from './cluster';
import { isAlive } from './service';

export type FaultKind = 'server-kill' | 'worker-kill' | 'postgres-stop';
export const FAULTS: FaultKind[] = ['server-kill', 'worker-kill', 'postgres-stop'];
export const POSTGRES_DOWN_MS = 20_000;

export interface Fault {
  kind: FaultKind;
  /** When the fault began (the kill sent, PostgreSQL down) and when the handle said all was back. */
  at: number;
  recoveredAt: number;
  /** What was down and for how long (ms): the server, the worker, or PostgreSQL. */
  downMs: number;
  oldPid?: number;
  newPid?: number;
  /** postgres-stop: connection attempts to PostgreSQL's port while it was down, and how many were refused. */
  probes?: number;
  refused?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function refusedConnection(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

/**
 * Injects `kind` now. `whileDown` runs once the thing is down and before it is started again (to
 * look at the disk while a worker is dead, say); for the worker kill, `host` is the one killed.
 */
export async function injectFault(bed: ClusterBed, kind: FaultKind, host: ClusterHost, whileDown?: () => Promise<void>): Promise<Fault> {
  const at = Date.now();
  if (kind === 'server-kill') {
    const oldPid = bed.cluster.server.pid!;
    await bed.cluster.server.kill('SIGKILL');
    assert.ok(!isAlive(oldPid), `the server (pid ${oldPid}) is gone`);
    await whileDown?.();
    await bed.cluster.server.start();
    const recoveredAt = Date.now();
    return { kind, at, recoveredAt, downMs: recoveredAt - at, oldPid, newPid: bed.cluster.server.pid };
  }
  if (kind === 'worker-kill') {
    const oldPid = host.pid!;
    await host.kill('SIGKILL');
    assert.ok(!isAlive(oldPid), `${host.name}'s worker (pid ${oldPid}) is gone`);
    await whileDown?.();
    await host.start();
    const recoveredAt = Date.now();
    return { kind, at, recoveredAt, downMs: recoveredAt - at, oldPid, newPid: host.pid };
  }
  const { postgres } = bed.cluster;
  const oldPid = postgres.pid!;
  await postgres.stop();
  const down = Date.now();
  assert.equal(postgres.pid, undefined, 'PostgreSQL is stopped');
  await whileDown?.();
  let probes = 0;
  let refused = 0;
  while (Date.now() - down < POSTGRES_DOWN_MS) {
    probes += 1;
    if (await refusedConnection(postgres.port)) refused += 1;
    await sleep(Math.min(1000, Math.max(0, POSTGRES_DOWN_MS - (Date.now() - down))));
  }
  const downMs = Date.now() - down;
  await postgres.start();
  return { kind, at: down, recoveredAt: Date.now(), downMs, oldPid, newPid: postgres.pid, probes, refused };
}

/** The run's report, waiting through the errors a client sees while the server or its database comes back. */
export async function settle(handle: WorkflowHandle, timeoutMs = 240_000): Promise<Finished> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await waitForReport(handle);
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(1000);
    }
  }
}

/** When the server says the run started and closed (ms). */
export async function runWindow(handle: WorkflowHandle): Promise<{ start: number; close: number | undefined; status: string }> {
  const d = await handle.describe();
  return { start: d.startTime.getTime(), close: d.closeTime?.getTime(), status: d.status.name };
}

/** What the server shows of the run's progress: each step's state, attempt and last heartbeat. */
export async function progressMark(handle: WorkflowHandle): Promise<string | undefined> {
  const progress = await progressOf(handle).catch(() => undefined);
  const closed = await handle.describe().then((d) => d.status.name !== 'RUNNING', () => false);
  if (closed) return 'closed';
  return progress && JSON.stringify(progress.steps.map((s) => [s.id, s.state, s.attempts, s.lastHeartbeat]));
}

/**
 * After a fault: the first progress the server shows once it answers again, then the time that
 * changes (a new heartbeat, attempt or step, or the run closed). The run was stalled from the fault
 * until then (to within the worker's 2 s heartbeat throttle).
 */
export async function progressResumedAt(handle: WorkflowHandle, timeoutMs = 180_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let first: string | undefined;
  for (;;) {
    const now = await progressMark(handle);
    if (now === 'closed') return Date.now();
    if (first === undefined) first = now;
    else if (now !== undefined && now !== first) return Date.now();
    if (Date.now() > deadline) throw new Error(`the run made no progress within ${timeoutMs} ms after the fault`);
    await sleep(250);
  }
}

export const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** A whole report: outcome Succeeded, exactly these steps in order, each completed with its attempts and times, nothing undone. */
export function assertWholeReport(finished: Finished, stepIds: string[]): NonNullable<Finished['report']> {
  const report = finished.report;
  assert.equal(report?.outcome, 'Succeeded', finished.error ?? report?.error);
  assert.deepEqual(report.steps.map((s) => s.id), stepIds, 'every step recorded, in order');
  for (const step of report.steps) {
    assert.equal(step.state, 'completed', `${step.id} completed`);
    assert.ok(step.attempts >= 1 && step.startedAt && step.endedAt && step.evidence !== undefined, `${step.id}: attempts, start, end and evidence recorded`);
  }
  assert.deepEqual(report.compensations, [], 'nothing undone: the run completed, compensation is not its outcome here');
  assert.equal(report.error, undefined);
  return report;
}
