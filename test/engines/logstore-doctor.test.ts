// The LevelDB/Pebble doctor on real stores: goleveldb and Pebble stores written by the engines
// (storectl), C++ LevelDB stores written by classic-level, damaged the way incidents leave them.
// Every verdict that says what the engine will do is checked against the engine itself, on a copy:
// "truncatable" means the copy cut back to validBytes opens with the keys the engine can serve.
// Healthy stores, tables, CURRENT and the marker, WALs, refusals; the MANIFEST's damage is in
// logstore-doctor-manifest.test.ts.
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { crc32c } from '@node-rs/crc32';
import { execa } from 'execa';
import { doctorLogStore } from '../../src/engines/logstore/doctor';
import { maskCrc, readVarint } from '../../src/engines/logstore/tables';
import { damageTableBlock, removeCurrent, stripCurrentNewline, tearWal } from '../helpers/log-store-damage';
import { codes, doctor, engineServes, engineStore, truncatedCopy } from '../helpers/logstore-doctor';
import { fingerprint, fresh, symlinkOut, useScratch, writeCppLevelDb, writeStore } from '../helpers/log-stores';

useScratch('logstore-doctor-');

/**
 * In the largest .ldb table, the index block's Snappy elements overwritten with 0xff (a copy from
 * 4 GiB back: never decodable) and its trailer's CRC made right again: a block whose checksum holds
 * but whose Snappy does not decode. Asserts the engine wrote the index block Snappy-compressed.
 */
async function undecodableSnappyIndex(dir: string): Promise<{ table: string; offset: number; size: number }> {
  const tables = [];
  for (const name of (await readdir(dir)).filter((n) => n.endsWith('.ldb'))) tables.push({ name, size: (await stat(join(dir, name))).size });
  const table = tables.sort((a, b) => b.size - a.size)[0]!.name;
  const path = join(dir, table);
  const bytes = await readFile(path);
  const footer = bytes.subarray(bytes.length - 48);
  assert.equal(footer.subarray(40).toString('hex'), '57fb808b247547db', `${table}: a LevelDB footer`);
  const metaSize = readVarint(footer, readVarint(footer, 0)![1])!;
  const offset = readVarint(footer, metaSize[1])!;
  const size = readVarint(footer, offset[1])![0];
  const start = offset[0];
  assert.equal(bytes[start + size], 1, `${table}: the index block is Snappy-compressed`);
  const header = readVarint(bytes, start)![1] - start;
  bytes.fill(0xff, start + header, start + size);
  bytes.writeUInt32LE(maskCrc(crc32c(bytes.subarray(start, start + size + 1))), start + size + 1);
  await writeFile(path, bytes);
  return { table, offset: start, size };
}

