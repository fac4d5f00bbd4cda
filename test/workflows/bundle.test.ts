// Workflow code must bundle for the sandbox; a Node built-in in it only fails when a worker starts,
// never under tsc, so this test is the guard.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode } from '@temporalio/worker';

const workflowsPath = fileURLToPath(new URL('../../src/workflows/index.ts', import.meta.url));
const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} };

test('the runbook workflows bundle for the workflow sandbox', async () => {
  const { code } = await bundleWorkflowCode({ workflowsPath, logger: quiet });
  assert.match(code, /serviceRestart/);
});

test('a workflow that imports a Node built-in fails to bundle, naming the module', async () => {
  const dir = await mkdtemp(join(fileURLToPath(new URL('../../src/workflows/', import.meta.url)), '.bundle-test-'));
  try {
    const bad = join(dir, 'index.ts');
    await writeFile(bad, `import { readFileSync } from 'node:fs';\nexport * from '../index';\nexport async function leaky(): Promise<string> { return readFileSync('/etc/hostname', 'utf8'); }\n`);
    const errors: string[] = [];
    const logger = { ...quiet, error: (message: string) => void errors.push(message) };
    await assert.rejects(bundleWorkflowCode({ workflowsPath: bad, logger }), /Webpack finished with errors/);
    assert.match(errors.join('\n'), /ERROR in node:fs/, 'the error names the module');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
