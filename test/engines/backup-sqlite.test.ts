// sqlite3's online backup and integrity check on real databases of a few MB, while another sqlite3
// process keeps committing to them (WAL and rollback-journal mode). The writer inserts 10 rows per
// transaction with ids that follow on, so a copy taken mid-transaction would show a row count that
// is not a multiple of 10 or a gap in the ids.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, open, readdir, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { execa } from 'execa';
import { AbortError } from '../../src/engines/lfs/errors';
import { BackupRefusedError } from '../../src/engines/backup/precheck';
import { integrityCheck, sqliteOnlineBackup, SqliteError } from '../../src/engines/backup/sqlite';

let root: string;
let seq = 0;
const fresh = () => join(root, `f${++seq}`);
const children: ChildProcess[] = [];

before(async () => {
  root = await realpath(await mkdtemp(join(tmpdir(), 'backup-sqlite-')));
});
after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await rm(root, { recursive: true, force: true });
});

const sql = async (db: string, ...commands: string[]) => (await execa('sqlite3', ['-batch', '-bail', '-init', '/dev/null', db, '.timeout 20000', ...commands])).stdout;

const INITIAL = 5000;
const PER_TX = 10;
const FIRST_ID = 1_000_001;

/** A database of ~5 MB: table t of 5000 rows with 1000-byte blobs, in the journal mode given. */
async function makeDb(mode: 'wal' | 'delete'): Promise<string> {
  const db = `${fresh()}.db`;
  await sql(db, `PRAGMA journal_mode=${mode}`, 'CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)', `WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM s WHERE i<${INITIAL}) INSERT INTO t SELECT i, randomblob(1000) FROM s`);
  return db;
}

/**
 * A sqlite3 process committing transactions of 10 rows (ids FIRST_ID, FIRST_ID+1, …) until killed,
 * fed one every 10 ms. Unpaced, a rollback-journal writer here holds its exclusive lock (commit and
 * fsyncs, ~5 ms) nearly all the time: readers then waited up to 15 s for a shared lock, beyond the
 * backup's 10 s busy timeout.
 */
function startWriter(db: string): ChildProcess {
  const script = Readable.from(
    (async function* () {
      yield '.timeout 30000\n';
      for (let n = 0; ; n++) {
        await sleep(10);
        const a = FIRST_ID + n * PER_TX;
        yield `BEGIN IMMEDIATE; WITH RECURSIVE s(i) AS (SELECT ${a} UNION ALL SELECT i+1 FROM s WHERE i<${a + PER_TX - 1}) INSERT INTO t SELECT i, randomblob(500) FROM s; COMMIT;\n`;
      }
    })(),
  );
  const child = spawn('sqlite3', ['-batch', '-bail', '-init', '/dev/null', db], { stdio: ['pipe', 'ignore', 'inherit'] });
  script.pipe(child.stdin!).on('error', () => {}); // EPIPE once it is killed
  children.push(child);
  return child;
}

const rowCount = async (db: string) => Number(await sql(db, 'SELECT count(*) FROM t'));

/** The writer's rows in a copy: how many, and whether they are whole transactions with no gap. */
async function writerRows(copy: string): Promise<{ rows: number; whole: boolean; initialIntact: boolean }> {
  const [n = 0, lo = 0, hi = 0] = (await sql(`file:${copy}?immutable=1`, `SELECT count(*), coalesce(min(id),0), coalesce(max(id),0) FROM t WHERE id >= ${FIRST_ID}`)).split('|').map(Number);
  const initial = Number(await sql(`file:${copy}?immutable=1`, `SELECT count(*) FROM t WHERE id <= ${INITIAL}`));
  return { rows: n, whole: n % PER_TX === 0 && (n === 0 || (lo === FIRST_ID && hi === FIRST_ID + n - 1)), initialIntact: initial === INITIAL };
}

