// `npm run test:cluster`: test/cluster/**/*.test.ts on the production topology (src/platform/cluster.ts).
// Each file starts its own cluster (test/helpers/cluster.ts: PostgreSQL, the real Temporal server,
// hosts alpha and beta), since its faults kill and restart the server and the database; the workflow
// bundle is built once here for every worker. Arguments are substrings the file paths must hold.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBundle, runTests, testFiles } from './helpers/runner';

for (const name of ['TEMPORAL_SERVER_BIN', 'TEMPORAL_SQL_TOOL', 'TEMPORAL_SERVER_SOURCE', 'TEMPORAL_CLI']) {
  if (!process.env[name]) throw new Error(`${name} is not set: run the cluster tests with \`npm run test:cluster\`, whose set-up builds the server`);
}
const filters = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const work = await mkdtemp(join(tmpdir(), 'runbooks-test-cluster-'));
let code = 1;
try {
  const env = {
    RUNBOOK_WORKFLOW_BUNDLE: await buildBundle(work),
    RUNBOOK_METRICS_ADDRESS: '',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
  };
  const files = await testFiles('cluster', filters);
  code = await runTests(files, env);
} finally {
  await rm(work, { recursive: true, force: true });
}
process.exit(code);
