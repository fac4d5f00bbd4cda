// `npm test`: one real Temporal dev server for the whole run (2 cores: one server, not one per file),
// the workflow bundle built once, then node's test runner over every test/**/*.test.ts file but
// test/cluster/ (npm run test:cluster).
// `--record-history` instead records the histories the replay test guards (one per kit branch).
import { mkdtemp, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { freePort, startDevServer } from '../src/platform/dev-server';
import { buildBundle, root, runTests, testFiles } from './helpers/runner';

const args = process.argv.slice(2);
const recordHistory = args.includes('--record-history');
const filters = args.filter((a) => !a.startsWith('--'));

const work = await mkdtemp(join(tmpdir(), 'runbooks-test-'));
const server = await startDevServer({ port: await freePort(), uiPort: await freePort() });
let code = 1;
try {
  const bundlePath = await buildBundle(work);
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
    // test/cluster/ runs on the production topology: `npm run test:cluster` (test/run-cluster.ts).
    const files = await testFiles('', filters, (f) => f.startsWith('cluster/'));
    code = await runTests(files, env);
  }
} finally {
  await server.stop();
  await rm(work, { recursive: true, force: true });
}
process.exit(code);
