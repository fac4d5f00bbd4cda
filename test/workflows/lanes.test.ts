// inLanes: fullBackup's parts two at a time. Plain promises, so it is tested without a server.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { inLanes } from '../../src/workflows/lanes';

/** Jobs that record how many run at once; job i takes `ms[i]` and fails when `fail` says so. */
function jobs(ms: number[], fail: (i: number) => boolean = () => false) {
  const log = { running: 0, most: 0, started: [] as number[], ended: [] as number[] };
  const list = ms.map((t, i) => async () => {
    log.started.push(i);
    log.most = Math.max(log.most, ++log.running);
    await sleep(t);
    log.running--;
    log.ended.push(i);
    if (fail(i)) throw new Error(`job ${i} failed`);
    return `r${i}`;
  });
  return { list, log };
}

test('results come back in the jobs’ order, never more than two running, each lane taking the next job', async () => {
  const { list, log } = jobs([60, 10, 10, 10, 10]);
  assert.deepEqual(await inLanes(list, 2), ['r0', 'r1', 'r2', 'r3', 'r4']);
  assert.equal(log.most, 2);
  assert.deepEqual(log.started, [0, 1, 2, 3, 4]);
  assert.equal(log.ended.at(-1), 0, 'the long first job ran beside all the short ones');
});

test('one lane runs them in sequence', async () => {
  const { list, log } = jobs([20, 5, 5]);
  assert.deepEqual(await inLanes(list, 1), ['r0', 'r1', 'r2']);
  assert.equal(log.most, 1);
  assert.deepEqual(log.ended, [0, 1, 2]);
});

test('a failure is thrown only after the job running beside it has ended, and nothing new starts', async () => {
  const { list, log } = jobs([80, 10, 10, 10], (i) => i === 1);
  await assert.rejects(inLanes(list, 2), /job 1 failed/);
  assert.equal(log.running, 0, 'the long job beside the failed one finished before the rejection');
  assert.deepEqual(log.started, [0, 1], 'no job started after the failure');
});

test('no jobs: no results', async () => {
  assert.deepEqual(await inLanes([], 2), []);
});
