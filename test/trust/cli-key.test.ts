// The CLI's signing key: a key named but unusable stops before anything is sent (exit 2, the file
// named); no key at all sends unsigned and says who accepts that. No Temporal server needed.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { execa } from 'execa';

const root = fileURLToPath(new URL('../..', import.meta.url));
let home: string;
const runbook = (args: string[], env: Record<string, string> = {}) =>
  execa(process.execPath, ['bin/runbook.js', ...args], { cwd: root, reject: false, env: { HOME: home, TEMPORAL_ADDRESS: '127.0.0.1:1', RUNBOOK_SIGNING_KEY: '', ...env } });

describe('runbook --key', () => {
  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'cli-key-'));
  });
  after(() => rm(home, { recursive: true, force: true }));

  test('a missing --key file: exit 2 naming it, nothing sent', async () => {
    const r = await runbook(['approve', 'serviceRestart:h/exec/x', '--as', 'bob', '--key', join(home, 'nope')]);
    assert.equal(r.exitCode, 2, r.stderr);
    assert.equal(r.stderr, `runbook: --key ${join(home, 'nope')}: no such file`);
  });

  test('RUNBOOK_SIGNING_KEY naming a folder: exit 2 naming the variable and the file', async () => {
    const r = await runbook(['reject', 'serviceRestart:h/exec/x', '--as', 'bob'], { RUNBOOK_SIGNING_KEY: home });
    assert.equal(r.exitCode, 2, r.stderr);
    assert.equal(r.stderr, `runbook: RUNBOOK_SIGNING_KEY ${home}: not a file`);
  });

  test('no key anywhere: the approval goes unsigned, and the CLI says only development trust accepts it', async () => {
    const r = await runbook(['approve', 'serviceRestart:h/exec/x', '--as', 'bob']);
    assert.match(r.stderr, /^runbook: no signing key \(--key, RUNBOOK_SIGNING_KEY or ~\/\.ssh\/id_ed25519\): the approval is unsigned, and only a worker in development trust mode accepts it$/m);
    assert.match(r.stderr, /cannot reach Temporal/);
  });
});
