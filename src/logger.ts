// One pino logger for the process; the Temporal SDK's own logs are routed here too (see worker.ts).
import { pino } from 'pino';

export const logger = pino({
  name: 'runbooks',
  level: process.env.LOG_LEVEL ?? 'info',
  base: { pid: process.pid },
});
