// `runbook doctor bbolt` as an operator runs it on etcd's kind of file: the real CLI process on bbolt
// dbs written by the bbolt library (storectl), one with the seed's damage (a branch pointing back at
// an ancestor), exit codes 0 / 1 / 2, the human summary and the JSON fields the issue names.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { execa } from 'execa';
import { writeBbolt } from '../src/engines/bbolt/storectl-bbolt';
import { bucketTree, setBranchChild } from './helpers/bbolt-damage';

const root = fileURLToPath(new URL('..', import.meta.url));
let work: string;
const runbook = (args: string[]) => execa(process.execPath, ['bin/runbook.js', ...args], { cwd: root, reject: false, timeout: 60_000 });

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'cli-bbolt-'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

test('a clean db: exit 0, both metas, the key count the library wrote', async () => {
  const file = join(work, 'clean.db');
  const written = await writeBbolt(file, { keys: 5_000, buckets: 2, noFreelist: true });
  const human = await runbook(['doctor', 'bbolt', file]);
  assert.equal(human.exitCode, 0, human.stderr);
  assert.match(human.stdout, new RegExp(`^${file}: healthy \\(bbolt, page size \\d+`));
  assert.match(human.stdout, /freelist none \(not persisted\)/, 'written as etcd runs bbolt');
  assert.match(human.stdout, new RegExp(`, ${written.keys} readable keys`));
});

test("the seed's cycle: exit 1, the cycle's page ids in the message and the JSON", async () => {
  const file = join(work, 'cycle.db');
  await writeBbolt(file, { keys: 20_000, buckets: 1, noFreelist: true });
  const tree = await bucketTree(file, 'bucket-000');
  // A branch below the bucket's root pointed back at the root (root → branch → root), as in the
  // seed; a tree only one branch deep gets its root pointed at itself.
  const branch = tree.pages.find((p) => p.kind === 'branch' && p.parent === tree.root) ?? tree.pages.find((p) => p.id === tree.root)!;
  assert.equal(branch.kind, 'branch', 'the bucket has a branch page');
  await setBranchChild(file, tree.pageSize, branch.id, 0, tree.root);
  const json = await runbook(['doctor', 'bbolt', file, '--json']);
  assert.equal(json.exitCode, 1, json.stderr);
  const report = JSON.parse(json.stdout);
  for (const field of ['engine', 'path', 'healthy', 'pageSize', 'activeMeta', 'metas', 'findings']) assert.ok(field in report, field);
  for (const field of ['txid', 'root', 'freelist', 'valid']) assert.ok(field in report.metas[0], field);
  const cycle = report.findings.find((f: { code: string }) => f.code === 'cycle');
  assert.ok(cycle, JSON.stringify(report.findings.slice(0, 3)));
  assert.equal(cycle.cycle[0], tree.root, 'the loop starts at the ancestor pointed back at');
  assert.equal(cycle.cycle.at(-1), tree.root);
  assert.ok(Array.isArray(cycle.stack) && cycle.stack.includes(branch.id));
  const human = await runbook(['doctor', 'bbolt', file]);
  assert.equal(human.exitCode, 1);
  assert.match(human.stdout, /NOT healthy/);
  assert.match(human.stdout, /\[cycle\] /);
});

test('not a bbolt file, a truncated one, a missing one: exit 2 and the reason', async () => {
  const junk = join(work, 'junk.db');
  await writeFile(junk, Buffer.alloc(10_000, 7));
  const r = await runbook(['doctor', 'bbolt', junk]);
  assert.equal(r.exitCode, 2);
  assert.match(r.stderr, /not a bbolt file/);
  const short = join(work, 'short.db');
  await writeFile(short, Buffer.alloc(100));
  assert.equal((await runbook(['doctor', 'bbolt', short])).exitCode, 2);
  const missing = await runbook(['doctor', 'bbolt', join(work, 'nope.db')]);
  assert.equal(missing.exitCode, 2);
  assert.match(missing.stderr, /nope\.db/);
});
