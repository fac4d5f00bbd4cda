// VersionEdit payloads and MANIFEST replay on forged bytes: every LevelDB tag both ways, Pebble's
// table encodings, short payloads and unknown tags as corruption (never EOF), and what a MANIFEST
// cut at its last complete record still holds for each engine.
import assert from 'node:assert/strict';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { encodeLog } from '../../src/format/logstore/records';
import { putUvarint } from '../../src/format/logstore/payload';
import { PEBBLE_TAG, TAG, VersionEditError, decodeVersionEdit, replayManifest, replayManifestBytes } from '../../src/format/logstore/version-edit';
import { encodeVersionEdit, type EncodableEdit } from '../../src/format/logstore/version-edit-encode';

/** An internal key: user key + 8-byte trailer (seq << 8 | kind). */
const ikey = (user: string, seq = 1) => {
  const b = Buffer.alloc(user.length + 8);
  b.write(user);
  b.writeBigUInt64LE((BigInt(seq) << 8n) | 1n, user.length);
  return b;
};
/** A single byte written as is (raw() length-prefixes Buffers and varint-encodes numbers). */
const byte = (b: number) => ({ byte: b });
const raw = (...parts: Array<number | bigint | Buffer | { byte: number }>) => {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === 'object' && 'byte' in p) out.push(p.byte);
    else if (Buffer.isBuffer(p)) {
      putUvarint(out, p.length);
      out.push(...p);
    } else putUvarint(out, p);
  }
  return Buffer.from(out);
};

/** assert.throws validator: a VersionEditError with these words at this payload offset. */
const editError = (message: string | RegExp, offset?: number) => (err: unknown) => {
  assert.ok(err instanceof VersionEditError, `expected VersionEditError, got ${String(err)}`);
  if (typeof message === 'string') assert.equal(err.message, message);
  else assert.match(err.message, message);
  if (offset !== undefined) assert.equal(err.offset, offset, `offset (${err.message}, field ${err.field})`);
  return true;
};

const full: EncodableEdit = {
  comparator: 'leveldb.BytewiseComparator',
  logNumber: 12,
  prevLogNumber: 3,
  nextFileNumber: 300,
  lastSequence: 2n ** 60n + 5n,
  compactPointers: [{ level: 2, key: ikey('m', 7) }],
  deletedFiles: [{ level: 1, number: 44 }],
  newFiles: [
    { level: 0, number: 45, size: 123_456, smallest: ikey('a'), largest: ikey('k', 9) },
    { level: 6, number: 2 ** 40, size: 2 ** 35, smallest: ikey('x'), largest: ikey('z') },
  ],
};

