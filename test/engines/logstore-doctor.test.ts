// The LevelDB/Pebble doctor on real stores: goleveldb and Pebble stores written by the engines
// (storectl), C++ LevelDB stores written by classic-level, damaged the way incidents leave them.
// Every verdict that says what the engine will do is checked against the engine itself, on a copy:
// "truncatable" means the copy cut back to validBytes opens with the keys the engine can serve.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cp, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rename, rm, stat, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { crc32c } from '@node-rs/crc32';
import { ClassicLevel } from 'classic-level';
import { execa } from 'execa';
import { doctorLogStore, type LogStoreDiagnosis } from '../../src/engines/logstore/doctor';
import { scanStore, StoreOpenError, type StoreEngine } from '../../src/engines/logstore/storectl';
import { maskCrc, readVarint } from '../../src/engines/logstore/tables';
import { appendTornRecord, damageTableBlock, flipManifestByte, logRecords, removeCurrent, shortPayloadRecord, stripCurrentNewline, tearLastManifestRecord, tearWal } from '../helpers/log-store-damage';
import { digestOf, keyOf, valueOf, writeCppLevelDb, writeStore } from '../helpers/log-stores';

let work: string;
let seq = 0;
const fresh = () => join(work, `s${++seq}`);

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'logstore-doctor-'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Every entry's name, type, size, mtime and content hash (a symlink: its target), and the dir's mtime. */
async function fingerprint(dir: string): Promise<string> {
  const lines = [`. ${(await stat(dir, { bigint: true })).mtimeNs}`];
  for (const name of (await readdir(dir)).sort()) {
    const path = join(dir, name);
    const s = await lstat(path, { bigint: true });
    const what = s.isSymbolicLink() ? `-> ${await readlink(path)}` : s.isFile() ? createHash('sha256').update(await readFile(path)).digest('hex') : '-';
    lines.push(`${name} ${s.mode} ${s.size} ${s.mtimeNs} ${what}`);
  }
  return lines.join('\n');
}

/** The doctor, asserting it changed nothing in the store. */
async function doctor(engine: 'leveldb' | 'pebble', dir: string): Promise<LogStoreDiagnosis> {
  const before = await fingerprint(dir);
  const d = await doctorLogStore(engine, dir);
  assert.equal(await fingerprint(dir), before, 'the doctor changed the store');
  assert.deepEqual(JSON.parse(JSON.stringify(d)), d, 'the diagnosis is plain JSON');
  return d;
}

async function copyOf(dir: string): Promise<string> {
  const to = fresh();
  await cp(dir, to, { recursive: true, verbatimSymlinks: true });
  return to;
}

/** A copy of the store with `file` cut back to `size` bytes: what a truncation repair leaves. */
async function truncatedCopy(dir: string, file: string, size: number): Promise<string> {
  const copy = await copyOf(dir);
  await truncate(join(copy, file), size);
  return copy;
}

type Outcome = { keys: number; digest: string } | { error: string };

/** What the real engine serves from (a copy of) `dir`: goleveldb/Pebble via storectl scan, C++ LevelDB via classic-level. */
async function engineServes(engine: StoreEngine | 'cpp', dir: string): Promise<Outcome> {
  if (engine !== 'cpp') {
    try {
      const { keys, digest } = await scanStore(engine, dir);
      return { keys, digest };
    } catch (err) {
      if (err instanceof StoreOpenError) return { error: err.engineMessage };
      throw err;
    }
  }
  const copy = await copyOf(dir); // classic-level writes at open: never on the store under test
  const db = new ClassicLevel<string, Buffer>(copy, { createIfMissing: false, keyEncoding: 'utf8', valueEncoding: 'buffer' });
  try {
    await db.open();
  } catch (err) {
    return { error: ((err as Error).cause as Error | undefined)?.message ?? (err as Error).message };
  }
  try {
    const pairs: Array<[string, Buffer]> = [];
    for await (const [k, v] of db.iterator()) pairs.push([k, v]);
    return { keys: pairs.length, digest: digestOf(pairs) };
  } finally {
    await db.close();
  }
}

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

const codes = (d: LogStoreDiagnosis) => d.findings.filter((f) => f.severity !== 'info').map((f) => f.code);

