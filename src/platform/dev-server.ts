// The embedded Temporal stack: the CLI's dev server (SQLite file, Web UI), started as a child process,
// and a supervisor that starts it again on the same database file when it dies.
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
    throw new Error(`temporal dev server exited (${r.signal ? `signal ${r.signal}` : `code ${r.exitCode}`}) before it was ready: ${stderrTail(r.stderr)}`);
  });
  exited.catch(() => undefined); // observed by the race below; later exits are the caller's to watch
  try {
    await Promise.race([waitReady(address, namespace), exited]);
  } catch (err) {
    child.kill('SIGKILL'); // a server that never became ready must not hold the ports or the database
    throw err;
  }
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

/** The last lines of a dead server's stderr: the reason it gave, if any. */
function stderrTail(stderr: unknown, lines = 20): string {
  const text = String(stderr ?? '').trimEnd();
  return text ? text.split('\n').slice(-lines).join('\n').slice(-4000) : '(nothing on stderr)';
}

export interface RestartPolicy {
  /** Restarts allowed within `windowMs`; one more death in that window ends supervision. Default 5. */
  maxRestarts?: number;
  /** Default 5 minutes. */
  windowMs?: number;
  /** Pause before each restart, so a server that dies at once does not spin. Default 1000. */
  delayMs?: number;
}

export type SupervisorEvent =
  | { kind: 'exited'; exitCode?: number; signal?: string; stderr: string; restartsInWindow: number }
  | { kind: 'restarted'; pid?: number; restarts: number }
  | { kind: 'restart-failed'; error: string };

export interface SupervisedDevServer extends DevServer {
  /** Times the server was started again after dying. */
  readonly restarts: number;
  /**
   * Settles only if the server died and could not be brought back within the policy: the reason,
   * with the last stderr lines of the server. Never settles after stop().
   */
  readonly gaveUp: Promise<Error>;
}

/**
 * A dev server that is started again, on the same ports and database file, whenever it dies, at
 * most `maxRestarts` times per `windowMs`. Clients and workers reconnect by themselves once it is back.
 */
export async function superviseDevServer(options: DevServerOptions & { restart?: RestartPolicy; onEvent?: (event: SupervisorEvent) => void }): Promise<SupervisedDevServer> {
  const { restart = {}, onEvent = () => undefined, ...serverOptions } = options;
  const { maxRestarts = 5, windowMs = 5 * 60_000, delayMs = 1000 } = restart;
  let current = await startDevServer(serverOptions);
  let stopping = false;
  let restarts = 0;
  const restartTimes: number[] = [];
  let giveUp!: (reason: Error) => void;
  const gaveUp = new Promise<Error>((resolve) => (giveUp = resolve));

  const budgetLeft = () => {
    const now = Date.now();
    while (restartTimes.length && now - restartTimes[0]! > windowMs) restartTimes.shift();
    return restartTimes.length < maxRestarts;
  };

  const watch = (server: DevServer) => {
    void server.process.then(async (result) => {
      if (stopping) return;
      let reason = `temporal dev server exited (${result.signal ? `signal ${result.signal}` : `code ${result.exitCode}`}); its last stderr lines:\n${stderrTail(result.stderr)}`;
      onEvent({ kind: 'exited', exitCode: result.exitCode, signal: result.signal, stderr: stderrTail(result.stderr), restartsInWindow: restartTimes.length });
      // Each failed start counts against the same budget, so a server that cannot start ends this loop.
      while (budgetLeft()) {
        restartTimes.push(Date.now());
        await new Promise((r) => setTimeout(r, delayMs));
        if (stopping) return;
        try {
          current = await startDevServer(serverOptions);
        } catch (err) {
          reason = (err as Error).message;
          onEvent({ kind: 'restart-failed', error: reason });
          continue;
        }
        if (stopping) return void (await current.stop());
        restarts += 1;
        onEvent({ kind: 'restarted', pid: current.process.pid, restarts });
        watch(current);
        return;
      }
      giveUp(new Error(`${reason}\n(gave up: ${maxRestarts} restarts within ${Math.round(windowMs / 1000)}s)`));
    });
  };
  watch(current);

  return {
    address: current.address,
    uiUrl: current.uiUrl,
    get process() {
      return current.process;
    },
    get restarts() {
      return restarts;
    },
    gaveUp,
    async stop() {
      stopping = true;
      await current.stop();
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
