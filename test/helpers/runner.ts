// What `npm test` (test/run.ts) and `npm run test:cluster` (test/run-cluster.ts) share: the workflow
// bundle built once per run, the test files picked by substrings, and node's test runner over them.
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode } from '@temporalio/worker';
import { execa } from 'execa';

export const root = fileURLToPath(new URL('../..', import.meta.url));

/** Bundles src/workflows once into `dir`; workers get it as RUNBOOK_WORKFLOW_BUNDLE. */
export async function buildBundle(dir: string): Promise<string> {
  const { code } = await bundleWorkflowCode({ workflowsPath: join(root, 'src/workflows/index.ts') });
  const path = join(dir, 'workflow-bundle.cjs');
  await writeFile(path, code);
  return path;
}

/** test/<under>/**\/*.test.ts whose path holds any of the filters (all with none), minus those `skip` names; sorted. */
export async function testFiles(under: string, filters: string[], skip: (relative: string) => boolean = () => false): Promise<string[]> {
  const files = (await readdir(join(root, 'test', under), { recursive: true }))
    .map((f) => join(under, f))
    .filter((f) => f.endsWith('.test.ts') && !skip(f) && (!filters.length || filters.some((filter) => f.includes(filter))))
    .sort()
    .map((f) => join('test', f));
  // With no file, node's runner would look for tests by itself and report a pass.
  if (!files.length) throw new Error(`no test file under test/${under} matches ${filters.join(' or ')}`);
  return files;
}

/** Node's test runner over `files`, one file at a time (2 cores), TAP on stdout and then the failed
 * tests again (test/helpers/failures-reporter.mjs); resolves to its exit code. */
export async function runTests(files: string[], env: Record<string, string | undefined>): Promise<number> {
  const failures = join(await mkdtemp(join(tmpdir(), 'runbooks-failures-')), 'failures.txt');
  const reporters = ['--test-reporter=tap', '--test-reporter-destination=stdout', `--test-reporter=${join(root, 'test/helpers/failures-reporter.mjs')}`, `--test-reporter-destination=${failures}`];
  const result = await execa(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...reporters, ...files], { cwd: root, env, stdio: 'inherit', reject: false });
  process.stdout.write(await readFile(failures, 'utf8').catch((e: Error) => `\n# the failures list could not be read: ${e.message}\n`));
  await rm(dirname(failures), { recursive: true, force: true });
  return result.exitCode ?? 1;
}
