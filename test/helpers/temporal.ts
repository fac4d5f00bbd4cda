// The test run's real Temporal server (started by test/run.ts) and in-process workers on it.
import { randomUUID } from 'node:crypto';
import { after, before } from 'node:test';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { connectClient } from '../../src/client';
import { loadConfig, type Config } from '../../src/config';
import { createWorkers, installRuntime } from '../../src/worker';

if (!process.env.TEMPORAL_ADDRESS) throw new Error('run tests with `npm test`: it starts the Temporal dev server they use');

let runtimeInstalled = false;

/** A config with its own task queue, so workers of one test never take another test's tasks. */
export function testConfig(name: string): Config {
  return { ...loadConfig(), taskQueue: `test-${name}-${randomUUID().slice(0, 8)}` };
}

export async function testClient(config: Config): Promise<Client> {
  return connectClient(config);
}

/** A real worker in this process (both queues, this host) serving `config.taskQueue`. */
export async function startWorker(config: Config): Promise<{ stop(): Promise<void> }> {
  if (!runtimeInstalled) {
    installRuntime({ metricsAddress: '' });
    runtimeInstalled = true;
  }
  const connection = await NativeConnection.connect({ address: config.address });
  const workers = await createWorkers(config, connection);
  const running = workers.run();
  return {
    async stop() {
      workers.shutdown();
      await running;
      await connection.close();
    },
  };
}

/** Approves (or rejects) the plan the run shows now, by its digest, as a careful approver does. */
export async function answerCurrentPlan(client: Client, workflowId: string, approver: string, decision: 'approve' | 'reject' = 'approve') {
  const { getProgress, approveRunbook } = await import('../../src/client');
  const { planDigest, runId } = await getProgress(client, workflowId);
  return approveRunbook(client, workflowId, { approver, decision, planDigest: planDigest ?? '', runId });
}

export interface TestBed {
  config: Config;
  client: Client;
  /** Run after the worker stops, newest first; failures ignored (best-effort tidying). */
  cleanups: Array<() => Promise<unknown>>;
}

/**
 * A test file's own task queue, client and in-process worker, set up before its tests and torn down
 * after them (then its cleanups run). Read `config` and `client` inside tests, not at load time.
 */
export function useTestBed(name: string): TestBed {
  const bed = { cleanups: [] } as unknown as TestBed;
  let worker: { stop(): Promise<void> } | undefined;
  before(async () => {
    bed.config = testConfig(name);
    bed.client = await testClient(bed.config);
    worker = await startWorker(bed.config);
  });
  after(async () => {
    await worker?.stop();
    await bed.client?.connection.close();
    for (const cleanup of bed.cleanups.reverse()) await cleanup().catch(() => undefined);
  });
  return bed;
}

/** True when Temporal has never seen this workflow ID. */
export async function neverStarted(client: Client, workflowId: string): Promise<boolean> {
  try {
    await client.workflow.getHandle(workflowId).describe();
    return false;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return true;
    throw err;
  }
}
