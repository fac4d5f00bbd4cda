// The production topology on one machine is compose's (docker-compose.yml is read here, not copied,
// so the two cannot drift): the real server's environment, the schema versions the admin-tools
// script leaves, the namespace's search attributes. On it, runs go only to the host they name.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { msToTs } from '@temporalio/common/lib/time';
import proto from '@temporalio/proto';
import { parse } from 'yaml';
import { checkWorkers, prepareRun, runStartFields, startRunbook, waitForReport } from '../../src/client';
import { serviceControl } from '../../src/activities/services/index';
import type { ServiceSpec } from '../../src/workflows/inputs';
import { hostTaskQueue } from '../../src/workflows/names';
import { useCluster } from '../helpers/cluster';
import { get, waitFor } from '../helpers/service';
import { processEnv } from '../helpers/worker-process';

const repo = (rel: string) => fileURLToPath(new URL(`../../${rel}`, import.meta.url));
const compose = parse(readFileSync(repo('docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, { environment?: Record<string, unknown>; command?: string[] }>;
};
const composeEnv = (service: string) => Object.fromEntries(Object.entries(compose.services[service]?.environment ?? {}).map(([k, v]) => [k, String(v)]));
/** What one machine must change: where the database is, addresses and ports, the config file's path. */
const PORTS = ['FRONTEND_GRPC_PORT', 'FRONTEND_HTTP_PORT', 'FRONTEND_MEMBERSHIP_PORT', 'HISTORY_GRPC_PORT', 'HISTORY_MEMBERSHIP_PORT', 'MATCHING_GRPC_PORT', 'MATCHING_MEMBERSHIP_PORT', 'WORKER_GRPC_PORT', 'WORKER_MEMBERSHIP_PORT'];
const OVERRIDES = ['POSTGRES_SEEDS', 'DB_PORT', 'BIND_ON_IP', 'DYNAMIC_CONFIG_FILE_PATH', ...PORTS];

const bed = useCluster();

/** Every file and folder under `dir` with its size and change time: equal snapshots, nothing written. */
async function tree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const rel of await readdir(dir, { recursive: true })) {
    const s = await stat(join(dir, rel));
    out[rel] = `${s.isDirectory() ? 'dir' : s.size}:${s.ctimeMs}`;
  }
  return out;
}

test('the server runs `temporal-server start` with exactly compose\'s `temporal` environment plus the one-machine overrides', async () => {
  const pid = bed.cluster.server.pid!;
  const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(Boolean);
  assert.deepEqual(cmdline, [process.env.TEMPORAL_SERVER_BIN, 'start'], 'no config flag: the embedded template, rendered from the environment');
  const env = await processEnv(pid);
  const fromCompose = composeEnv('temporal');
  assert.deepEqual(Object.keys(fromCompose).sort(), ['BIND_ON_IP', 'DB', 'DB_PORT', 'DYNAMIC_CONFIG_FILE_PATH', 'POSTGRES_PWD', 'POSTGRES_SEEDS', 'POSTGRES_USER']);
  const changed = Object.keys(env).filter((k) => env[k] !== fromCompose[k]).sort();
  assert.deepEqual(changed, [...OVERRIDES].sort(), 'only the listed variables differ from compose, nothing else is added');
  for (const k of Object.keys(fromCompose)) assert.ok(k in env, `${k} from compose is set`);
  assert.equal(env.POSTGRES_SEEDS, '127.0.0.1');
  assert.equal(env.DB_PORT, String(bed.cluster.postgres.port));
  assert.equal(env.BIND_ON_IP, '127.0.0.1');
  assert.equal(env.DYNAMIC_CONFIG_FILE_PATH, repo(`deploy/dynamicconfig/${basename(fromCompose.DYNAMIC_CONFIG_FILE_PATH!)}`), 'the file compose mounts');
  const ports = PORTS.map((k) => Number(env[k]));
  assert.ok(ports.every((p) => Number.isInteger(p) && p > 0 && p < 32768), `ports ${ports.join(' ')}`);
  assert.equal(new Set(ports).size, ports.length, 'each service its own port');
  assert.equal(bed.cluster.address, `127.0.0.1:${env.FRONTEND_GRPC_PORT}`);
});

