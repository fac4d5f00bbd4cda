// storectl against real stores: goleveldb and Pebble stores written by the engines, C++ LevelDB
// stores written by classic-level, and the same stores with a damaged table block. What is asserted
// is what the engines do (measured, then pinned as relations that follow from goleveldb's rules).
import assert from 'node:assert/strict';
import { cp, mkdir, open, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { recoverStore, scanStore, storectlPath, StoreOpenError, type RecoveredTable, type StoreEngine } from '../../src/engines/logstore/storectl';
import { fingerprint, fresh, useScratch, writeCppLevelDb, writeStore } from '../helpers/log-stores';

useScratch('storectl-');

const files = async (dir: string, ext: string) => (await readdir(dir)).filter((n) => n.endsWith(ext)).sort();

/** Flips one byte in the middle of `path`. */
async function flipMiddleByte(path: string): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    const { size } = await fh.stat();
    const at = Math.floor(size / 2);
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, at);
    b[0] = b[0]! ^ 0xff;
    await fh.write(b, 0, 1, at);
  } finally {
    await fh.close();
  }
}

async function rejectsOpen(p: Promise<unknown>, dir: string, corrupted: boolean, message?: RegExp): Promise<StoreOpenError> {
  let caught: unknown;
  await p.catch((err: unknown) => (caught = err));
  assert.ok(caught instanceof StoreOpenError, `expected StoreOpenError, got ${String(caught)}`);
  assert.equal(caught.name, 'StoreOpenError');
  assert.ok(caught.message.startsWith(`${dir}: `), caught.message);
  assert.equal(caught.corrupted, corrupted, caught.message);
  if (message) assert.match(caught.message, message);
  return caught;
}