describe('decodeVersionEdit', () => {
  test('round trip of every LevelDB tag, for both engines', () => {
    for (const engine of ['leveldb', 'pebble'] as const) {
      const e = decodeVersionEdit(encodeVersionEdit(full), engine);
      assert.equal(e.comparator, 'leveldb.BytewiseComparator');
      assert.equal(e.logNumber, 12);
      assert.equal(e.prevLogNumber, 3);
      assert.equal(e.nextFileNumber, 300);
      assert.equal(e.lastSequence, '1152921504606846981', 'above 2^53: a decimal string');
      assert.deepEqual(e.compactPointers, full.compactPointers);
      assert.deepEqual(e.deletedFiles, full.deletedFiles);
      assert.deepEqual(e.newFiles, full.newFiles);
    }
    assert.equal(decodeVersionEdit(encodeVersionEdit({ lastSequence: 77 })).lastSequence, 77, 'below 2^53: a number');
    assert.deepEqual(decodeVersionEdit(Buffer.alloc(0)).newFiles, [], 'an empty edit is valid');
  });

  test('a short payload at every cut is corruption in the engine\'s words, never EOF', () => {
    const words: Record<number, string> = {
      [TAG.comparator]: 'comparator name',
      [TAG.logNumber]: 'log number',
      [TAG.prevLogNumber]: 'previous log number',
      [TAG.nextFileNumber]: 'next file number',
      [TAG.lastSequence]: 'last sequence number',
      [TAG.compactPointer]: 'compaction pointer',
      [TAG.deletedFile]: 'deleted file',
      [TAG.newFile]: 'new-file entry',
    };
    const one = (e: EncodableEdit) => encodeVersionEdit(e);
    for (const entry of [
      one({ comparator: full.comparator }),
      one({ logNumber: 300 }),
      one({ prevLogNumber: 300 }),
      one({ nextFileNumber: 300 }),
      one({ lastSequence: 2n ** 60n }),
      one({ compactPointers: full.compactPointers }),
      one({ deletedFiles: [{ level: 1, number: 300 }] }),
      one({ newFiles: full.newFiles!.slice(0, 1) }),
    ]) {
      for (let cut = 1; cut < entry.length; cut++) {
        const short = entry.subarray(0, cut);
        assert.throws(() => decodeVersionEdit(short, 'leveldb'), editError(`VersionEdit: ${words[entry[0]!]}`), `leveldb, tag ${entry[0]} cut at ${cut}`);
        assert.throws(() => decodeVersionEdit(short, 'pebble'), editError(/^pebble: corrupt manifest: failed to read (uvarint|\d+ bytes)$/), `pebble, tag ${entry[0]} cut at ${cut}`);
      }
    }
    // The offset is where the field that ran out starts: the new file's size varint here.
    assert.throws(() => decodeVersionEdit(raw(TAG.newFile, 0, 45, byte(0x80)), 'pebble'), editError('pebble: corrupt manifest: failed to read uvarint', 3));
    assert.throws(() => decodeVersionEdit(raw(TAG.comparator, Buffer.from('abcdef')).subarray(0, 5), 'pebble'), editError('pebble: corrupt manifest: failed to read 6 bytes', 1));
  });

  test('unknown and invalid tags, levels out of range, empty keys', () => {
    for (const tag of [8, 50, 99]) {
      assert.throws(() => decodeVersionEdit(raw(TAG.logNumber, 5, tag, 1), 'leveldb'), editError('VersionEdit: unknown tag', 2));
      assert.throws(() => decodeVersionEdit(raw(TAG.logNumber, 5, tag, 1), 'pebble'), editError(`MANIFEST: unknown tag: ${tag}`, 2));
    }
    assert.throws(() => decodeVersionEdit(raw(PEBBLE_TAG.newFile2), 'leveldb'), editError('VersionEdit: unknown tag'), 'Pebble tags are unknown to LevelDB');
    assert.throws(() => decodeVersionEdit(Buffer.from([0x80]), 'leveldb'), editError('VersionEdit: invalid tag', 0));
    assert.throws(() => decodeVersionEdit(raw(200), 'pebble'), editError('column families are not supported'));
    assert.throws(() => decodeVersionEdit(raw(TAG.deletedFile, 7, 1), 'leveldb'), editError('VersionEdit: deleted file', 1));
    assert.throws(() => decodeVersionEdit(raw(TAG.deletedFile, 7, 1), 'pebble'), editError('pebble: corrupt manifest: level 7 >= 7', 1));
    const emptyKey = raw(TAG.newFile, 0, 5, 100, Buffer.alloc(0), ikey('b'));
    assert.throws(() => decodeVersionEdit(emptyKey, 'leveldb'), editError('VersionEdit: new-file entry'));
    assert.equal(decodeVersionEdit(emptyKey, 'pebble').newFiles.length, 1, 'Pebble does not check keys');
  });

  test('Pebble table encodings: newFile2/3/4/5, custom fields, blob files and backings', () => {
    const a = ikey('a');
    const z = ikey('z');
    const e = decodeVersionEdit(
      Buffer.concat([
        raw(PEBBLE_TAG.newFile2, 1, 10, 1000, a, z, 5, 9),
        raw(PEBBLE_TAG.newFile3, 2, 11, 0 /* path id */, 1100, a, z, 5, 9),
        // custom: creation time (6), a safe-to-ignore unknown (20), virtual (66), blob refs (70), end (1)
        raw(PEBBLE_TAG.newFile4, 3, 12, 1200, a, z, 5, 9, 6, raw(1_700_000_000), 20, Buffer.from('x'), 66, 8, 70, 1, 1, 4, 100, 200, 1),
        // range keys only (marker 0), then point and range keys with a point smallest (marker 3)
        raw(PEBBLE_TAG.newFile5, 4, 13, 1300, byte(0), a, z, 5, 9, 1),
        raw(PEBBLE_TAG.newFile5, 4, 14, 1400, byte(3), ikey('p'), ikey('q'), a, z, 5, 9, 7, Buffer.alloc(0), 1),
        raw(PEBBLE_TAG.newBlobFile, 1, 15, 5000, 4000, 1_700_000_000),
        raw(PEBBLE_TAG.deletedBlobFile, 1, 7),
        raw(PEBBLE_TAG.createdBackingTable, 8, 9000),
        raw(PEBBLE_TAG.removedBackingTable, 6),
        raw(PEBBLE_TAG.exciseBounds, Buffer.from('a'), Buffer.from('b'), 1, 99),
        raw(PEBBLE_TAG.tableMarkedForCompaction, 3, 12),
      ]),
      'pebble',
    );
    assert.deepEqual(e.newFiles.map((f) => [f.level, f.number, f.size]), [[1, 10, 1000], [2, 11, 1100], [3, 12, 1200], [4, 13, 1300], [4, 14, 1400]]);
    assert.equal(e.newFiles[2]!.backingFileNumber, 8);
    assert.deepEqual(e.newFiles[4]!.smallest, ikey('p'), 'marker bit 1: the smallest bound is the point key');
    assert.deepEqual(e.newFiles[4]!.largest, z, 'marker bit 2 clear: the largest bound is the range key');
    assert.deepEqual(e.newBlobFiles, [{ fileId: 1, number: 15, size: 5000 }]);
    assert.deepEqual(e.deletedBlobFiles, [{ fileId: 1, number: 7 }]);
    assert.deepEqual(e.createdBackings, [{ number: 8, size: 9000 }]);
    assert.deepEqual(e.removedBackings, [6]);
  });

  test('Pebble custom fields that are not safe to ignore, or malformed', () => {
    const nf4 = (...custom: Array<number | Buffer>) => raw(PEBBLE_TAG.newFile4, 0, 1, 10, ikey('a'), ikey('b'), 1, 2, ...custom, 1);
    assert.throws(() => decodeVersionEdit(nf4(80, Buffer.from('x')), 'pebble'), editError('new-file4: custom field not supported: 80'));
    assert.throws(() => decodeVersionEdit(nf4(65, Buffer.from('x')), 'pebble'), editError('new-file4: path-id field not supported'));
    assert.throws(() => decodeVersionEdit(nf4(6, Buffer.from([0x80])), 'pebble'), editError('new-file4: invalid file creation time'));
    assert.throws(() => decodeVersionEdit(nf4(7, Buffer.from('x')), 'pebble'), editError('new-file4: invalid no-range-key-sets value'));
    assert.throws(() => decodeVersionEdit(raw(PEBBLE_TAG.newFile4, 0, 1, 10, ikey('a'), ikey('b'), 1, 2), 'pebble'), editError('pebble: corrupt manifest: failed to read uvarint'), 'no terminator');
    assert.throws(() => decodeVersionEdit(raw(PEBBLE_TAG.newFile5, 0, 1, 10, byte(2), ikey('a'), ikey('b'), 1, 2, 1), 'pebble'), editError(/table without point keys has point key bounds/));
  });
});

