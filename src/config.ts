// Process configuration from the environment, read once at start-up (never from workflow code).
import { DEFAULT_TASK_QUEUE } from './workflows/names';

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
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return {
    address: env.TEMPORAL_ADDRESS || 'localhost:7233',
    namespace: env.TEMPORAL_NAMESPACE || 'default',
    taskQueue: env.RUNBOOK_TASK_QUEUE || DEFAULT_TASK_QUEUE,
    metricsAddress: env.RUNBOOK_METRICS_ADDRESS ?? '127.0.0.1:9464',
    uiUrl: (env.TEMPORAL_UI_URL || 'http://localhost:8233').replace(/\/$/, ''),
  };
}

export function workflowUrl(config: Config, workflowId: string): string {
  return `${config.uiUrl}/namespaces/${encodeURIComponent(config.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}