describe('healthy stores', () => {
  test('goleveldb: healthy, CURRENT ok, MANIFEST clean, every table live and sound, the journal live and clean', async () => {
    const dir = fresh();
    await writeStore('goleveldb', dir, { keys: 5000, tables: 3, walKeys: 500 });
    const d = await doctor('leveldb', dir);
    assert.deepEqual([d.engine, d.path, d.healthy, d.truncatable, d.findings], ['leveldb', dir, true, false, []]);
    assert.deepEqual([d.current.status, d.current.manifest], ['ok', 'MANIFEST-000000']);
    const m = d.manifest!;
    assert.deepEqual([m.status, m.validBytes === m.fileBytes, m.firstBadOffset, m.truncatable, m.missingAfterTruncate, m.comparator], ['clean', true, null, false, [], 'leveldb.BytewiseComparator']);
    assert.equal(m.records, 8, 'goleveldb: 2 records, then a flush and a compaction per table');
    assert.deepEqual(d.missingTables, []);
    assert.equal(d.tables.length, 3);
    assert.ok(d.tables.every((t) => t.status === 'ok' && t.live && t.format === 'leveldb' && t.size === t.expectedSize && t.dataBlocks! > 0), JSON.stringify(d.tables));
    assert.deepEqual(d.logs.map((l) => [l.status, l.live, l.headerFormat, l.number === m.logNumber]), [['clean', true, 'legacy', true]]);
  });

  test('Pebble: healthy via the manifest marker; WALs with recyclable headers, clean; the flushed ones kept but not live', async () => {
    const dir = fresh();
    await writeStore('pebble', dir, { keys: 5000, tables: 3, walKeys: 500 });
    const d = await doctor('pebble', dir);
    assert.deepEqual([d.healthy, d.findings], [true, []]);
    assert.deepEqual([d.current.status, d.current.manifest, d.current.formatMajorVersion], ['ok', 'MANIFEST-000001', 13]);
    assert.match(d.current.file, /^marker\.manifest\.\d{6}\.MANIFEST-000001$/);
    assert.equal(d.manifest!.status, 'clean');
    assert.deepEqual(d.missingTables, []);
    assert.ok(d.tables.length === 3 && d.tables.every((t) => t.status === 'ok' && t.live && /^pebble-v\d$/.test(t.format!) && t.dataBlocks! > 0), JSON.stringify(d.tables));
    const live = d.logs.filter((l) => l.live);
    assert.equal(live.length, 1);
    assert.deepEqual([live[0]!.status, live[0]!.headerFormat, live[0]!.number], ['clean', 'recyclable', d.manifest!.logNumber]);
    assert.equal(live[0]!.stoppedAt?.reason, 'eof-trailer', 'a cleanly closed Pebble WAL ends at its EOF trailer');
    assert.ok(d.logs.length > 1 && d.logs.every((l) => l.status === 'clean' && l.headerFormat === 'recyclable'));
  });

  test("Pebble's newest format: WAL-sync headers; columnar tables are checked at footer and index only, and say so", async () => {
    const dir = fresh();
    await writeStore('pebble', dir, { keys: 3000, tables: 2, walKeys: 100, pebbleFormat: 'newest' });
    const d = await doctor('pebble', dir);
    assert.deepEqual([d.healthy, d.findings], [true, []]);
    assert.equal(d.logs.find((l) => l.live)!.headerFormat, 'wal-sync');
    assert.ok(d.tables.every((t) => t.status === 'ok' && t.dataBlocks === 0 && /columnar index/.test(t.unchecked ?? '')), JSON.stringify(d.tables));
  });

  test('C++ LevelDB (classic-level): healthy, .ldb tables sound', async () => {
    const dir = fresh();
    await writeCppLevelDb(dir, 3000);
    const d = await doctor('leveldb', dir);
    assert.deepEqual([d.healthy, d.findings, d.manifest!.status, d.missingTables], [true, [], 'clean', []]);
    assert.ok(d.tables.length >= 1 && d.tables.every((t) => t.status === 'ok' && t.live && /\.ldb$/.test(t.file)));
  });

  test('progress per file checked, and an aborted signal stops it', async () => {
    const dir = fresh();
    await writeStore('goleveldb', dir, { keys: 2000, tables: 2, walKeys: 100 });
    const seen: Array<{ file: string; checked: number; of: number }> = [];
    await doctorLogStore('leveldb', dir, { onProgress: (p) => seen.push(p) });
    assert.deepEqual(seen.map((p) => p.checked), [1, 2, 3, 4]);
    assert.ok(seen.every((p) => p.of === 4));
    assert.equal(seen[0]!.file, 'MANIFEST-000000');
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    await assert.rejects(doctorLogStore('leveldb', dir, { signal: controller.signal }), { name: 'AbortError' });
  });
});
describe('tables', () => {
  for (const engine of ['goleveldb', 'pebble'] as const) {
    test(`${engine}: a damaged data block is a table-block-checksum finding naming the table and the block; the engine refuses to read it`, async () => {
      const dir = fresh();
      await writeStore(engine, dir, { keys: 4000, tables: 2, walKeys: 100 });
      const damage = await damageTableBlock(dir);
      const d = await doctor(engine === 'pebble' ? 'pebble' : 'leveldb', dir);
      const f = d.findings.find((x) => x.code === 'table-block-checksum')!;
      assert.deepEqual([f.file, f.offset, f.severity], [damage.table, damage.offset, 'error']);
      assert.match(f.message, new RegExp(`^${damage.table}.*data block at offset ${damage.offset}`));
      assert.equal(d.tables.find((t) => t.file === damage.table)!.status, 'bad-block');
      assert.deepEqual([d.healthy, d.truncatable], [false, false]);
      const asIs = await engineServes(engine, dir);
      assert.ok('error' in asIs && asIs.error.includes(damage.table.replace(/\.(ldb|sst)$/, '')), JSON.stringify(asIs));
    });
  }

  test('C++ LevelDB: a damaged block in an .ldb table is found too', async () => {
    const dir = fresh();
    await writeCppLevelDb(dir, 3000);
    const damage = await damageTableBlock(dir);
    const d = await doctor('leveldb', dir);
    assert.ok(d.findings.some((f) => f.code === 'table-block-checksum' && f.file === damage.table && f.offset === damage.offset));
  });

  for (const engine of ['goleveldb', 'cpp'] as const) {
    test(`${engine}: an index block whose checksum holds but whose Snappy does not decode is a table-index-block finding naming the table and the offset, not a crash`, async () => {
      const dir = engine === 'cpp' ? fresh() : (await engineStore('goleveldb', { keys: 3000, tables: 2, walKeys: 100 })).dir;
      if (engine === 'cpp') await writeCppLevelDb(dir, 3000);
      const damage = await undecodableSnappyIndex(dir);
      const d = await doctor('leveldb', dir);
      assert.deepEqual(codes(d), ['table-index-block'], JSON.stringify(d.findings));
      const f = d.findings[0]!;
      assert.deepEqual([f.file, f.offset, f.severity], [damage.table, damage.offset, 'error']);
      assert.match(f.message, new RegExp(`^${damage.table}.*: the index block at offset ${damage.offset} \\(${damage.size} bytes\\): undecodable Snappy \\(snappy: `));
      const t = d.tables.find((x) => x.file === damage.table)!;
      assert.deepEqual([t.status, t.dataBlocks, t.problems?.length], ['bad-block', 0, 1]);
      assert.ok(d.tables.filter((x) => x !== t).every((x) => x.status === 'ok' && x.dataBlocks! > 0), 'the other tables are still checked');
      // The engine cannot read the table either: goleveldb refuses, classic-level fails the iteration.
      const asIs = await engineServes(engine, dir).catch((err: Error) => ({ error: err.message }));
      assert.ok('error' in asIs && /corrupt/i.test(asIs.error), JSON.stringify(asIs));
    });
  }

  test('a live table removed: missing, listed in missingTables, with the level and size the MANIFEST records', async () => {
    const dir = fresh();
    await writeStore('goleveldb', dir, { keys: 3000, tables: 2, walKeys: 100 });
    const victim = (await readdir(dir)).filter((n) => n.endsWith('.ldb')).sort()[0]!;
    const size = (await stat(join(dir, victim))).size;
    await rm(join(dir, victim));
    const d = await doctor('leveldb', dir);
    assert.deepEqual(d.missingTables, [Number.parseInt(victim)]);
    const t = d.tables.find((x) => x.file === victim)!;
    assert.deepEqual([t.status, t.expectedSize, t.size], ['missing', size, null]);
    assert.deepEqual(codes(d), ['table-missing']);
  });
});

