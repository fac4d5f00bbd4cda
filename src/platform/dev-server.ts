// The embedded Temporal stack: the CLI's dev server (SQLite file, Web UI), started as a child process.
import { createServer } from 'node:net';
import { Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { execa, type ResultPromise } from 'execa';
import { searchAttributeKeys } from '../workflows/names';

export interface DevServerOptions {
  /** The temporal CLI binary; `npm start`/`npm test` set TEMPORAL_CLI after provisioning it. */
  cli?: string;
  ip?: string;
  port?: number;
  uiPort?: number;
  /** SQLite file; omitted means in memory. */
  dbFile?: string;
  namespace?: string;
  ui?: boolean;
}

export interface DevServer {
  address: string;
  uiUrl?: string;
  process: ResultPromise;
  stop(): Promise<void>;
}

/** A TCP port nobody listens on right now (for test servers that must not clash with `npm start`). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export async function startDevServer(options: DevServerOptions = {}): Promise<DevServer> {
  const {
    cli = process.env.TEMPORAL_CLI || 'temporal',
    ip = '127.0.0.1',
    port = 7233,
    uiPort = port + 1000,
    dbFile,
    namespace = 'default',
    ui = true,
  } = options;
  const args = [
    'server', 'start-dev',
    '--ip', ip,
    '--port', String(port),
    '--namespace', namespace,
    '--log-format', 'json',
    '--log-level', 'warn',
    // Updates carry approvals; the SDK's own test servers set the same switches.
    '--dynamic-config-value', 'frontend.enableUpdateWorkflowExecution=true',
    '--dynamic-config-value', 'frontend.enableUpdateWorkflowExecutionAsyncAccepted=true',
    '--dynamic-config-value', 'limit.maxIDLength=1000',
    ...(dbFile ? ['--db-filename', dbFile] : []),
    ...(ui ? ['--ui-port', String(uiPort)] : ['--headless']),
  ];
  const child = execa(cli, args, { reject: false, stdin: 'ignore', cleanup: true, buffer: { stdout: false, stderr: true } });
  const address = `${ip}:${port}`;
  const exited = child.then((r) => {
    throw new Error(`temporal dev server exited (code ${r.exitCode}) before it was ready: ${String(r.stderr).slice(-2000)}`);
  });
  await Promise.race([waitReady(address, namespace), exited]);
  exited.catch(() => undefined);
  return {
    address,
    uiUrl: ui ? `http://${ip === '0.0.0.0' ? 'localhost' : ip}:${uiPort}` : undefined,
    process: child,
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await child;
      clearTimeout(timer);
    },
  };
}

async function waitReady(address: string, namespace: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1000 });
      try {
        await connection.workflowService.describeNamespace({ namespace });
        await ensureSearchAttributes(connection, namespace);
        return;
      } finally {
        await connection.close();
      }
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`temporal dev server at ${address} not ready after 120s: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** Registers the product's search attributes if missing; safe on an existing database file. */
export async function ensureSearchAttributes(connection: Connection, namespace: string): Promise<void> {
  const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
  const missing = searchAttributeKeys.filter((key) => !(key.name in (customAttributes ?? {})));
  if (!missing.length) return;
  await connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(missing.map((key) => [key.name, proto.temporal.api.enums.v1.IndexedValueType[`INDEXED_VALUE_TYPE_${key.type}`]])),
  });
}
