// The worker: runs runbook workflows from the shared task queue, and the steps that touch this host
// from `<taskQueue>@<host>`. Logs are pino JSON, the SDK's included; metrics are Prometheus.
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { DefaultLogger, makeTelemetryFilterString, NativeConnection, Runtime, Worker, type LogLevel, type WorkerOptions } from '@temporalio/worker';
import * as activities from './activities/index';
import { stepInterceptors } from './activities/interceptors';
import { loadConfig, temporalTlsOptions, type Config } from './config';
import { hostFilePath, loadHostFile } from './host/host-file';
import { logger } from './logger';
import { hostTaskQueue } from './workflows/names';

const pinoLevel = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' } as const;

/** Routes the SDK's logs (worker, workflows, activities, and the Rust core) into our pino logger. */
export function installRuntime(config: Pick<Config, 'metricsAddress'>): void {
  Runtime.install({
    logger: new DefaultLogger((process.env.LOG_LEVEL?.toUpperCase() as LogLevel) || 'INFO', ({ level, message, meta }) => {
      // The SDK passes errors as `error`; pino serialises message and stack only under `err`.
      const { error, ...rest } = (meta ?? {}) as { error?: unknown };
      logger[pinoLevel[level]]({ sdk: true, ...rest, ...(error === undefined ? {} : { err: error }) }, message);
    }),
    telemetryOptions: {
      logging: { forward: {}, filter: makeTelemetryFilterString({ core: 'WARN' }) },
      ...(config.metricsAddress ? { metrics: { prometheus: { bindAddress: config.metricsAddress } } } : {}),
    },
  });
}

/** Prebuilt bundle (RUNBOOK_WORKFLOW_BUNDLE, made by tests and the Docker image) or bundle at start. */
function workflowSource(): Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> {
  const bundle = process.env.RUNBOOK_WORKFLOW_BUNDLE;
  return bundle ? { workflowBundle: { codePath: bundle } } : { workflowsPath: fileURLToPath(new URL('./workflows/index.ts', import.meta.url)) };
}

/**
 * Heartbeats reach the server at least this often: a cancel reaches a running step through its
 * heartbeat, and a retry resumes from the last one sent. Heartbeats add no history events.
 */
export const HEARTBEATS = { maxHeartbeatThrottleInterval: '2s', defaultHeartbeatThrottleInterval: '2s' } as const;

export interface RunbookWorkers {
  host: string;
  run(): Promise<void>;
  shutdown(): void;
}

export async function createWorkers(config: Config, connection: NativeConnection): Promise<RunbookWorkers> {
  const host = process.env.RUNBOOK_HOST || hostname();
  const common = { connection, namespace: config.namespace, interceptors: { activity: [stepInterceptors] }, ...HEARTBEATS };
  // The shared queue runs workflows and the one activity that only asks Temporal (who holds a claim).
  const workflows = await Worker.create({ ...common, taskQueue: config.taskQueue, ...workflowSource(), activities: { claimHolder: activities.claimHolder } });
  const local = await Worker.create({ ...common, taskQueue: hostTaskQueue(config.taskQueue, host), activities });
  return {
    host,
    async run() {
      await Promise.all([workflows.run(), local.run()]);
    },
    shutdown() {
      for (const w of [workflows, local]) if (w.getState() === 'RUNNING') w.shutdown();
    },
  };
}

/** Reads the host's services file once at start, so a broken one stops the worker, and says what it allows. */
async function announceHostFile(): Promise<void> {
  const path = hostFilePath();
  const file = await loadHostFile(path);
  logger.info({ servicesFile: path ?? null, services: Object.keys(file.services), dataRoots: file.dataRoots, trust: file.trust }, path ? 'services file loaded' : 'no services file (RUNBOOK_SERVICES_FILE): runbooks may touch no service and no data path on this host');
  if (file.trust === 'development') logger.warn('DEVELOPMENT trust: unsigned approvals are accepted on this host; set "trust": "signed" and "approvals" in the services file for production');
  if (file.allowInlineServices) logger.warn('inline service specs are allowed: anyone who may start a run can make this worker run any program; development only');
}

async function main(): Promise<void> {
  const config = loadConfig();
  await announceHostFile();
  installRuntime(config);
  const connection = await NativeConnection.connect({ address: config.address, tls: temporalTlsOptions(config) });
  const workers = await createWorkers(config, connection);
  logger.info({ taskQueue: config.taskQueue, hostQueue: hostTaskQueue(config.taskQueue, workers.host), address: config.address, metrics: config.metricsAddress || null }, 'worker started');
  await workers.run(); // the SDK shuts workers down on SIGINT/SIGTERM
  await connection.close();
  logger.info('worker stopped');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err) => {
    logger.fatal({ err }, 'worker failed');
    process.exit(1);
  });
}