test('compose\'s admin-tools script left both databases at the newest versioned schema folder', async () => {
  const newest = (folder: string) => {
    const dir = join(process.env.TEMPORAL_SERVER_SOURCE!, 'schema/postgresql/v12', folder, 'versioned');
    const versions = readdirSync(dir).map((v) => v.replace(/^v/, '').split('.').map(Number));
    versions.sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
    return versions.at(-1)!.join('.');
  };
  for (const [db, folder] of [['temporal', 'temporal'], ['temporal_visibility', 'visibility']] as const) {
    assert.deepEqual(await bed.cluster.postgres.query(db, 'SELECT curr_version FROM schema_version'), [newest(folder)], db);
  }
});

test('compose\'s create-namespace script registered the namespace, its 90-day retention and the four search attributes', async () => {
  const script = compose.services['temporal-create-namespace']!.command![0]!;
  const declared = [...script.matchAll(/search-attribute create\b[^\n]*?--name (\S+) --type (\S+)/g)].map((m) => [m[1]!, m[2]!] as const);
  assert.deepEqual(declared.map(([name]) => name).sort(), ['RunbookName', 'RunbookOutcome', 'RunbookTarget', 'TriggeredBy']);
  const { customAttributes } = await bed.client.connection.operatorService.listSearchAttributes({ namespace: bed.cluster.namespace });
  for (const [name, type] of declared) {
    assert.equal(customAttributes?.[name], proto.temporal.api.enums.v1.IndexedValueType[`INDEXED_VALUE_TYPE_${type.toUpperCase()}` as 'INDEXED_VALUE_TYPE_KEYWORD'], name);
  }
  const { config } = await bed.client.workflowService.describeNamespace({ namespace: bed.cluster.namespace });
  assert.equal(Number(config?.workflowExecutionRetentionTtl?.seconds), Number(msToTs('90d').seconds));
});

test('a serviceRestart addressed to alpha runs its host steps on alpha\'s worker: history identities, the new process\'s parent, alpha\'s pidfile; nothing under beta', { timeout: 120_000 }, async () => {
  const { alpha, beta } = bed.hosts;
  const entry = JSON.parse(await readFile(alpha.servicesFile, 'utf8')).services['demo-api'];
  const spec = { adapter: 'exec', name: 'demo-api', start: entry.start, pidFile: entry.pidFile, logFile: entry.logFile, stopTimeoutSeconds: 10 } as Extract<ServiceSpec, { adapter: 'exec' }>;
  const servingPid = async () => {
    const answer = await get(`http://127.0.0.1:${alpha.demoPort}/`);
    return 'status' in answer && answer.status === 200 ? (JSON.parse(answer.body) as { pid: number }).pid : undefined;
  };
  await serviceControl(spec).start(); // started here, so the restarted one's parent tells who restarted it
  const before = await waitFor('alpha\'s demo-api to answer', servingPid);
  const betaBefore = await tree(beta.dir);

  const run = await startRunbook(bed.client, bed.config, 'serviceRestart', { mode: 'apply', approval: 'auto', service: 'demo-api', host: 'alpha' }, { requestedBy: 'alice', origin: 'test' });
  const finished = await waitForReport(run.handle);
  assert.equal(finished.report?.outcome, 'Succeeded', finished.error);

  const after = await servingPid();
  assert.ok(after && after !== before, `a new process serves (old ${before}, new ${after})`);
  const ppid = Number(/^PPid:\s+(\d+)$/m.exec(await readFile(`/proc/${after}/status`, 'utf8'))?.[1]);
  assert.equal(ppid, alpha.pid, `started by alpha's worker (pid ${alpha.pid}), not beta's (pid ${beta.pid})`);
  assert.equal(JSON.parse(await readFile(spec.pidFile, 'utf8')).pid, after, 'alpha\'s pidfile names it');
  assert.ok(spec.pidFile.startsWith(`${alpha.dir}/`));

  // Each activity on alpha's queue was started by alpha's worker (identity pid@host).
  const history = await run.handle.fetchHistory();
  const scheduled = new Map<string, string>();
  const identities: string[] = [];
  for (const event of history.events ?? []) {
    const attrs = event.activityTaskScheduledEventAttributes;
    if (attrs) scheduled.set(String(event.eventId), attrs.taskQueue?.name ?? '');
    const started = event.activityTaskStartedEventAttributes;
    if (started && scheduled.get(String(started.scheduledEventId)) === hostTaskQueue(bed.config.taskQueue, 'alpha')) identities.push(started.identity ?? '');
  }
  assert.ok(identities.length >= 5, `host steps found: ${identities.length}`);
  for (const identity of identities) assert.match(identity, new RegExp(`^${alpha.pid}@`), 'started by alpha\'s worker');
  assert.deepEqual(await tree(beta.dir), betaBefore, 'nothing written under beta');
});

