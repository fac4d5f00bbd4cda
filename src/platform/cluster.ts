// The production topology of docker-compose.yml on one machine, without Docker: PostgreSQL
// (postgres.ts), the schema set up by compose's own admin-tools script, the real Temporal server
// (`temporal-server start`, config rendered from its embedded template with the environment compose
// gives the `temporal` service), compose's create-namespace script, and the Web UI server with
// compose's temporal-ui environment. Only what one machine needs is overridden: addresses, ports,
// paths. Binaries come from set-up (scripts/setup.cjs, `cluster` scripts).
import { chmod, cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Connection } from '@temporalio/client';
import type { ResultPromise } from 'execa';
import { loadConfig, temporalTlsOptions } from '../config';
import { logger } from '../logger';
import { endLeftover, runsBinary, runStep, spawnLogged, waitUntil } from './children';
import { composeBindMounts, composeEnvironment, composeScript, COMPOSE_FILE, MTLS_COMPOSE_FILE } from './compose';
import { freePort } from './dev-server';
import { startPostgres, type Postgres } from './postgres';

const DYNAMIC_CONFIG = fileURLToPath(new URL('../../deploy/dynamicconfig/development-sql.yaml', import.meta.url));
/** Where the admin-tools image keeps the schema; here it is the server module's `schema` folder. */
const IMAGE_SCHEMA_DIR = '/etc/temporal/schema';
/** The namespace compose's script creates (test/compose.test.ts checks the worker uses it). */
const NAMESPACE = 'default';

export interface ClusterOptions {
  /** Cluster folder (database, logs); omitted: a temp folder that stop() removes. Reused if present. */
  dir?: string;
  /**
   * Server and UI in process groups of their own (npm run stack:cluster), so a terminal's Ctrl-C
   * reaches the stack, which stops workers first. Otherwise they die with this process.
   */
  detach?: boolean;
  ui?: boolean;
  composeFile?: string;
  /**
   * Mutual TLS as docker-compose.mtls.yml sets it up, layered over the compose file: `dir` holds the
   * files it names (ca.pem, server.pem/.key, client.pem/.key), mounted where compose mounts
   * RUNBOOK_TLS_DIR.
   */
  mtls?: { dir: string };
}

export interface ClusterServer {
  readonly address: string;
  readonly pid: number | undefined;
  /** The environment it runs with: compose's `temporal` environment plus `overrides`. */
  readonly env: Record<string, string>;
  readonly overrides: Record<string, string>;
  /** Sends `signal` (default SIGKILL) and waits for the process to end. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same database and ports; resolves once it serves the namespace. */
  start(): Promise<void>;
}

