#!/usr/bin/env node
// The incident's backend in small: serves /api/images from a LanceDB table and answers 500 when a
// scan touches a missing data file, as images.lance did (LanceError(IO): … Not found: …/data/…).
// --db <dir> (the LanceDB database folder) --table <name> --port <n>
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import * as lancedb from '@lancedb/lancedb';

const { values } = parseArgs({ options: { db: { type: 'string' }, table: { type: 'string', default: 'images' }, port: { type: 'string' } } });
const port = Number(values.port);
if (!values.db || !Number.isInteger(port) || port <= 0) {
  console.error('usage: lance-images-api.mjs --db <dir> [--table images] --port N');
  process.exit(2);
}

/** Opened per request, like a backend that reopens after a repair: it must see the current version. */
async function withTable(work) {
  const db = await lancedb.connect(values.db);
  const table = await db.openTable(values.table);
  try {
    return await work(table);
  } finally {
    table.close();
    db.close();
  }
}

const server = createServer(async (req, res) => {
  const reply = (status, body) => res.writeHead(status, { 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`);
  try {
    if (req.url === '/health') return reply(200, { ok: true });
    const one = /^\/api\/images\/(\d+)$/.exec(req.url ?? '');
    if (one) {
      const rows = await withTable((t) => t.query().where(`id = ${Number(one[1])}`).select(['id', 'name']).toArray());
      return rows.length ? reply(200, { id: rows[0].id, name: rows[0].name }) : reply(404, { error: 'no such image' });
    }
    if (req.url === '/api/images') {
      const { rows, version } = await withTable(async (t) => {
        let rows = 0;
        for await (const batch of t.query().select(['id'])) rows += batch.numRows;
        return { rows, version: await t.version() };
      });
      return reply(200, { rows, version });
    }
    return reply(404, { error: 'not found' });
  } catch (err) {
    console.error(String(err?.message ?? err));
    return reply(500, { error: String(err?.message ?? err) });
  }
});
server.listen(port, '127.0.0.1', () => console.log(`images api on ${port}, table ${values.db}/${values.table}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
