// One pino logger for the process; the Temporal SDK's own logs are routed here too (see worker.ts).
// A person at a terminal gets pino-pretty's readable lines; files, pipes and log collectors get one
// JSON object per line. `LOG_FORMAT=json|pretty` overrides the choice.
import { pino, type DestinationStream } from 'pino';
import PinoPretty from 'pino-pretty';

export type LogFormat = 'json' | 'pretty';

/** The format for this process: LOG_FORMAT if set, else pretty exactly when stdout is a terminal. */
export function logFormat(env: NodeJS.ProcessEnv = process.env, isTTY = Boolean(process.stdout.isTTY)): LogFormat {
  const asked = env.LOG_FORMAT;
  if (asked === undefined || asked === '') return isTTY ? 'pretty' : 'json';
  if (asked === 'json' || asked === 'pretty') return asked;
  throw new Error(`LOG_FORMAT must be "json" or "pretty", got "${asked}"`);
}

function destination(format: LogFormat): DestinationStream | undefined {
  if (format === 'json') return undefined; // pino's own fast stdout writer
  // In this thread and synchronous (no transport worker), so a fatal line is on screen before exit.
  return PinoPretty({ sync: true, colorize: Boolean(process.stdout.isTTY), translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' });
}

export const logger = pino(
  {
    name: 'runbooks',
    level: process.env.LOG_LEVEL ?? 'info',
    base: { pid: process.pid },
  },
  destination(logFormat()) as DestinationStream,
);