describe('storectl write and scan', () => {
  for (const engine of ['goleveldb', 'pebble'] as StoreEngine[]) {
    test(`${engine}: scan gives the count and digest written, with tables and WAL keys, and all in the WAL`, async () => {
      const dir = fresh();
      const written = await writeStore(engine, dir, { keys: 1000, tables: 3, walKeys: 100 });
      assert.equal(written.keys, 1000);
      assert.deepEqual(await scanStore(engine, dir), { engine, ...written });
      assert.equal((await files(dir, engine === 'goleveldb' ? '.ldb' : '.sst')).length, 3, 'one table file per flush');
      assert.ok((await files(dir, '.log')).length >= 1);

      const walOnly = fresh();
      const w = await writeStore(engine, walOnly, { keys: 1000, tables: 0 });
      assert.deepEqual(w, written, 'the same pairs give the same digest, however they are stored');
      assert.deepEqual(await scanStore(engine, walOnly), { engine, ...w });
      assert.deepEqual(await files(walOnly, engine === 'goleveldb' ? '.ldb' : '.sst'), []);
    });
  }

  test('scan leaves the directory exactly as it was: goleveldb and Pebble, with and without LOCK, and an empty one', async () => {
    for (const engine of ['goleveldb', 'pebble'] as StoreEngine[]) {
      const dir = fresh();
      await writeStore(engine, dir, { keys: 500, tables: 2, walKeys: 50 });
      const before = await fingerprint(dir);
      await scanStore(engine, dir);
      assert.equal(await fingerprint(dir), before, `${engine}: scan changed the store`);

      // Both engines' read-only opens would create a missing LOCK file; storectl must not.
      await rm(join(dir, 'LOCK'));
      const noLock = await fingerprint(dir);
      await scanStore(engine, dir);
      assert.equal(await fingerprint(dir), noLock, `${engine}: scan without LOCK changed the store`);

      const empty = fresh();
      await mkdir(empty);
      const emptyBefore = await fingerprint(empty);
      await rejectsOpen(scanStore(engine, empty), empty, false);
      assert.equal(await fingerprint(empty), emptyBefore, `${engine}: scan of an empty directory left something in it`);
    }
  });

  test('not a store: StoreOpenError naming the directory, not corruption', async () => {
    const missing = fresh();
    await rejectsOpen(scanStore('goleveldb', missing), missing, false, /no such file or directory/);
    await rejectsOpen(scanStore('pebble', missing), missing, false, /does not exist/);
    const notDir = fresh();
    await writeFile(notDir, 'x');
    await rejectsOpen(scanStore('goleveldb', notDir), notDir, false, /not a directory/);
    // A goleveldb store is not a Pebble store: Pebble v2 refuses its CURRENT-based format, not as corruption.
    const level = fresh();
    await writeStore('goleveldb', level, { keys: 10 });
    await rejectsOpen(scanStore('pebble', level), level, false, /format major version 1, which is no longer supported/);
  });

  test('C++ LevelDB (classic-level): a table and a log, and goleveldb reads the same pairs storectl writes', async () => {
    const dir = fresh();
    const cpp = await writeCppLevelDb(dir, 400);
    assert.equal((await files(dir, '.ldb')).length, 1, 'the first half went into a table at the reopen');
    assert.ok((await stat(join(dir, (await files(dir, '.log'))[0]!))).size > 0, 'the second half is in the log');
    const go = await writeStore('goleveldb', fresh(), { keys: 400 });
    assert.deepEqual(cpp, go);
    assert.deepEqual(await scanStore('goleveldb', dir), { engine: 'goleveldb', ...cpp });
  });

  test('goleveldb fresh MANIFEST: two FULL records; with the second torn the store still opens whole', async () => {
    const dir = fresh();
    const written = await writeStore('goleveldb', dir, { keys: 10 });
    const bytes = await readFile(join(dir, 'MANIFEST-000000'));
    const first = bytes.readUInt16LE(4);
    assert.equal(bytes[6], 1, 'record 1 is a FULL chunk');
    assert.equal(bytes[7 + first + 6], 1, 'record 2 is a FULL chunk');
    assert.equal(bytes.length, 7 + first + 7 + bytes.readUInt16LE(7 + first + 4), 'and nothing follows');
    // Record 1 (comparator, logNumber 0, nextFileNumber 1, lastSequence 0) is a whole state on its own.
    await truncate(join(dir, 'MANIFEST-000000'), 7 + first + 7 + 2);
    assert.deepEqual(await scanStore('goleveldb', dir), { engine: 'goleveldb', ...written });
  });

  test('Pebble WAL keys are in a WAL with recyclable chunk headers naming its file number', async () => {
    const dir = fresh();
    await writeStore('pebble', dir, { keys: 300, tables: 2, walKeys: 40, batchKeys: 10 });
    const logs = await files(dir, '.log');
    const withRecords = [];
    for (const name of logs) {
      const head = (await readFile(join(dir, name))).subarray(0, 11);
      const type = head[6]!;
      assert.ok(type >= 5 && type <= 8, `${name}: chunk type ${type} is recyclable`);
      if (head.readUInt16LE(4) > 0) {
        assert.equal(head.readUInt32LE(7), Number.parseInt(name, 10), `${name}: logNum`);
        withRecords.push(name);
      }
    }
    assert.ok(withRecords.length >= 1, `a WAL with records among ${logs.join(', ')}`);
  });

  test('an aborted signal stops the scan with AbortError', async () => {
    const dir = fresh();
    await writeStore('goleveldb', dir, { keys: 10 });
    const ac = new AbortController();
    ac.abort(new Error('run cancelled'));
    await assert.rejects(scanStore('goleveldb', dir, { signal: ac.signal }), { name: 'AbortError' });
  });

  test('a usage error is a plain Error (a bug in the caller), never a verdict on the store', async () => {
    const dir = fresh();
    await assert.rejects(writeStore('goleveldb', dir, { keys: 10, walKeys: 11, tables: 1 }), (err: Error) => {
      assert.ok(!(err instanceof StoreOpenError));
      assert.match(err.message, /failed \(2\): storectl: write: --wal-keys must not exceed --keys/);
      return true;
    });
  });

  test('storectlPath: STORECTL first, and a clear error when the binary is not there', () => {
    const saved = process.env.STORECTL;
    try {
      process.env.STORECTL = join(fresh(), 'no-storectl');
      assert.throws(() => storectlPath(), /storectl is not built: .*no-storectl does not exist; run npm test or npm start once to build it/);
    } finally {
      if (saved === undefined) delete process.env.STORECTL;
      else process.env.STORECTL = saved;
    }
  });
});