describe('CURRENT and the manifest marker', () => {
  test('goleveldb without CURRENT: a finding, and the newest MANIFEST is still read', async () => {
    const dir = fresh();
    await writeStore('goleveldb', dir, { keys: 1000, tables: 1, walKeys: 100 });
    await removeCurrent(dir);
    const d = await doctor('leveldb', dir);
    assert.deepEqual([d.current.status, d.healthy, d.truncatable, codes(d)], ['missing', false, false, ['current-missing']]);
    assert.deepEqual([d.manifest!.file, d.manifest!.chosenBy, d.manifest!.status], ['MANIFEST-000000', 'newest-on-disk', 'clean']);
    assert.match(d.findings[0]!.message, /CURRENT is missing.*the newest MANIFEST here is MANIFEST-000000/);
  });

  test('C++ LevelDB with CURRENT lacking its newline: a finding, and classic-level refuses as it says', async () => {
    const dir = fresh();
    await writeCppLevelDb(dir, 500);
    const named = await stripCurrentNewline(dir);
    const d = await doctor('leveldb', dir);
    assert.deepEqual([d.current.status, d.current.manifest, codes(d)], ['no-newline', named, ['current-no-newline']]);
    assert.equal(d.manifest!.file, named);
    const asIs = await engineServes('cpp', dir);
    assert.match('error' in asIs ? asIs.error : 'it opened', /CURRENT file does not end with newline/);
  });

  test('Pebble without its manifest marker: marker-missing; Pebble says there is no store', async () => {
    const dir = fresh();
    await writeStore('pebble', dir, { keys: 1000, tables: 1, walKeys: 100 });
    await removeCurrent(dir);
    const d = await doctor('pebble', dir);
    assert.deepEqual([d.current.status, codes(d), d.manifest!.chosenBy], ['missing', ['marker-missing'], 'newest-on-disk']);
    const asIs = await engineServes('pebble', dir);
    assert.match('error' in asIs ? asIs.error : 'it opened', /does not exist/);
  });
});