/** A C++ LevelDB store (writeCppLevelDb), then opened once more to write `extra` keys and force one memtable flush. */
async function cppStoreWithFlush(keys: number, extra: number): Promise<{ dir: string; keys: number; digest: string }> {
  const dir = fresh();
  await writeCppLevelDb(dir, keys);
  const db = new ClassicLevel<string, Buffer>(dir, { createIfMissing: false, keyEncoding: 'utf8', valueEncoding: 'buffer' });
  await db.open();
  if (extra) await db.batch(Array.from({ length: extra }, (_, i) => ({ type: 'put' as const, key: keyOf(keys + i), value: valueOf(keys + i) })));
  // CompactRange first flushes the memtable (a MANIFEST record: its table, a new log number), then
  // compacts what overlaps the range: nothing does, so that flush stays the last record.
  await db.compactRange('zzz0', 'zzz9');
  await db.close();
  const all = Array.from({ length: keys + extra }, (_, i): [string, Buffer] => [keyOf(i), valueOf(i)]);
  return { dir, keys: keys + extra, digest: digestOf(all) };
}

async function engineStore(engine: StoreEngine, opts: Parameters<typeof writeStore>[2]): Promise<{ dir: string; keys: number; digest: string }> {
  const dir = fresh();
  return { dir, ...(await writeStore(engine, dir, opts)) };
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

describe('a torn MANIFEST: the last record cut mid-way', () => {
  test('Pebble, many records: torn-tail at exactly the cut record, truncatable; cut back, Pebble opens with every key', async () => {
    const dir = fresh();
    const written = await writeStore('pebble', dir, { keys: 5000, tables: 3, walKeys: 500 });
    const tear = await tearLastManifestRecord(dir);
    assert.ok(tear.records >= 3);
    const d = await doctor('pebble', dir);
    const m = d.manifest!;
    assert.deepEqual([m.file, m.status, m.firstBadOffset, m.validBytes, m.fileBytes, m.records], [tear.manifest, 'torn-tail', tear.recordOffset, tear.validBytes, tear.cutAt, tear.records]);
    assert.deepEqual([m.truncatable, m.missingAfterTruncate, d.truncatable, d.healthy, codes(d)], [true, [], true, false, ['manifest-torn-tail']]);
    const f = d.findings.find((x) => x.code === 'manifest-torn-tail')!;
    assert.equal(f.offset, tear.recordOffset);
    assert.match(f.message, new RegExp(`^${m.file}: the last record \\(offset ${tear.recordOffset}, ${tear.cutAt - tear.recordOffset} bytes to EOF\\) is torn: a crash while appending; truncating to ${m.validBytes} keeps a MANIFEST the engine opens`));
    // The table the torn flush wrote is not in the version yet; its WAL is still here to replay.
    assert.deepEqual(d.tables.filter((t) => !t.live).map((t) => t.status), ['unreferenced']);
    assert.deepEqual(await engineServes('pebble', await truncatedCopy(dir, m.file, m.validBytes)), written);
  });

  test('C++ LevelDB, 3 records (the last a log switch): torn-tail, truncatable; cut back, classic-level opens with every key', async () => {
    const store = await cppStoreWithFlush(3000, 0);
    const tear = await tearLastManifestRecord(store.dir);
    const d = await doctor('leveldb', store.dir);
    const m = d.manifest!;
    assert.deepEqual([m.status, m.firstBadOffset, m.validBytes, m.truncatable, d.truncatable, codes(d)], ['torn-tail', tear.recordOffset, tear.validBytes, true, true, ['manifest-torn-tail']]);
    assert.deepEqual(await engineServes('cpp', await truncatedCopy(store.dir, m.file, m.validBytes)), { keys: store.keys, digest: store.digest });
  });

  test('goleveldb, fresh (2 records, T=0): the first record alone is a whole state, so truncatable; cut back, every key', async () => {
    const dir = fresh();
    const written = await writeStore('goleveldb', dir, { keys: 300 });
    const tear = await tearLastManifestRecord(dir);
    assert.equal(tear.records, 1);
    const d = await doctor('leveldb', dir);
    const m = d.manifest!;
    assert.deepEqual([m.status, m.firstBadOffset, m.validBytes, m.missingAfterTruncate, m.truncatable, d.truncatable], ['torn-tail', tear.recordOffset, tear.validBytes, [], true, true]);
    assert.deepEqual(await engineServes('goleveldb', await truncatedCopy(dir, m.file, m.validBytes)), written);
  });

  test('C++ LevelDB, fresh (2 records): the cut MANIFEST lacks the next-file number: not truncatable, and classic-level refuses it', async () => {
    const dir = fresh();
    await writeCppLevelDb(dir, 200);
    const tear = await tearLastManifestRecord(dir);
    assert.equal(tear.records, 1);
    const d = await doctor('leveldb', dir);
    const m = d.manifest!;
    assert.equal(m.status, 'torn-tail');
    assert.ok(m.missingAfterTruncate.includes('nextFileNumber'), String(m.missingAfterTruncate));
    assert.deepEqual([m.truncatable, d.truncatable], [false, false]);
    assert.match(d.findings[0]!.message, /no meta-nextfile entry in descriptor/);
    const cut = await engineServes('cpp', await truncatedCopy(dir, m.file, m.validBytes));
    assert.match('error' in cut ? cut.error : 'it opened', /no meta-nextfile entry in descriptor/);
  });

  test('goleveldb, many records: the torn record was a compaction whose input is gone: table missing, not truncatable; goleveldb refuses the cut copy', async () => {
    const dir = fresh();
    await writeStore('goleveldb', dir, { keys: 5000, tables: 3, walKeys: 500 });
    const tear = await tearLastManifestRecord(dir);
    const d = await doctor('leveldb', dir);
    const m = d.manifest!;
    assert.deepEqual([m.status, m.firstBadOffset, m.validBytes, m.missingAfterTruncate, m.truncatable], ['torn-tail', tear.recordOffset, tear.validBytes, [], true]);
    assert.equal(d.missingTables.length, 1);
    const missing = d.tables.find((t) => t.status === 'missing')!;
    assert.deepEqual([missing.number, missing.live, missing.level], [d.missingTables[0], true, 0]);
    assert.deepEqual([d.truncatable, codes(d).sort()], [false, ['manifest-torn-tail', 'table-missing']]);
    assert.match(d.findings[0]!.message, /keeps a well-formed MANIFEST \(\d+ complete records\), but the version it describes lacks 1 table \(table-missing\), so the engine still refuses it/);
    const cut = await engineServes('goleveldb', await truncatedCopy(dir, m.file, m.validBytes));
    assert.match('error' in cut ? cut.error : 'it opened', new RegExp(`0*${missing.number}\\.(sst|ldb)`));
  });

  test('C++ LevelDB, the torn record a flush whose WAL is deleted: the doctor says its keys would be lost, and they are', async () => {
    const store = await cppStoreWithFlush(2000, 500);
    await tearLastManifestRecord(store.dir);
    const d = await doctor('leveldb', store.dir);
    const m = d.manifest!;
    assert.deepEqual([m.status, m.truncatable, d.truncatable], ['torn-tail', false, false]);
    const loses = d.findings.find((f) => f.code === 'manifest-truncate-loses-tables')!;
    const orphan = d.tables.find((t) => t.status === 'unreferenced')!;
    assert.match(loses.message, new RegExp(`do not list ${orphan.file}, written by the torn record`));
    const cut = await engineServes('cpp', await truncatedCopy(store.dir, m.file, m.validBytes));
    assert.ok('keys' in cut && cut.keys === store.keys - 500, JSON.stringify(cut));
  });
});

describe('a crash while appending to the MANIFEST: a partial record after the committed ones', () => {
  for (const engine of ['goleveldb', 'pebble', 'cpp'] as const) {
    test(`${engine}: torn-tail at the old end, truncatable; the engine serves every key, as it is and cut back`, async () => {
      const store = engine === 'cpp' ? await cppStoreWithFlush(2000, 500) : await engineStore(engine, { keys: 5000, tables: 3, walKeys: 500 });
      const written = { keys: store.keys, digest: store.digest };
      const tear = await appendTornRecord(store.dir);
      assert.ok(tear.records >= 3, `${tear.records} records`);
      const d = await doctor(engine === 'pebble' ? 'pebble' : 'leveldb', store.dir);
      const m = d.manifest!;
      assert.deepEqual([m.status, m.firstBadOffset, m.validBytes, m.fileBytes, m.records], ['torn-tail', tear.recordOffset, tear.validBytes, tear.cutAt, tear.records]);
      assert.deepEqual([m.truncatable, d.truncatable, codes(d), d.missingTables], [true, true, ['manifest-torn-tail'], []]);
      const asIs = await engineServes(engine, store.dir);
      assert.deepEqual(asIs, written, 'the engines read a torn last record as the end of the MANIFEST');
      assert.deepEqual(await engineServes(engine, await truncatedCopy(store.dir, m.file, m.validBytes)), written);
    });
  }
});

describe('a damaged MANIFEST that is not a torn tail', () => {
  test('a flipped byte in an earlier record: corrupt at that record, checksum, valid records after it, not truncatable', async () => {
    const dir = fresh();
    await writeStore('goleveldb', dir, { keys: 3000, tables: 2, walKeys: 100 });
    const flip = await flipManifestByte(dir, 2);
    const d = await doctor('leveldb', dir);
    const m = d.manifest!;
    assert.deepEqual([m.status, m.firstBadOffset, m.corruption?.kind, m.validRecordsAfter, m.truncatable, d.truncatable], ['corrupt', flip.offset, 'checksum', true, false, false]);
    assert.equal(m.validBytes, (await logRecords(join(dir, m.file))).at(-1)!.end);
    assert.deepEqual(codes(d), ['manifest-corrupt']);
    assert.match(d.findings[0]!.message, /damage in the middle, not a crash while appending/);
  });

  test('C++ LevelDB: the same flip, and classic-level refuses with a checksum mismatch as the finding says', async () => {
    const store = await cppStoreWithFlush(1000, 100);
    const flip = await flipManifestByte(store.dir, 1);
    const d = await doctor('leveldb', store.dir);
    assert.deepEqual([d.manifest!.status, d.manifest!.firstBadOffset, d.manifest!.validRecordsAfter], ['corrupt', flip.offset, true]);
    const asIs = await engineServes('cpp', store.dir);
    assert.match('error' in asIs ? asIs.error : 'it opened', /checksum mismatch/);
  });

  test('seed 004: a complete record with a valid checksum whose VersionEdit is one byte short is corrupt (version-edit), not a torn tail; Pebble refuses it', async () => {
    const dir = fresh();
    await writeStore('pebble', dir, { keys: 3000, tables: 2, walKeys: 100 });
    const short = await shortPayloadRecord(dir);
    const d = await doctor('pebble', dir);
    const m = d.manifest!;
    assert.deepEqual([m.status, m.firstBadOffset, m.corruption?.kind, m.truncatable, d.truncatable], ['corrupt', short.offset, 'version-edit', false, false]);
    assert.notEqual(m.status, 'torn-tail');
    assert.match(d.findings[0]!.message, /complete and its checksum is valid, but its VersionEdit does not decode/);
    const asIs = await engineServes('pebble', dir);
    assert.match('error' in asIs ? asIs.error : 'it opened', /pebble: corrupt manifest/);
  });

  test('seed 004 on C++ LevelDB: the same verdict, and classic-level says "VersionEdit: new-file entry"', async () => {
    const store = await cppStoreWithFlush(1000, 100);
    const short = await shortPayloadRecord(store.dir);
    const d = await doctor('leveldb', store.dir);
    assert.deepEqual([d.manifest!.status, d.manifest!.firstBadOffset, d.manifest!.corruption?.kind], ['corrupt', short.offset, 'version-edit']);
    const asIs = await engineServes('cpp', store.dir);
    assert.match('error' in asIs ? asIs.error : 'it opened', /VersionEdit/);
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
    await rename(join(dir, 'CURRENT'), join(outside, 'CURRENT'));
    await symlink(join(outside, 'CURRENT'), join(dir, 'CURRENT'));
    const [inside, there] = [await fingerprint(dir), await fingerprint(outside)];
    await assert.rejects(doctorLogStore('leveldb', dir), { message: `${join(dir, 'CURRENT')} is a symlink; refusing to follow it (a store's CURRENT is a plain file)` });
    assert.deepEqual([await fingerprint(dir), await fingerprint(outside)], [inside, there]);

    const dir2 = fresh();
    await writeStore('goleveldb', dir2, { keys: 500 });
    await rename(join(dir2, 'MANIFEST-000000'), join(outside, 'MANIFEST-000000'));
    await symlink(join(outside, 'MANIFEST-000000'), join(dir2, 'MANIFEST-000000'));
    await assert.rejects(doctorLogStore('leveldb', dir2), /MANIFEST-000000 is a symlink; refusing to follow it/);
  });

  test('a symlinked table or WAL is a finding, never read; a FIFO named like a WAL too (no hang)', async () => {
    const dir = fresh();
    await writeStore('goleveldb', dir, { keys: 2000, tables: 1, walKeys: 100 });
    const outside = fresh();
    await mkdir(outside);
    const table = (await readdir(dir)).find((n) => n.endsWith('.ldb'))!;
    const wal = (await readdir(dir)).find((n) => n.endsWith('.log'))!;
    for (const name of [table, wal]) {
      await rename(join(dir, name), join(outside, name));
      await symlink(join(outside, name), join(dir, name));
    }
    await execa('mkfifo', [join(dir, '999999.log')]);
    const d = await doctor('leveldb', dir);
    assert.deepEqual(d.findings.filter((f) => f.code === 'symlink').map((f) => f.file).sort(), [wal, table].sort());
    assert.deepEqual(d.findings.filter((f) => f.code === 'not-a-file').map((f) => f.file), ['999999.log']);
    assert.equal(d.tables.find((t) => t.file === table)!.status, 'symlink');
    assert.ok(!d.logs.some((l) => l.file === wal));
    assert.equal(d.healthy, false);
  });
});
