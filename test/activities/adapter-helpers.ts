// What the adapter tests share: adapter calls run as activities (runCommand heartbeats), failure
// matchers, and small views of results.
import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { CommandRecord } from '../../src/workflows/report';

// Quiet: the mock worker logs every activity failure at WARN, and several tests expect failures.
const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
const env = new MockActivityEnvironment(undefined, { logger: quiet });

/** Runs one adapter method as an activity would. */
export const inActivity = <T>(fn: () => Promise<T>): Promise<T> => env.run(fn);

/** assert.rejects validator: an ApplicationFailure of `type` whose message mentions each of `words`. */
export function failure(type: string, ...words: string[]) {
  return (err: unknown) => {
    assert.ok(err instanceof ApplicationFailure, `expected an ApplicationFailure, got ${String(err)}`);
    assert.equal(err.type, type, `failure type (message: ${err.message})`);
    for (const word of words) assert.ok(err.message.includes(word), `message ${JSON.stringify(err.message)} should mention ${JSON.stringify(word)}`);
    return true;
  };
}

/** `o` without its undefined fields, so `{ pid: undefined }` and `{}` compare equal. */
export const defined = (o: object) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

export const commandRecord = (err: unknown) => (err as ApplicationFailure).details?.[0] as CommandRecord;
