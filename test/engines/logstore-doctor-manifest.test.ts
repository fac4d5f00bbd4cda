// The LevelDB/Pebble doctor on damaged MANIFESTs: a torn last record, a crash while appending, damage
// in the middle. Each verdict is checked against the engine itself on a copy: "truncatable" means
// the copy cut back to validBytes opens with every key (see logstore-doctor.test.ts for the rest).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ClassicLevel } from 'classic-level';
import { appendTornRecord, flipManifestByte, logRecords, shortPayloadRecord, tearLastManifestRecord } from '../helpers/log-store-damage';
import { codes, doctor, engineServes, engineStore, truncatedCopy } from '../helpers/logstore-doctor';
import { digestOf, fresh, keyOf, useScratch, valueOf, writeCppLevelDb, writeStore } from '../helpers/log-stores';

useScratch('logstore-doctor-manifest-');

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
