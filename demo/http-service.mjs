#!/usr/bin/env node
// A small real HTTP service to restart in demos and tests: /health answers "ok", / answers its pid.
// --port N (required), --startup-delay-ms N (time before it listens, to make starts slow).
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { port: { type: 'string' }, 'startup-delay-ms': { type: 'string', default: '0' } } });
const port = Number(values.port);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: http-service.mjs --port N [--startup-delay-ms N]');
  process.exit(2);
}
const startedAt = new Date().toISOString();
const server = createServer((req, res) => {
  const body = req.url === '/health' ? 'ok\n' : `${JSON.stringify({ pid: process.pid, startedAt })}\n`;
  res.writeHead(200, { 'content-type': req.url === '/health' ? 'text/plain' : 'application/json' }).end(body);
});
setTimeout(() => server.listen(port, '127.0.0.1', () => console.log(`listening on ${port} as pid ${process.pid}`)), Number(values['startup-delay-ms']));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
