#!/usr/bin/env node
// A service that owns a LevelDB/Pebble store, in small: GET /api/keys opens the store with the real
// engine (storectl scan, read-only) and answers 200 with its key count and digest, or 500 with the
// engine's own words when it does not open, as the incidents' services did after the crash.
// --engine goleveldb|pebble --dir <store> --port <n> [--storectl <path>]
import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { engine: { type: 'string' }, dir: { type: 'string' }, port: { type: 'string' }, storectl: { type: 'string' } } });
const port = Number(values.port);
const storectl = values.storectl ?? process.env.STORECTL;
if (!values.dir || !['goleveldb', 'pebble'].includes(values.engine) || !Number.isInteger(port) || port <= 0 || !storectl) {
  console.error('usage: logstore-api.mjs --engine goleveldb|pebble --dir <store> --port N [--storectl <path>] (or STORECTL in the environment)');
  process.exit(2);
}

const scan = () =>
  new Promise((resolve) => {
    execFile(storectl, ['scan', '--engine', values.engine, '--dir', values.dir], { maxBuffer: 1 << 20 }, (err, stdout) => {
      try {
        resolve({ ok: !err, body: JSON.parse(stdout) });
      } catch {
        resolve({ ok: false, body: { error: String(err?.message ?? 'storectl printed no JSON') } });
      }
    });
  });

const server = createServer(async (req, res) => {
  const reply = (status, body) => res.writeHead(status, { 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`);
  if (req.url === '/health') return reply(200, { ok: true });
  if (req.url === '/api/keys') {
    const { ok, body } = await scan();
    if (!ok) console.error(body.error);
    return ok ? reply(200, { keys: body.keys, digest: body.digest }) : reply(500, { error: body.error });
  }
  return reply(404, { error: 'not found' });
});
server.listen(port, '127.0.0.1', () => console.log(`store api on ${port}: ${values.engine} ${values.dir}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
