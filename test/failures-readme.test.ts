// The README's failure table is generated from the one vocabulary; this keeps them from drifting.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { failureTable, FAILURE_TYPES, NON_RETRYABLE } from '../src/workflows/failures';

test('the README lists every failure type as src/workflows/failures.ts defines it', async () => {
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
  assert.ok(readme.includes(failureTable()), 'README.md must contain failureTable() verbatim: regenerate it');
});

test('the non-retryable list is exactly the failure types marked not retryable', () => {
  assert.deepEqual(new Set(NON_RETRYABLE), new Set(Object.entries(FAILURE_TYPES).filter(([, t]) => !t.retryable).map(([n]) => n)));
  assert.ok(!NON_RETRYABLE.includes('NotYet'));
});
