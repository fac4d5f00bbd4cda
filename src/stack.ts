// `npm start`: the embedded stack on one machine. Temporal dev server (SQLite file under var/, so
// runs survive a restart) with its Web UI, the product's search attributes, and our worker.
// Ctrl-C stops the worker first, then the server; nothing is left running. A server that dies is
// started again on the same database (at most 5 times in 5 minutes); past that the stack exits 1
// with the server's last words, rather than leave a worker retrying against nothing.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { execa, type ResultPromise } from 'execa';
import { loadConfig } from './config';
import { logger } from './logger';
import { superviseDevServer, type SupervisedDevServer } from './platform/dev-server';
import { loadHostFile } from './host/host-file';
import { spawnStackWorker, stopWorker, writeDevHostFile } from './stack-hosts';
import { runbooks } from './workflows/inputs';
import { resolveTarget } from './workflows/targets';

const root = fileURLToPath(new URL('..', import.meta.url));
const varDir = `${root}var`;
const port = Number(process.env.TEMPORAL_PORT || 7233);
const uiPort = Number(process.env.TEMPORAL_UI_PORT || port + 1000);

/** A serviceRestart input for the demo HTTP service: the service is named, the host file says the rest. */
function demoInput() {
  return { mode: 'apply', approval: 'auto', requestedBy: 'temporal-ui', service: 'demo-api' };
}

/**
 * This machine's services file (RUNBOOK_SERVICES_FILE when set, else var/host/services.json, written
 * at each start): the demo service, the demo folder as the only data root, and development trust
 * (unsigned approvals accepted, said at start). Inline service specs stay refused.
 */
async function hostFile(): Promise<string> {
  if (process.env.RUNBOOK_SERVICES_FILE) return process.env.RUNBOOK_SERVICES_FILE;
  const path = `${varDir}/host/services.json`;
  await mkdir(`${varDir}/host`, { recursive: true });
  await writeDevHostFile(path, { dataRoots: [`${varDir}/demo`], demoDir: `${varDir}/demo`, demoPort: 8091 });
  return path;
}

/**
 * The chat service's access files: CHATOPS_ROLES_FILE / CHATOPS_TOKENS_FILE when set, else a local
 * set under var/chatops/ made once: two API tokens (operator and approver, so approvals still need a
 * second identity), stored hashed, their plain values kept beside them for this machine only.
 */
async function chatOpsFiles(): Promise<{ rolesFile: string; tokensFile: string; devTokens?: string }> {
  if (process.env.CHATOPS_ROLES_FILE) return { rolesFile: process.env.CHATOPS_ROLES_FILE, tokensFile: process.env.CHATOPS_TOKENS_FILE ?? '' };
  const dir = `${varDir}/chatops`;
  const rolesFile = `${dir}/roles.json`;
  const tokensFile = `${dir}/tokens.json`;
  const plainFile = `${dir}/dev-tokens.txt`;
  if (!existsSync(rolesFile)) {
    await mkdir(dir, { recursive: true });
    const roles = {
      users: {},
      // This machine only: free input is fine here because the host file declares what can run.
      roles: {
        operator: { start: [{ runbook: '*', targets: ['*'], freeInput: true }], read: [{ runbook: '*', targets: ['*'] }] },
        approver: { approve: [{ runbook: '*', targets: ['*'] }], read: [{ runbook: '*', targets: ['*'] }] },
      },
      presets: { 'demo-api': { runbook: 'serviceRestart', input: { service: 'demo-api' }, open: ['waitHealthySeconds', 'checks'] } },
    };
    const tokens = { operator: randomBytes(24).toString('hex'), approver: randomBytes(24).toString('hex') };
    const sha = (t: string) => createHash('sha256').update(t).digest('hex');
    await writeFile(rolesFile, `${JSON.stringify(roles, null, 2)}\n`);
    await writeFile(tokensFile, `${JSON.stringify({ tokens: [
      { token_sha256: sha(tokens.operator), name: 'local-operator', roles: ['operator'] },
      { token_sha256: sha(tokens.approver), name: 'local-approver', roles: ['approver'] },
    ] }, null, 2)}\n`);
    await writeFile(plainFile, `local-operator ${tokens.operator}\nlocal-approver ${tokens.approver}\n`, { mode: 0o600 });
  }
  const devTokens = existsSync(plainFile) ? (await readFile(plainFile, 'utf8')).trim().split('\n').join(', ') : undefined;
  return { rolesFile, tokensFile, devTokens };
}

/** Audit reads Temporal alone: keep closed runs for RUNBOOK_RETENTION (default 90d; the dev server's own is 24h). */
async function keepHistory(address: string, namespace: string): Promise<void> {
  const admin = await Connection.connect({ address });
  try {
    await admin.workflowService.updateNamespace({ namespace, config: { workflowExecutionRetentionTtl: msToTs(process.env.RUNBOOK_RETENTION || '90d') } });
  } finally {
    await admin.close();
  }
}

