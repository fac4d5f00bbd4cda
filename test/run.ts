// `npm test`: one real Temporal dev server for the whole run (2 cores: one server, not one per file),
// the workflow bundle built once, then node's test runner over every test/**/*.test.ts file.
// `--record-history` instead records the histories the replay test guards (one per kit branch).
import { readdir, mkdtemp, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode } from '@temporalio/worker';
import { execa } from 'execa';
import { freePort, startDevServer } from '../src/platform/dev-server';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const recordHistory = args.includes('--record-history');
const filters = args.filter((a) => !a.startsWith('--'));

const work = await mkdtemp(join(tmpdir(), 'runbooks-test-'));
const server = await startDevServer({ port: await freePort(), uiPort: await freePort() });
let code = 1;
try {
  const { code: bundle } = await bundleWorkflowCode({ workflowsPath: join(root, 'src/workflows/index.ts') });
  const bundlePath = join(work, 'workflow-bundle.cjs');
  await (await import('node:fs/promises')).writeFile(bundlePath, bundle);
  // The test worker's host: data under the temp folder, services declared by each test, unsigned
  // approvals accepted (tests of signed approvals switch the file to "signed" for their duration).
  const servicesFile = join(work, 'services.json');
  await (await import('node:fs/promises')).writeFile(servicesFile, JSON.stringify({ trust: 'development', dataRoots: [await realpath(tmpdir())], services: {} }));
  const env = {
    TEMPORAL_ADDRESS: server.address,
    TEMPORAL_UI_URL: server.uiUrl,
    RUNBOOK_WORKFLOW_BUNDLE: bundlePath,
    RUNBOOK_METRICS_ADDRESS: '',
    RUNBOOK_SERVICES_FILE: servicesFile,
    RUNBOOK_STATE_DIR: join(work, 'state'),
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
  };
  process.stderr.write(`test: Temporal dev server ${server.address}, UI ${server.uiUrl}\n`);
  if (recordHistory) {
    code = (await execa(process.execPath, ['--import', 'tsx', 'test/helpers/record-history.ts'], { cwd: root, env, stdio: 'inherit', reject: false })).exitCode ?? 1;
  } else {
    const files = (await readdir(join(root, 'test'), { recursive: true }))
      .filter((f) => f.endsWith('.test.ts') && filters.every((filter) => f.includes(filter)))
      .sort()
      .map((f) => join('test', f));
    const result = await execa(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...files], { cwd: root, env, stdio: 'inherit', reject: false });
    code = result.exitCode ?? 1;
  }
} finally {
  await server.stop();
  await rm(work, { recursive: true, force: true });
}
process.exit(code);