describe('a damaged table block', () => {
  const N = 2000;
  let damaged: string;
  let victim: string;

  before(async () => {
    damaged = fresh();
    await writeStore('goleveldb', damaged, { keys: N, tables: 4, noCompression: true });
    victim = (await files(damaged, '.ldb'))[1]!;
    await flipMiddleByte(join(damaged, victim));
  });

  const copy = async () => {
    const dir = fresh();
    await cp(damaged, dir, { recursive: true });
    return dir;
  };
  const row = (tables: RecoveredTable[]) => tables.find((t) => t.file === victim)!;
  const survivors = (tables: RecoveredTable[]) => tables.filter((t) => t.action !== 'dropped').reduce((n, t) => n + t.goodKeys, 0);

  test('scan: goleveldb refuses to iterate, as corruption, naming the table', async () => {
    await rejectsOpen(scanStore('goleveldb', damaged), damaged, true, new RegExp(`checksum mismatch.*${victim}`));
  });

  test('recover --strict drops the table; recover rebuilds it with its good keys; scans agree with tables[]', async () => {
    const strictDir = await copy();
    const strict = (await recoverStore(strictDir, { strict: true })).tables;
    assert.equal(strict.length, 4);
    assert.ok(row(strict).corruptedBlocks >= 1);
    assert.equal(row(strict).action, 'dropped');
    for (const t of strict.filter((t) => t.file !== victim)) assert.deepEqual([t.action, t.corruptedBlocks, t.corruptedKeys], ['kept', 0, 0]);
    assert.equal((await files(strictDir, '.ldb')).includes(victim), false, 'Recover deletes a dropped table');
    const strictScan = await scanStore('goleveldb', strictDir);
    assert.equal(strictScan.keys, survivors(strict));

    const rebuildDir = await copy();
    const rebuild = (await recoverStore(rebuildDir, { strict: false })).tables;
    assert.deepEqual(
      rebuild.map((t) => ({ ...t, action: undefined })),
      strict.map((t) => ({ ...t, action: undefined })),
      'both read the tables the same way',
    );
    assert.equal(row(rebuild).action, 'rebuilt');
    assert.ok(row(rebuild).goodKeys > 0);
    const rebuildScan = await scanStore('goleveldb', rebuildDir);
    assert.equal(rebuildScan.keys, survivors(rebuild));
    // The block the checksum refused is lost; the rest of the table is kept.
    assert.ok(strictScan.keys < rebuildScan.keys && rebuildScan.keys < N, `${strictScan.keys} < ${rebuildScan.keys} < ${N}`);
  });

  test('recover --ignore-checksums counts what still decodes, and leaves a table it found no fault in as it is', async () => {
    const dir = await copy();
    const salvage = (await recoverStore(dir, { strict: false, ignoreChecksums: true })).tables;
    const rebuilt = row((await recoverStore(await copy(), { strict: false })).tables);
    assert.ok(row(salvage).goodKeys >= rebuilt.goodKeys, 'no checksum check: at least the keys of the blocks that passed it');
    if (row(salvage).action === 'kept') {
      // The flipped byte decoded (an uncompressed value byte): NoStrict saw no fault, so Recover kept
      // the table unchanged, and a scan with the default strictness still fails on its checksum.
      assert.equal(row(salvage).goodKeys, N / 4);
      await rejectsOpen(scanStore('goleveldb', dir), dir, true, /checksum mismatch/);
    }
  });

  test('Pebble: a flipped byte in an sstable block is corruption to the iterator', async () => {
    const dir = fresh();
    await writeStore('pebble', dir, { keys: N, tables: 4, noCompression: true });
    const sst = (await files(dir, '.sst'))[1]!;
    await flipMiddleByte(join(dir, sst));
    await rejectsOpen(scanStore('pebble', dir), dir, true, new RegExp(`checksum mismatch.*${sst}`));
  });
});