async function main(): Promise<void> {
  await mkdir(`${varDir}/demo`, { recursive: true });
  let server: SupervisedDevServer;
  const dbFile = `${varDir}/temporal.db`;
  try {
    server = await superviseDevServer({
      port,
      uiPort,
      dbFile,
      onEvent(event) {
        if (event.kind === 'exited') logger.error({ exitCode: event.exitCode, signal: event.signal, stderr: event.stderr }, `Temporal dev server died; starting it again on ${dbFile}`);
        else if (event.kind === 'restart-failed') logger.error({ reason: event.error }, 'Temporal dev server did not start again');
        else logger.warn({ serverPid: event.pid, restarts: event.restarts }, 'Temporal dev server is back on the same database; the worker reconnects by itself');
      },
    });
  } catch (err) {
    logger.fatal({ err }, `cannot start the Temporal dev server on port ${port} (is another stack running? set TEMPORAL_PORT)`);
    process.exit(1);
  }
  const config = { ...loadConfig(), address: server.address, uiUrl: server.uiUrl! };
  await keepHistory(config.address, config.namespace);
  const servicesFile = await hostFile();
  const worker = spawnStackWorker({ TEMPORAL_ADDRESS: config.address, TEMPORAL_UI_URL: config.uiUrl, RUNBOOK_SERVICES_FILE: servicesFile });

  const chat = await chatOpsFiles();
  const chatops: ResultPromise = execa(process.execPath, ['--import', 'tsx', 'src/chatops/main.ts'], {
    cwd: root,
    env: { TEMPORAL_ADDRESS: config.address, TEMPORAL_UI_URL: config.uiUrl, CHATOPS_ROLES_FILE: chat.rolesFile, CHATOPS_TOKENS_FILE: chat.tokensFile },
    stdin: 'ignore',
    stdout: 'inherit',
    stderr: 'inherit',
    reject: false,
  });

  const host = process.env.RUNBOOK_HOST ?? hostname();
  // The Web UI has no host of its own: the example names this one.
  const input = { ...demoInput(), host };
  const examplePath = `${varDir}/examples/serviceRestart.json`;
  await mkdir(`${varDir}/examples`, { recursive: true });
  await writeFile(examplePath, `${JSON.stringify(input, null, 2)}\n`);
  // The API body: who asks comes from the token, and runs from the API need approval.
  const { requestedBy: _who, ...apiInput } = input;
  await writeFile(`${varDir}/examples/serviceRestart.api.json`, `${JSON.stringify({ runbook: 'serviceRestart', input: { ...apiInput, approval: 'required' } }, null, 2)}\n`);
  const exampleId = resolveTarget('serviceRestart', { ...runbooks.serviceRestart.input.parse(input), host }).workflowId;

  process.stderr.write(
    [
      '',
      `Temporal Web UI   ${config.uiUrl}/namespaces/${config.namespace}/workflows`,
      `Start a runbook   ${config.uiUrl}/namespaces/${config.namespace}/workflows/start-workflow`,
      `  Task queue      ${config.taskQueue}`,
      `  Workflow type   serviceRestart`,
      `  Workflow ID     ${exampleId}`,
      `  Input (JSON)    ${examplePath}`,
      `Or from a shell   npx runbook start serviceRestart --input ${examplePath} --wait`,
      `Temporal address  ${config.address}   worker metrics http://${config.metricsAddress}/metrics`,
      `Services file     ${servicesFile} (what runbooks may touch on this host)`,
      (await loadHostFile(servicesFile)).trust === 'development'
        ? 'Trust             DEVELOPMENT: unsigned approvals are accepted (a production host verifies SSH-signed approvals; README, Security model)'
        : 'Trust             signed: approvals must carry an SSH signature this host verifies',
      `ChatOps + API     http://127.0.0.1:${process.env.CHATOPS_PORT || 3030}  (POST /slack/commands, /slack/interactions${process.env.SLACK_SIGNING_SECRET ? '' : ': off until SLACK_SIGNING_SECRET is set'}; /api/runs)`,
      `  roles ${chat.rolesFile}, tokens ${chat.tokensFile}${chat.devTokens ? `\n  dev API tokens (bearer): ${chat.devTokens}` : ''}`,
      'Ctrl-C stops everything.',
      '',
    ].join('\n'),
  );

  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    chatops.kill('SIGTERM');
    await chatops;
    await stopWorker(worker);
    await server.stop();
    logger.info('stack stopped');
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  void server.gaveUp.then(async (reason) => {
    if (stopping) return;
    logger.fatal({ reason: reason.message }, 'Temporal dev server keeps dying; stopping the stack');
    await stop(1);
  });
  const result = await worker;
  if (!stopping) {
    logger.error({ exitCode: result.exitCode, signal: result.signal }, 'worker exited; stopping the stack');
    await stop(1);
  }
}

main().catch((err) => {
  logger.fatal({ err }, 'stack failed');
  process.exit(1);
});