describe('sqliteOnlineBackup', () => {
  for (const mode of ['wal', 'delete'] as const) {
    test(`${mode} mode, another process committing all along: the copy is the database as of one of its commits`, { timeout: 120_000 }, async (t) => {
      const db = await makeDb(mode);
      const writer = startWriter(db);
      while ((await rowCount(db)) < INITIAL + 20 * PER_TX) await sleep(20);
      const before = await rowCount(db);
      const dest = join(root, `copy-${mode}.db`);
      const { bytes, durationMs } = await sqliteOnlineBackup(db, dest);
      const afterwards = await rowCount(db);
      assert.equal(writer.exitCode, null, 'the writer was never refused');
      writer.kill('SIGKILL');

      assert.ok(afterwards > before, `the writer committed while the backup ran (${before} → ${afterwards} rows)`);
      assert.deepEqual(await integrityCheck(dest), { ok: true, messages: ['ok'] });
      const copy = await writerRows(dest);
      assert.ok(copy.whole, `no partial transaction in the copy: ${JSON.stringify(copy)}`);
      assert.ok(copy.initialIntact);
      const total = INITIAL + copy.rows;
      t.diagnostic(`rows: ${before} before, ${total} in the copy (${bytes} bytes, ${durationMs} ms), ${afterwards} after`);
      assert.ok(total >= before && total <= afterwards, `the copy's ${total} rows lie between ${before} and ${afterwards}`);
      assert.equal(bytes, (await readFile(dest)).length);
      assert.ok(durationMs >= 0);
      // The copy keeps the source's journal mode, and nothing but it is left in its folder.
      assert.equal((await readFile(dest)).subarray(18, 20).toString('hex'), mode === 'wal' ? '0202' : '0101');
      assert.deepEqual((await readdir(root)).filter((f) => f.startsWith('.sqlite-backup-')), []);
    });
  }

  test('a file that is not a database: refused with sqlite3\'s words and the file named; nothing left', async () => {
    const junk = `${fresh()}.db`;
    await writeFile(junk, 'not a database, just text\n'.repeat(100));
    const dest = `${fresh()}.db`;
    const err = await sqliteOnlineBackup(junk, dest).catch((e: Error) => e);
    assert.ok(err instanceof SqliteError, String(err));
    assert.equal(err.message, `sqlite3 on ${junk}: in prepare, file is not a database (26)`);
    assert.deepEqual((await readdir(root)).filter((f) => f.startsWith('.sqlite-backup-') || f === dest), []);
  });

  test('a missing database is named, and not created (sqlite3 would create it)', async () => {
    const missing = `${fresh()}.db`;
    await assert.rejects(sqliteOnlineBackup(missing, `${fresh()}.db`), { name: 'SqliteError', message: `sqlite3 on ${missing}: no such file` });
    await assert.rejects(readFile(missing), { code: 'ENOENT' });
  });

  test('an existing destination is refused and left as it was', async () => {
    const db = await makeDb('delete');
    const dest = `${fresh()}.db`;
    await writeFile(dest, 'keep me');
    await assert.rejects(sqliteOnlineBackup(db, dest), (e: Error) => e instanceof BackupRefusedError && e.message === `${dest} exists: a backup never overwrites a file`);
    assert.equal(await readFile(dest, 'utf8'), 'keep me');
  });

  test('a path with quotes, spaces and a newline is only a path, for the database and the copy', async () => {
    const dir = join(root, `it's "odd"\n?#%`);
    await mkdir(dir);
    const db = join(dir, `a 'db' ?mode=memory.db`);
    await sql(`file:${db.split('/').map(encodeURIComponent).join('/')}`, 'CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)', 'INSERT INTO t VALUES (1, x\'00\')');
    const dest = join(dir, `copy '; .shell touch pwned; '.db`);
    await sqliteOnlineBackup(db, dest);
    assert.deepEqual(await integrityCheck(dest), { ok: true, messages: ['ok'] });
    assert.deepEqual((await readdir(dir)).sort(), [`a 'db' ?mode=memory.db`, `copy '; .shell touch pwned; '.db`]);
  });

  test('a lock held longer than the busy timeout: "database is locked", the file named, nothing left; an abort ends the wait at once', { timeout: 60_000 }, async () => {
    const db = await makeDb('delete');
    const locker = spawn('sqlite3', ['-batch', '-bail', '-init', '/dev/null', db], { stdio: ['pipe', 'pipe', 'ignore'] });
    children.push(locker);
    // The locker waits out any reader (its own busy timeout) and says when it holds the lock: without
    // both, a reader at the wrong moment made BEGIN fail and nothing held the lock.
    const locked = new Promise<void>((resolve, reject) => {
      let out = '';
      locker.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()).includes('locked') && resolve());
      locker.once('exit', (code) => reject(new Error(`the locking sqlite3 exited (${code}) before it held the lock`)));
    });
    locker.stdin!.write(".timeout 20000\nBEGIN EXCLUSIVE;\nSELECT 'locked';\n");
    await locked;

    const started = Date.now();
    const err = await sqliteOnlineBackup(db, `${fresh()}.db`, { busyTimeoutMs: 300 }).catch((e: Error) => e);
    assert.ok(err instanceof SqliteError, String(err));
    assert.match(err.message, new RegExp(`^sqlite3 on ${db}: .*database is locked`));
    assert.ok(Date.now() - started < 10_000);

    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('operator cancelled')), 300);
    const t0 = Date.now();
    await assert.rejects(sqliteOnlineBackup(db, `${fresh()}.db`, { signal: controller.signal }), (e: Error) => e instanceof AbortError && /operator cancelled/.test(e.message));
    assert.ok(Date.now() - t0 < 5_000, 'not the 10 s busy timeout');
    assert.deepEqual((await readdir(root)).filter((f) => f.startsWith('.sqlite-backup-')), []);
    locker.stdin!.end('COMMIT;\n');
  });
});

describe('integrityCheck', () => {
  test("a WAL-mode copy nobody has open is checked without making -wal or -shm beside it", async () => {
    const db = await makeDb('wal');
    const dest = join(await mkdtemp(join(root, 'alone-')), 'copy.db');
    await sqliteOnlineBackup(db, dest);
    assert.deepEqual(await integrityCheck(dest), { ok: true, messages: ['ok'] });
    assert.deepEqual(await readdir(join(dest, '..')), ['copy.db']);
  });

  test('damaged pages: not ok, with SQLite\'s findings', async () => {
    const db = await makeDb('delete');
    const copy = `${fresh()}.db`;
    await sqliteOnlineBackup(db, copy);
    const fh = await open(copy, 'r+');
    await fh.write(Buffer.alloc(4096), 0, 4096, 4096); // page 2, the first page of table t's b-tree
    await fh.close();
    const r = await integrityCheck(copy);
    assert.equal(r.ok, false);
    assert.ok(r.messages.some((m) => /^Page 2: /.test(m)), r.messages.slice(0, 3).join(' | '));
  });

  test('not a database, or missing: SqliteError naming the file', async () => {
    const junk = `${fresh()}.db`;
    await writeFile(junk, 'x'.repeat(4096));
    await assert.rejects(integrityCheck(junk), { name: 'SqliteError', message: `sqlite3 on ${junk}: in prepare, file is not a database (26)` });
    await assert.rejects(integrityCheck(`${junk}.missing`), { name: 'SqliteError', message: `sqlite3 on ${junk}.missing: no such file` });
  });
});