describe('replayManifest', () => {
  const first: EncodableEdit = { comparator: 'leveldb.BytewiseComparator' };
  const second: EncodableEdit = { logNumber: 7, nextFileNumber: 10, lastSequence: 3000, newFiles: [{ level: 0, number: 8, size: 500, smallest: ikey('a'), largest: ikey('c') }] };
  const third: EncodableEdit = { logNumber: 9, lastSequence: 4000, deletedFiles: [{ level: 0, number: 8 }], newFiles: [{ level: 1, number: 8, size: 500, smallest: ikey('a'), largest: ikey('c') }, { level: 1, number: 9, size: 700, smallest: ikey('d'), largest: ikey('f') }] };
  const manifest = encodeLog([first, second, third].map(encodeVersionEdit));

  test('the state of a clean MANIFEST: last values win, tables moved and added', () => {
    const r = replayManifestBytes(manifest.bytes, 'leveldb');
    assert.equal(r.verdict.status, 'clean');
    assert.equal(r.records, 3);
    assert.equal(r.comparator, 'leveldb.BytewiseComparator');
    assert.equal(r.logNumber, 9);
    assert.equal(r.nextFileNumber, 10);
    assert.equal(r.lastSequence, '4000');
    assert.deepEqual(r.liveFiles, [{ level: 1, number: 8, size: 500 }, { level: 1, number: 9, size: 700 }]);
    assert.deepEqual(r.missing, []);
    assert.deepEqual(r.absent, []);
  });

  test('truncated after record 1: torn-tail, and nextFileNumber is missing', () => {
    const two = encodeLog([first, second].map(encodeVersionEdit));
    const cut = two.bytes.subarray(0, two.records[0]!.end + 9);
    const lv = replayManifestBytes(cut, 'leveldb');
    assert.equal(lv.verdict.status, 'torn-tail');
    assert.equal(lv.verdict.validBytes, two.records[0]!.end);
    assert.equal(lv.records, 1);
    assert.ok(lv.missing.includes('nextFileNumber'));
    assert.deepEqual(lv.missing, ['nextFileNumber', 'logNumber', 'lastSequence']);
    // Pebble opens without a log number only if the next file number is 2 or more: neither is there.
    assert.deepEqual(replayManifestBytes(cut, 'pebble').missing, ['logNumber', 'nextFileNumber']);
  });

  test('each engine\'s rule for what must be there', () => {
    const only = (e: EncodableEdit) => encodeLog([encodeVersionEdit(e)]).bytes;
    // goleveldb needs the comparator; C++ LevelDB does not, so the LevelDB rule (both) does.
    assert.deepEqual(replayManifestBytes(only({ logNumber: 0, nextFileNumber: 5, lastSequence: 0 }), 'leveldb').missing, ['comparator']);
    // A log number of 0 is present for LevelDB (RepairDB writes it) and absent for Pebble.
    assert.deepEqual(replayManifestBytes(only({ comparator: 'c', logNumber: 0, nextFileNumber: 5, lastSequence: 0 }), 'leveldb').missing, []);
    assert.deepEqual(replayManifestBytes(only({ logNumber: 0, nextFileNumber: 5 }), 'pebble').missing, []);
    assert.deepEqual(replayManifestBytes(only({ logNumber: 0, nextFileNumber: 1 }), 'pebble').missing, ['logNumber', 'nextFileNumber']);
    assert.deepEqual(replayManifestBytes(only({ logNumber: 4 }), 'pebble').missing, []);
    assert.deepEqual(replayManifestBytes(only({ logNumber: 4 }), 'pebble').absent, ['comparator', 'nextFileNumber', 'lastSequence']);
  });

  test('a complete record with a short payload: corrupt (version-edit) at that record, not a torn tail', () => {
    const bad = encodeVersionEdit(second).subarray(0, 5); // its checksum is right: the writer wrote it so
    const log = encodeLog([encodeVersionEdit(first), bad, encodeVersionEdit(third)]);
    for (const engine of ['leveldb', 'pebble'] as const) {
      const r = replayManifestBytes(log.bytes, engine);
      assert.equal(r.verdict.status, 'corrupt', engine);
      assert.equal(r.verdict.corruption?.kind, 'version-edit');
      assert.equal(r.verdict.firstBadOffset, log.records[1]!.offset);
      assert.equal(r.verdict.corruption?.offset, log.records[1]!.offset);
      assert.equal(r.verdict.validBytes, log.records[0]!.end);
      assert.equal(r.verdict.validRecordsAfter, true);
      assert.equal(r.verdict.records, 1);
      assert.equal(r.records, 1);
      assert.equal(r.comparator, 'leveldb.BytewiseComparator');
      assert.equal(r.logNumber, undefined, 'nothing of the bad record or after it is applied');
    }
    const last = encodeLog([encodeVersionEdit(first), bad]);
    const r = replayManifestBytes(last.bytes, 'pebble');
    assert.equal(r.verdict.status, 'corrupt');
    assert.equal(r.verdict.validRecordsAfter, false);
    assert.match(r.verdict.corruption!.message, /^pebble: corrupt manifest: failed to read uvarint/);
  });

  test('an unknown tag in a middle record: corrupt, valid records after', () => {
    const log = encodeLog([encodeVersionEdit(first), Buffer.concat([encodeVersionEdit({ logNumber: 3 }), raw(8, 1)]), encodeVersionEdit(third)]);
    const r = replayManifestBytes(log.bytes, 'leveldb');
    assert.equal(r.verdict.corruption?.kind, 'version-edit');
    assert.match(r.verdict.corruption!.message, /^VersionEdit: unknown tag/);
    assert.equal(r.verdict.validRecordsAfter, true);
  });

  test('a log-level problem: the log verdict, the state up to it', () => {
    const bytes = Buffer.from(manifest.bytes);
    bytes[manifest.records[2]!.offset + 9]! ^= 4;
    const r = replayManifestBytes(bytes, 'leveldb');
    assert.equal(r.verdict.status, 'torn-tail', 'a bad checksum on the final chunk that runs to EOF');
    assert.equal(r.records, 2);
    assert.equal(r.logNumber, 7);
    assert.deepEqual(r.liveFiles, [{ level: 0, number: 8, size: 500 }]);
  });

  describe('from a file', () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'logstore-version-edit-'));
    });
    after(async () => {
      await rm(dir, { recursive: true, force: true });
    });
    test('the same as from bytes', async () => {
      const path = join(dir, 'MANIFEST-000001');
      await writeFile(path, manifest.bytes);
      assert.deepEqual(await replayManifest(path, 'pebble'), replayManifestBytes(manifest.bytes, 'pebble'));
    });
    test('a symlink to a real MANIFEST is refused, not followed', async () => {
      const real = join(dir, 'MANIFEST-000002');
      const link = join(dir, 'MANIFEST-000003');
      await writeFile(real, manifest.bytes);
      await symlink(real, link);
      await assert.rejects(replayManifest(link, 'pebble'), { message: `${link} is a symlink; refusing to follow it` });
    });
  });
});