describe('WALs', () => {
  for (const engine of ['goleveldb', 'pebble'] as const) {
    test(`${engine}: a torn WAL is torn-tail at its last record, truncatable; cut back, the engine serves what it served as is`, async () => {
      const dir = fresh();
      await writeStore(engine, dir, { keys: 3000, tables: 1, walKeys: 1500, batchKeys: 500 });
      const tear = await tearWal(dir);
      const d = await doctor(engine === 'pebble' ? 'pebble' : 'leveldb', dir);
      const log = d.logs.find((l) => l.file === tear.file)!;
      assert.deepEqual([log.status, log.firstBadOffset, log.validBytes, log.records, log.live, log.truncatable], ['torn-tail', tear.recordOffset, tear.validBytes, tear.records, true, true]);
      assert.deepEqual([d.truncatable, codes(d)], [true, ['log-torn-tail']]);
      const asIs = await engineServes(engine, dir);
      assert.ok('keys' in asIs && asIs.keys === 2500, JSON.stringify(asIs));
      assert.deepEqual(await engineServes(engine, await truncatedCopy(dir, log.file, log.validBytes)), asIs);
    });
  }
});

describe('refusals: clear errors, nothing touched', () => {
  test('not a store, a file, no such path, or the other engine', async () => {
    const empty = fresh();
    await mkdir(empty);
    await writeFile(join(empty, 'notes.txt'), 'hello');
    const before = await fingerprint(empty);
    await assert.rejects(doctorLogStore('leveldb', empty), { message: `${empty}: not a LevelDB/Pebble store: no CURRENT, no marker.manifest.*, no MANIFEST-*` });
    assert.equal(await fingerprint(empty), before);
    await assert.rejects(doctorLogStore('pebble', join(empty, 'notes.txt')), /notes\.txt: not a directory/);
    await assert.rejects(doctorLogStore('leveldb', join(empty, 'nope')), /nope: no such directory/);
    const pebble = fresh();
    await writeStore('pebble', pebble, { keys: 10 });
    await assert.rejects(doctorLogStore('leveldb', pebble), /a Pebble store \(marker\.manifest\.\d+\.MANIFEST-\d+, no CURRENT\): run doctor pebble/);
    const level = fresh();
    await writeStore('goleveldb', level, { keys: 10 });
    await assert.rejects(doctorLogStore('pebble', level), /a LevelDB store \(CURRENT, no marker\.manifest\.\*\): run doctor leveldb/);
  });

  test('a symlinked CURRENT or MANIFEST is refused, not followed; the store and the link target are unchanged', async () => {
    const dir = fresh();
    await writeStore('goleveldb', dir, { keys: 500 });
    const outside = fresh();
    await mkdir(outside);
    await symlinkOut(dir, 'CURRENT', outside);
    const [inside, there] = [await fingerprint(dir), await fingerprint(outside)];
    await assert.rejects(doctorLogStore('leveldb', dir), { message: `${join(dir, 'CURRENT')} is a symlink; refusing to follow it (a store's CURRENT is a plain file)` });
    assert.deepEqual([await fingerprint(dir), await fingerprint(outside)], [inside, there]);

    const dir2 = fresh();
    await writeStore('goleveldb', dir2, { keys: 500 });
    await symlinkOut(dir2, 'MANIFEST-000000', outside);
    await assert.rejects(doctorLogStore('leveldb', dir2), /MANIFEST-000000 is a symlink; refusing to follow it/);
  });

  test('a symlinked table or WAL is a finding, never read; a FIFO named like a WAL too (no hang)', async () => {
    const dir = fresh();
    await writeStore('goleveldb', dir, { keys: 2000, tables: 1, walKeys: 100 });
    const outside = fresh();
    await mkdir(outside);
    const table = (await readdir(dir)).find((n) => n.endsWith('.ldb'))!;
    const wal = (await readdir(dir)).find((n) => n.endsWith('.log'))!;
    for (const name of [table, wal]) await symlinkOut(dir, name, outside);
    await execa('mkfifo', [join(dir, '999999.log')]);
    const d = await doctor('leveldb', dir);
    assert.deepEqual(d.findings.filter((f) => f.code === 'symlink').map((f) => f.file).sort(), [wal, table].sort());
    assert.deepEqual(d.findings.filter((f) => f.code === 'not-a-file').map((f) => f.file), ['999999.log']);
    assert.equal(d.tables.find((t) => t.file === table)!.status, 'symlink');
    assert.ok(!d.logs.some((l) => l.file === wal));
    assert.equal(d.healthy, false);
  });
});