test('a run addressed to gamma, which no worker serves: refused at start, and if started anyway it fails "no worker serves runbooks@gamma" at hostWaitTimeout, nothing changed', { timeout: 120_000 }, async () => {
  const snapshots = await Promise.all(Object.values(bed.hosts).map((h) => tree(h.dir)));
  const input = { mode: 'apply', approval: 'auto', service: 'demo-api', host: 'gamma', hostWaitTimeout: '5s' };
  await assert.rejects(checkWorkers(bed.client, bed.config, 'gamma', 1000), /no worker serves runbooks@gamma/);
  // A start that skips the check (e.g. from the Web UI) waits at most hostWaitTimeout.
  const { runbook, input: full, resolved } = prepareRun('serviceRestart', input, 'alice');
  const handle = await bed.client.workflow.start(runbook, { taskQueue: bed.config.taskQueue, workflowId: resolved.workflowId, args: [full], ...runStartFields(resolved, full, { origin: 'test' }) });
  const began = Date.now();
  const { report, error } = await waitForReport(handle);
  assert.equal(report?.outcome, 'Failed', error);
  assert.match(report?.error ?? error ?? '', /no worker serves runbooks@gamma/);
  assert.equal(report?.changed, false);
  assert.ok(Date.now() - began < 60_000, `failed at its limit, not later (${Date.now() - began} ms)`);
  assert.deepEqual(await Promise.all(Object.values(bed.hosts).map((h) => tree(h.dir))), snapshots, 'nothing changed on alpha or beta');
});

test('the handles fault tests use: server SIGKILL and start on the same database, PostgreSQL stop and start, alpha\'s worker SIGKILL and start; then a run on alpha still succeeds', { timeout: 180_000 }, async () => {
  const { alpha } = bed.hosts;
  const serverPid = bed.cluster.server.pid!;
  await bed.cluster.server.kill();
  assert.equal(bed.cluster.server.pid, undefined);
  assert.throws(() => process.kill(serverPid, 0), 'the server process is gone');
  await bed.cluster.server.start();
  assert.notEqual(bed.cluster.server.pid, serverPid);

  const pgPid = bed.cluster.postgres.pid!;
  await bed.cluster.postgres.stop();
  assert.equal(bed.cluster.postgres.pid, undefined);
  await bed.cluster.postgres.start();
  assert.notEqual(bed.cluster.postgres.pid, pgPid);

  const workerPid = alpha.pid!;
  await alpha.kill();
  assert.equal(alpha.pid, undefined);
  await alpha.start();
  assert.notEqual(alpha.pid, workerPid);

  const run = await startRunbook(bed.client, bed.config, 'serviceRestart', { mode: 'apply', approval: 'auto', service: 'demo-api', host: 'alpha', hostWaitTimeout: '60s' }, { requestedBy: 'alice', origin: 'test' });
  const finished = await waitForReport(run.handle);
  assert.equal(finished.report?.outcome, 'Succeeded', finished.error);
});
