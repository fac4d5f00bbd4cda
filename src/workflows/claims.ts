// One run per resource. A run holds each resource it will change as a child workflow whose ID is the
// resource's key: the server refuses a second workflow with that ID while the first is open, so two
// runs (of any runbook) never change one table or service at once. A claim cannot go stale: it is
// released when its run ends, and the server terminates it if the run itself is terminated.
import {
  ApplicationFailure,
  condition,
  defineSignal,
  ParentClosePolicy,
  proxyActivities,
  setHandler,
  startChild,
  workflowInfo,
  type ChildWorkflowHandle,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type * as activities from '../activities/index';
import { claimWorkflowId, releaseSignalName } from './names';

export const releaseSignal = defineSignal(releaseSignalName);

/** The claim itself: open until its run releases it. */
export async function runbookClaim(_claim: { resource: string; holder: string }): Promise<void> {
  let released = false;
  setHandler(releaseSignal, () => void (released = true));
  await condition(() => released);
}

const { claimHolder } = proxyActivities<typeof activities>({ startToCloseTimeout: '30s', retry: { maximumAttempts: 3 } });

export class Claims {
  private readonly held: Array<ChildWorkflowHandle<typeof runbookClaim>> = [];
  readonly keys: string[] = [];

  /** Claims every key, or none: a busy one releases those taken and fails naming its holder. */
  async take(keys: string[]): Promise<void> {
    const holder = workflowInfo().workflowId;
    for (const resource of [...new Set(keys)].sort()) {
      const workflowId = claimWorkflowId(resource);
      try {
        this.held.push(await startChild(runbookClaim, {
          workflowId,
          args: [{ resource, holder }],
          parentClosePolicy: ParentClosePolicy.TERMINATE,
          memo: { holder, resource },
        }));
        this.keys.push(resource);
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        await this.release();
        const owner = await claimHolder(workflowId).catch(() => 'another run');
        throw ApplicationFailure.create({
          type: 'ResourceBusy',
          nonRetryable: true,
          message: `${resource} is held by ${owner}; one run per resource: wait for it to end, or cancel it`,
        });
      }
    }
  }

  async release(): Promise<void> {
    await Promise.all(this.held.splice(0).map((claim) => claim.signal(releaseSignal).catch(() => undefined)));
  }
}
