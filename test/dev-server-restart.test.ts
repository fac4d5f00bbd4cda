// `npm start`'s Temporal dev server under its supervisor (src/platform/dev-server.ts), with a real
// server on its own ports and SQLite file: killed, it comes back on the same database with the runs
// it had; when it cannot come back, the supervisor gives up with the server's own last words.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { freePort, superviseDevServer, type SupervisedDevServer, type SupervisorEvent } from '../src/platform/dev-server';

let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dev-server-restart-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A supervised headless server on free ports, with its events collected and awaitable. */
async function supervised(dbFile: string, maxRestarts: number) {
  const events: SupervisorEvent[] = [];
  const waiters: Array<{ kind: SupervisorEvent['kind']; resolve: (e: SupervisorEvent) => void }> = [];
  const server = await superviseDevServer({
    port: await freePort(),
    ui: false,
    dbFile,
    restart: { maxRestarts, windowMs: 5 * 60_000, delayMs: 100 },
    onEvent(event) {
      events.push(event);
      for (const w of waiters.filter((w) => w.kind === event.kind)) w.resolve(event);
    },
  });
  const next = (kind: SupervisorEvent['kind']) => new Promise<SupervisorEvent>((resolve) => waiters.push({ kind, resolve }));
  return { server, events, next };
}

async function withClient<T>(server: SupervisedDevServer, work: (client: Client) => Promise<T>): Promise<T> {
  const connection = await Connection.connect({ address: server.address });
  try {
    return await work(new Client({ connection }));
  } finally {
    await connection.close();
  }
}

describe('the dev server supervisor', () => {
  test('SIGKILLed, the server is started again on the same SQLite file and still lists the runs from before', async () => {
    const { server, events, next } = await supervised(join(dir, 'temporal.db'), 5);
    try {
      const before = await withClient(server, async (client) => {
        const finished = await client.workflow.start('serviceRestart', { taskQueue: 'nobody-polls-this', workflowId: 'before-the-crash', args: [] });
        await finished.terminate('closed before the crash');
        await client.workflow.start('serviceRestart', { taskQueue: 'nobody-polls-this', workflowId: 'running-at-the-crash', args: [] });
        return finished.firstExecutionRunId;
      });

      const oldPid = server.process.pid!;
      const restarted = next('restarted');
      process.kill(oldPid, 'SIGKILL');
      await restarted;

      assert.equal(server.restarts, 1);
      assert.notEqual(server.process.pid, oldPid, 'a new server process');
      assert.equal(events[0]?.kind, 'exited');
      assert.equal((events[0] as { signal?: string }).signal, 'SIGKILL', 'the death is reported with its cause');

      await withClient(server, async (client) => {
        const listed = [];
        for await (const run of client.workflow.list({ query: 'WorkflowType = "serviceRestart"' })) listed.push([run.workflowId, run.status.name]);
        assert.deepEqual(listed.sort(), [['before-the-crash', 'TERMINATED'], ['running-at-the-crash', 'RUNNING']]);
        assert.equal((await client.workflow.getHandle('before-the-crash').describe()).runId, before, 'the same run, not a new one');
      });
    } finally {
      await server.stop();
    }
  });

  test('a server that cannot start again: the supervisor gives up after its restarts, with the server stderr as the reason', async () => {
    // The database's folder is replaced by a file while the server runs (SQLite keeps its open
    // files), so every restart fails to open the database.
    const dbDir = join(dir, 'db-goes-away');
    await mkdir(dbDir);
    const { server, events } = await supervised(join(dbDir, 'temporal.db'), 2);
    try {
      await rm(dbDir, { recursive: true, force: true });
      await writeFile(dbDir, 'not a directory any more');
      process.kill(server.process.pid!, 'SIGKILL');

      const reason = await server.gaveUp;
      assert.match(reason.message, /gave up: 2 restarts within 300s/);
      assert.match(reason.message, /before it was ready: .*unable to open database file/, 'the server\'s own words');
      assert.deepEqual(events.map((e) => e.kind), ['exited', 'restart-failed', 'restart-failed']);
      assert.equal(server.restarts, 0);
    } finally {
      await server.stop();
    }
  });
});
