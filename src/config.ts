// Process configuration from the environment, read once at start-up (never from workflow code).
import { readFileSync } from 'node:fs';
import type { TLSConfig } from '@temporalio/client';
import { DEFAULT_TASK_QUEUE } from './workflows/names';

/**
 * TLS to the Temporal frontend, from the variables the `temporal` CLI and the Temporal UI read too,
 * so one set serves all three: TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY (the client certificate, for a
 * frontend that requires mTLS), TEMPORAL_TLS_CA (the server's CA, when the system does not trust
 * it), TEMPORAL_TLS_SERVER_NAME (the name its certificate carries). Any of them turns TLS on.
 */
export interface TemporalTls {
  cert?: string;
  key?: string;
  ca?: string;
  serverName?: string;
}

export interface Config {
  /** Temporal frontend, host:port. */
  address: string;
  namespace: string;
  /** Workflow task queue; host-bound activities use `<taskQueue>@<host>`. */
  taskQueue: string;
  /** Prometheus endpoint of the worker's SDK runtime, host:port; empty disables it. */
  metricsAddress: string;
  /** Temporal Web UI base URL, for links in output. */
  uiUrl: string;
  /** Absent: plain gRPC (the dev server, or a frontend reached only on 127.0.0.1). */
  tls?: TemporalTls;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return {
    address: env.TEMPORAL_ADDRESS || 'localhost:7233',
    namespace: env.TEMPORAL_NAMESPACE || 'default',
    taskQueue: env.RUNBOOK_TASK_QUEUE || DEFAULT_TASK_QUEUE,
    metricsAddress: env.RUNBOOK_METRICS_ADDRESS ?? '127.0.0.1:9464',
    uiUrl: (env.TEMPORAL_UI_URL || 'http://localhost:8233').replace(/\/$/, ''),
    tls: tlsFromEnv(env),
  };
}

function tlsFromEnv(env: NodeJS.ProcessEnv): TemporalTls | undefined {
  const tls = { cert: env.TEMPORAL_TLS_CERT || undefined, key: env.TEMPORAL_TLS_KEY || undefined, ca: env.TEMPORAL_TLS_CA || undefined, serverName: env.TEMPORAL_TLS_SERVER_NAME || undefined };
  return Object.values(tls).some(Boolean) ? tls : undefined;
}

/**
 * The SDK's `tls` connection option for `config.tls`, with the PEM files read now: undefined for
 * plain gRPC. Throws naming the variable and the file when a file cannot be read or a certificate
 * comes without its key.
 */
export function temporalTlsOptions(config: Pick<Config, 'tls'>): TLSConfig | undefined {
  const tls = config.tls;
  if (!tls) return undefined;
  if (Boolean(tls.cert) !== Boolean(tls.key)) {
    throw new Error(`TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together (a client certificate needs its key): only ${tls.cert ? 'TEMPORAL_TLS_CERT' : 'TEMPORAL_TLS_KEY'} is set`);
  }
  const read = (variable: string, path: string) => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new Error(`${variable}=${path}: cannot read it: ${(err as Error).message}`);
    }
  };
  return {
    serverNameOverride: tls.serverName,
    serverRootCACertificate: tls.ca ? read('TEMPORAL_TLS_CA', tls.ca) : undefined,
    clientCertPair: tls.cert && tls.key ? { crt: read('TEMPORAL_TLS_CERT', tls.cert), key: read('TEMPORAL_TLS_KEY', tls.key) } : undefined,
  };
}

export function workflowUrl(config: Config, workflowId: string): string {
  return `${config.uiUrl}/namespaces/${encodeURIComponent(config.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}