export interface Cluster {
  dir: string;
  address: string;
  namespace: string;
  uiUrl?: string;
  postgres: Postgres;
  server: ClusterServer;
  uiPid?: number;
  /** TEMPORAL_TLS_* a client of this frontend needs (compose's worker environment); empty without mTLS. */
  clientTls: Record<string, string>;
  /** Milliseconds each start-up step took. */
  timings: { postgres: number; schema: number; server: number; namespace: number; ui?: number; total: number };
  /** Stops the UI, the server and PostgreSQL; removes the folder when it was a temp one. */
  stop(): Promise<void>;
}

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run through set-up (npm run stack:cluster / test:cluster), which builds and names it`);
  return value;
}

/** Ends a child: `signal`, then SIGKILL after `graceMs`; resolves when it has exited. */
async function end(child: ResultPromise | undefined, signal: NodeJS.Signals = 'SIGTERM', graceMs = 15_000): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return void (await child);
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await child;
  clearTimeout(timer);
}

/**
 * A free TCP port on 127.0.0.1 below 32768: the server stores membership ports in a smallint column,
 * and below the kernel's ephemeral range no outgoing connection takes the port in the meantime.
 */
async function freeLowPort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const probe = createServer();
      probe.once('error', () => resolve(false));
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

/** True once the frontend answers, and, with `namespace`, serves it. */
async function frontendServes(address: string, clientTls: Record<string, string>, namespace?: string): Promise<boolean> {
  const connection = await Connection.connect({ address, connectTimeout: 1000, tls: temporalTlsOptions(loadConfig(clientTls)) });
  try {
    await connection.workflowService.getSystemInfo({});
    if (namespace) await connection.workflowService.describeNamespace({ namespace });
    return true;
  } finally {
    await connection.close();
  }
}

export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const began = Date.now();
  const composeFile = options.composeFile ?? COMPOSE_FILE;
  const temp = !options.dir;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'runbooks-cluster-')));
  // mkdtemp makes it 0700; PostgreSQL's own user (when we are root) must pass through it.
  await mkdir(dir, { recursive: true });
  await chmod(dir, 0o711);
  const logs = join(dir, 'logs');
  const bin = join(dir, 'bin');
  await mkdir(logs, { recursive: true });
  const log = logger.child({ component: 'cluster', dir });
  const serverSource = required('TEMPORAL_SERVER_SOURCE');
  // The scripts call the tools by the names the admin-tools image gives them.
  await rm(bin, { recursive: true, force: true });
  await mkdir(bin);
  await symlink(required('TEMPORAL_SQL_TOOL'), join(bin, 'temporal-sql-tool'));
  await symlink(process.env.TEMPORAL_CLI || required('TEMPORAL_CLI'), join(bin, 'temporal'));
  const scriptPath = `${bin}:/usr/bin:/bin`;
  const files = options.mtls ? [composeFile, MTLS_COMPOSE_FILE] : [composeFile];
  const vars = options.mtls ? { RUNBOOK_TLS_DIR: options.mtls.dir } : {};
  /** Compose's environment for `service`, a path inside one of its bind mounts pointed at the host folder. */
  const envOf = (service: string): Record<string, string> => {
    const mounts = composeBindMounts(service, files, vars);
    return Object.fromEntries(
      Object.entries(composeEnvironment(service, files, vars)).map(([k, v]) => {
        const mount = mounts.find((m) => v === m.target || v.startsWith(`${m.target}/`));
        return [k, mount ? mount.source + v.slice(mount.target.length) : v];
      }),
    );
  };
  const clientTls = Object.fromEntries(Object.entries(envOf('worker')).filter(([k]) => k.startsWith('TEMPORAL_TLS_')));

  let postgres: Postgres | undefined;
  let serverChild: ResultPromise | undefined;
  let uiChild: ResultPromise | undefined;
  const stopAll = async () => {
    await end(uiChild);
    await end(serverChild);
    await postgres?.stop();
    if (temp) await rm(dir, { recursive: true, force: true });
  };

  try {
    // 1. PostgreSQL, as compose's postgresql service: user and password from its environment.
    let t = Date.now();
    const pgEnv = envOf('postgresql');
    postgres = await startPostgres({ dir: join(dir, 'postgres'), port: await freePort(), user: pgEnv.POSTGRES_USER ?? 'postgres', password: pgEnv.POSTGRES_PASSWORD ?? '' });
    const pgMs = Date.now() - t;
    log.info({ port: postgres.port, postgresPid: postgres.pid, ms: pgMs }, 'PostgreSQL ready');

    // 2. The schema: compose's admin-tools script, its environment, this database.
    t = Date.now();
    const db = { POSTGRES_SEEDS: '127.0.0.1', DB_PORT: String(postgres.port) };
    const adminScript = composeScript('temporal-admin-tools', composeFile).replaceAll(IMAGE_SCHEMA_DIR, join(serverSource, 'schema'));
    await runStep('schema setup (compose temporal-admin-tools)', join(logs, 'schema.log'), '/bin/sh', ['-c', adminScript], {
      env: { ...envOf('temporal-admin-tools'), ...db, PATH: scriptPath },
      cwd: dir,
    });
    const schemaMs = Date.now() - t;
    log.info({ ms: schemaMs }, 'schema set up');

    // 3. The server: compose's environment, plus addresses and ports of its own on 127.0.0.1 (the
    //    image's entrypoint only resolves BIND_ON_IP, which is given here).
    t = Date.now();
    const ports: Record<string, number> = {};
    for (const name of ['FRONTEND_GRPC_PORT', 'FRONTEND_HTTP_PORT', 'FRONTEND_MEMBERSHIP_PORT', 'HISTORY_GRPC_PORT', 'HISTORY_MEMBERSHIP_PORT', 'MATCHING_GRPC_PORT', 'MATCHING_MEMBERSHIP_PORT', 'WORKER_GRPC_PORT', 'WORKER_MEMBERSHIP_PORT']) {
      ports[name] = await freeLowPort();
    }
    const overrides: Record<string, string> = {
      ...db,
      BIND_ON_IP: '127.0.0.1',
      DYNAMIC_CONFIG_FILE_PATH: DYNAMIC_CONFIG,
      ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
    };
    const serverEnv = { ...envOf('temporal'), ...overrides };
    const address = `127.0.0.1:${ports.FRONTEND_GRPC_PORT}`;
    const serverBin = required('TEMPORAL_SERVER_BIN');
    const serverLog = join(logs, 'temporal-server.log');
    let namespaceReady = false;
    const startServer = async () => {
      // No --config: the server renders its embedded template from this environment, as in the image.
      await endLeftover(join(dir, 'temporal-server.pid'), runsBinary(serverBin));
      serverChild = spawnLogged(serverLog, serverBin, ['start'], { env: serverEnv, cwd: dir, detached: options.detach });
      await writeFile(join(dir, 'temporal-server.pid'), `${serverChild.pid}\n`);
      await waitUntil('Temporal server start', serverLog, () => frontendServes(address, clientTls, namespaceReady ? NAMESPACE : undefined), { child: serverChild, timeoutMs: 180_000 });
    };
    await startServer();
    const serverMs = Date.now() - t;
    log.info({ address, serverPid: serverChild!.pid, ms: serverMs }, 'Temporal server ready');

    // 4. Namespace, retention and search attributes: compose's create-namespace script.
    t = Date.now();
    await runStep('namespace setup (compose temporal-create-namespace)', join(logs, 'namespace.log'), '/bin/sh', ['-c', composeScript('temporal-create-namespace', composeFile)], {
      env: { ...envOf('temporal-create-namespace'), TEMPORAL_ADDRESS: address, PATH: scriptPath, HOME: dir },
      cwd: dir,
      timeoutMs: 300_000,
    });
    namespaceReady = true;
    await waitUntil('namespace check', join(logs, 'namespace.log'), () => frontendServes(address, clientTls, NAMESPACE), { timeoutMs: 60_000 });
    const namespaceMs = Date.now() - t;
    log.info({ namespace: NAMESPACE, ms: namespaceMs }, 'namespace and search attributes set');

    // 5. The Web UI server with compose's temporal-ui environment, pointed at this frontend.
    let uiUrl: string | undefined;
    let uiMs: number | undefined;
    if (options.ui !== false) {
      t = Date.now();
      const uiPort = await freePort();
      uiUrl = `http://127.0.0.1:${uiPort}`;
      const uiRoot = await uiConfig(join(dir, 'ui'));
      const uiLog = join(logs, 'temporal-ui.log');
      const uiBin = required('TEMPORAL_UI_SERVER');
      await endLeftover(join(dir, 'temporal-ui.pid'), runsBinary(uiBin));
      uiChild = spawnLogged(uiLog, uiBin, ['--root', uiRoot, '--env', 'docker', 'start'], {
        env: { ...envOf('temporal-ui'), TEMPORAL_ADDRESS: address, TEMPORAL_UI_PORT: String(uiPort), TEMPORAL_CORS_ORIGINS: `http://localhost:${uiPort},${uiUrl}` },
        cwd: dir,
        detached: options.detach,
      });
      await writeFile(join(dir, 'temporal-ui.pid'), `${uiChild.pid}\n`);
      await waitUntil('Temporal UI start', uiLog, async () => (await fetch(`${uiUrl}/`, { signal: AbortSignal.timeout(2000) })).ok, { child: uiChild, timeoutMs: 60_000 });
      uiMs = Date.now() - t;
      log.info({ uiUrl, uiPid: uiChild.pid, ms: uiMs }, 'Temporal UI ready');
    }

    const server: ClusterServer = {
      address,
      env: serverEnv,
      overrides,
      get pid() {
        return serverChild?.exitCode === null && serverChild.signalCode === null ? serverChild.pid : undefined;
      },
      async kill(signal = 'SIGKILL') {
        await end(serverChild, signal, 30_000);
      },
      async start() {
        if (serverChild?.exitCode === null && serverChild.signalCode === null) throw new Error(`the Temporal server is still running (pid ${serverChild.pid})`);
        await startServer();
      },
    };
    return {
      dir,
      address,
      namespace: NAMESPACE,
      uiUrl,
      postgres,
      server,
      get uiPid() {
        return uiChild?.pid;
      },
      clientTls,
      timings: { postgres: pgMs, schema: schemaMs, server: serverMs, namespace: namespaceMs, ui: uiMs, total: Date.now() - began },
      stop: stopAll,
    };
  } catch (err) {
    await stopAll().catch((stopErr: unknown) => log.error({ err: stopErr }, 'cleaning up after a failed start'));
    throw err;
  }
}

/**
 * The UI server's config folder: the module's base.yaml and docker.yaml (the one the temporalio/ui
 * image renders from its environment), with `host: 127.0.0.1` added to the base, because compose
 * publishes the UI on 127.0.0.1 only and here no Docker network stands in front of it.
 */
async function uiConfig(root: string): Promise<string> {
  const source = join(required('TEMPORAL_UI_SOURCE'), 'config');
  await rm(root, { recursive: true, force: true });
  await mkdir(join(root, 'config'), { recursive: true });
  await cp(join(source, 'docker.yaml'), join(root, 'config', 'docker.yaml'));
  const base = await readFile(join(source, 'base.yaml'), 'utf8');
  await writeFile(join(root, 'config', 'base.yaml'), `${base.trimEnd()}\nhost: 127.0.0.1\n`);
  return root;
}
