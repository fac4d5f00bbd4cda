// The LevelDB/Pebble log reader on forged bytes: every verdict (clean, torn-tail, zeroed-tail,
// corrupt and its kinds), the rules for the ambiguous cases, the three header formats, and the file
// reader against the in-memory one. Real engines' files are checked elsewhere.
import assert from 'node:assert/strict';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { crc32c } from '@node-rs/crc32';
import { HEADER_SIZE } from '../../src/format/logstore/chunk';
import { BLOCK_SIZE, READ_SIZE, encodeLog, encodeRecord, eofTrailer, maskCrc, maskedCrc32c, scanLogBytes, scanLogFile, unmaskCrc } from '../../src/format/logstore/records';
import type { LogRecord, LogVerdict } from '../../src/format/logstore/types';

/** Deterministic non-zero bytes (a zero-free payload keeps the zero rules out of tests about other things). */
const payload = (n: number, seed = 1) => Buffer.from(Array.from({ length: n }, (_, i) => 1 + ((i * 31 + seed * 17) % 251)));

/** One raw chunk with a correct masked CRC: for forging what no writer emits (orphans, bad types). */
function chunk(type: number, data: Buffer, opts: { logNum?: number; syncOffset?: number; length?: number } = {}): Buffer {
  const hs = HEADER_SIZE[type] ?? 7;
  const b = Buffer.alloc(hs + data.length);
  b.writeUInt16LE(opts.length ?? data.length, 4);
  b[6] = type;
  if (hs > 7) b.writeUInt32LE(opts.logNum ?? 1, 7);
  if (hs > 11) b.writeBigUInt64LE(BigInt(opts.syncOffset ?? 0), 11);
  data.copy(b, hs);
  b.writeUInt32LE(maskedCrc32c(b.subarray(6)), 0);
  return b;
}

const scan = (bytes: Buffer, opts: { logNumber?: number } = {}) => {
  const records: LogRecord[] = [];
  const verdict = scanLogBytes(bytes, { ...opts, onRecord: (r) => records.push({ ...r, payload: Buffer.from(r.payload) }) });
  return { verdict, records };
};

function expectVerdict(v: LogVerdict, want: Partial<LogVerdict> & { kind?: string }): void {
  const { kind, ...rest } = want;
  for (const [k, value] of Object.entries(rest)) assert.deepEqual(v[k as keyof LogVerdict], value, `${k} (verdict ${JSON.stringify(v)})`);
  if (kind) assert.equal(v.corruption?.kind, kind, JSON.stringify(v));
}

describe('chunk encoding and the CRC', () => {
  test('the empty FULL record matches a hand-written LevelDB vector', () => {
    // crc32c(0x01) = 0xa016d052 (bitwise reference implementation), masked = 0x43282b05, LE.
    const known = Buffer.from([0x05, 0x2b, 0x28, 0x43, 0x00, 0x00, 0x01]);
    assert.deepEqual(encodeRecord(Buffer.alloc(0)), known);
    assert.equal(maskedCrc32c(Buffer.from([1])), 0x43282b05);
    // The package is CRC32C (Castagnoli): RFC 3720's 32 zero bytes, as LevelDB's crc32c_test checks.
    assert.equal(crc32c(Buffer.alloc(32)), 0x8a9136aa);
    assert.equal(unmaskCrc(maskCrc(0xa016d052)), 0xa016d052);
    expectVerdict(scan(known).verdict, { status: 'clean', records: 1, validBytes: 7, fileBytes: 7, headerFormat: 'legacy' });
  });

  test('"foo" as LevelDB writes it', () => {
    assert.deepEqual(encodeRecord(Buffer.from('foo')), Buffer.from('dd5fb37a03000166 6f6f'.replace(/ /g, ''), 'hex'));
  });

  test('exactly 7 bytes left: a zero-length FIRST; fewer: zero padding', () => {
    const seven = encodeLog([payload(BLOCK_SIZE - 14), payload(100, 2)]);
    assert.equal(seven.bytes[BLOCK_SIZE - 7 + 6], 2); // FIRST
    assert.equal(seven.bytes.readUInt16LE(BLOCK_SIZE - 7 + 4), 0);
    assert.deepEqual(seven.records[1], { offset: BLOCK_SIZE - 7, end: BLOCK_SIZE + 107 });
    const three = encodeLog([payload(BLOCK_SIZE - 10), payload(100, 2)]);
    assert.deepEqual(three.bytes.subarray(BLOCK_SIZE - 3, BLOCK_SIZE), Buffer.alloc(3));
    assert.deepEqual(three.records[1], { offset: BLOCK_SIZE, end: BLOCK_SIZE + 107 });
    for (const log of [seven, three]) {
      const { verdict, records } = scan(log.bytes);
      expectVerdict(verdict, { status: 'clean', records: 2, validBytes: log.bytes.length });
      assert.deepEqual(records[1]!.payload, payload(100, 2));
    }
  });
});

describe('clean logs', () => {
  test('single- and multi-block records come back whole, at their offsets', () => {
    const payloads = [10, 40_000, 0, 5, 100_000, BLOCK_SIZE - 7, 3].map((n, i) => payload(n, i));
    const log = encodeLog(payloads);
    const { verdict, records } = scan(log.bytes);
    expectVerdict(verdict, { status: 'clean', records: payloads.length, validBytes: log.bytes.length, firstBadOffset: null, validRecordsAfter: false });
    assert.deepEqual(records.map((r) => r.payload), payloads);
    assert.deepEqual(records.map(({ offset, end }) => ({ offset, end })), log.records);
  });

  test('an empty file is clean with no records', () => {
    expectVerdict(scan(Buffer.alloc(0)).verdict, { status: 'clean', records: 0, validBytes: 0, fileBytes: 0, headerFormat: 'none' });
  });

  test('11 to 18 zero bytes at a full block end are padding (Pebble), more are not', () => {
    const first = chunk(1, payload(BLOCK_SIZE - 7 - 12));
    const next = chunk(1, payload(50, 3));
    expectVerdict(scan(Buffer.concat([first, Buffer.alloc(12), next])).verdict, { status: 'clean', records: 2 });
    const wide = chunk(1, payload(BLOCK_SIZE - 7 - 40));
    expectVerdict(scan(Buffer.concat([wide, Buffer.alloc(40), next])).verdict, {
      status: 'corrupt',
      kind: 'zeroed',
      firstBadOffset: BLOCK_SIZE - 40,
      validBytes: BLOCK_SIZE - 40,
      validRecordsAfter: true,
      records: 1,
    });
  });
});

describe('torn tails', () => {
  // r0 small, r1 over three blocks, r2 small: cut anywhere inside r1.
  const log = encodeLog([payload(1000), payload(2 * BLOCK_SIZE + 5000, 2), payload(20, 3)]);
  const [r0, r1] = log.records as [{ offset: number; end: number }, { offset: number; end: number }];

  test('at every cut offset inside a multi-chunk record: torn-tail at the record, validBytes at the previous end', () => {
    for (let cut = r1.offset + 1; cut < r1.end; cut++) {
      const v = scanLogBytes(log.bytes.subarray(0, cut));
      if (v.status !== 'torn-tail' || v.validBytes !== r0.end || v.firstBadOffset !== r1.offset || v.records !== 1) {
        assert.fail(`cut at ${cut}: ${JSON.stringify(v)}`);
      }
    }
  });

  test('the same for recyclable and WAL-sync headers (every 7th cut)', () => {
    for (const format of ['recyclable', 'wal-sync'] as const) {
      const l = encodeLog([payload(1000), payload(2 * BLOCK_SIZE + 5000, 2)], { format, logNumber: 42 });
      const [a, b] = l.records as [{ offset: number; end: number }, { offset: number; end: number }];
      for (let cut = b.offset + 1; cut < b.end; cut += 7) {
        const v = scanLogBytes(l.bytes.subarray(0, cut), { logNumber: 42 });
        if (v.status !== 'torn-tail' || v.validBytes !== a.end || v.firstBadOffset !== b.offset) assert.fail(`${format} cut at ${cut}: ${JSON.stringify(v)}`);
      }
    }
  });

  test('cut at a record boundary is clean', () => {
    expectVerdict(scanLogBytes(log.bytes.subarray(0, r1.end)), { status: 'clean', records: 2, validBytes: r1.end });
  });
});

describe('zeroed tails', () => {
  const log = encodeLog([payload(500), payload(700, 2)]);
  const end = log.bytes.length;

  test('zeros after the last record, within the block and over several blocks', () => {
    for (const zeros of [1, 6, 7, 100, 3 * BLOCK_SIZE]) {
      expectVerdict(scanLogBytes(Buffer.concat([log.bytes, Buffer.alloc(zeros)])), { status: 'zeroed-tail', validBytes: end, firstBadOffset: end, records: 2, fileBytes: end + zeros });
    }
  });

  test('a FIRST chunk, then zeros to EOF: zeroed-tail from the record', () => {
    const big = encodeLog([payload(500), payload(BLOCK_SIZE, 2)]);
    const firstOnly = big.bytes.subarray(0, BLOCK_SIZE);
    expectVerdict(scanLogBytes(Buffer.concat([firstOnly, Buffer.alloc(BLOCK_SIZE)])), { status: 'zeroed-tail', validBytes: 507, firstBadOffset: 507 });
  });

  test('zeros, then a non-zero byte with no valid record: corrupt (zeroed), nothing valid after', () => {
    const bytes = Buffer.concat([log.bytes, Buffer.alloc(200), Buffer.from([9, 9, 9])]);
    expectVerdict(scanLogBytes(bytes), { status: 'corrupt', kind: 'zeroed', firstBadOffset: end, validBytes: end, validRecordsAfter: false });
  });
});

describe('corruption in the middle', () => {
  const payloads = Array.from({ length: 12 }, (_, i) => payload(3000 + i * 997, i));
  const log = encodeLog(payloads);

  test('a flipped payload byte in an early record: checksum at its header, valid records after', () => {
    const bytes = Buffer.from(log.bytes);
    const r2 = log.records[2]!;
    bytes[r2.offset + 7 + 100]! ^= 0x10;
    const { verdict, records } = scan(bytes);
    expectVerdict(verdict, { status: 'corrupt', kind: 'checksum', firstBadOffset: r2.offset, validBytes: log.records[1]!.end, validRecordsAfter: true, records: 2 });
    assert.equal(verdict.corruption!.offset, r2.offset);
    assert.equal(records.length, 2, 'onRecord sees only records before the problem');
  });

  test('a bad chunk type (13, and 0 with a length)', () => {
    for (const type of [13, 0xff, 0]) {
      const bytes = Buffer.from(log.bytes);
      const r3 = log.records[3]!;
      bytes[r3.offset + 6] = type;
      if (type === 0) bytes.writeUInt16LE(5, r3.offset + 4);
      expectVerdict(scanLogBytes(bytes), { status: 'corrupt', kind: 'chunk-type', firstBadOffset: r3.offset, validBytes: log.records[2]!.end, validRecordsAfter: true });
    }
  });

  test('an orphan MIDDLE, an orphan LAST, and a FULL inside an open record', () => {
    const a = chunk(1, payload(100));
    const b = chunk(1, payload(100, 2));
    for (const orphan of [3, 4]) {
      const bytes = Buffer.concat([a, chunk(orphan, payload(50, 5)), b]);
      expectVerdict(scanLogBytes(bytes), { status: 'corrupt', kind: 'orphan-chunk', firstBadOffset: a.length, validBytes: a.length, validRecordsAfter: true, records: 1 });
    }
    const open = chunk(2, payload(50, 5));
    const bytes = Buffer.concat([a, open, b]);
    expectVerdict(scanLogBytes(bytes), { status: 'corrupt', kind: 'orphan-chunk', firstBadOffset: a.length + open.length, validBytes: a.length, validRecordsAfter: true });
  });

  test('a length past the block, inside the file', () => {
    const bytes = Buffer.from(log.bytes);
    const r4 = log.records[4]!;
    bytes.writeUInt16LE(60_000, r4.offset + 4);
    expectVerdict(scanLogBytes(bytes), { status: 'corrupt', kind: 'length', firstBadOffset: r4.offset, validRecordsAfter: true });
  });

  test('a length past the block at EOF is corrupt; past EOF but inside the block is a torn write', () => {
    const a = chunk(1, payload(100));
    const long = chunk(1, payload(100, 2), { length: 40_000 });
    expectVerdict(scanLogBytes(Buffer.concat([a, long])), { status: 'corrupt', kind: 'length', firstBadOffset: a.length, validRecordsAfter: false });
    const torn = chunk(1, payload(100, 2), { length: 1000 });
    expectVerdict(scanLogBytes(Buffer.concat([a, torn])), { status: 'torn-tail', firstBadOffset: a.length, validBytes: a.length });
  });

  test('garbage after the last record, nothing valid in it: corrupt, no valid records after', () => {
    const bytes = Buffer.concat([log.bytes, payload(5000, 9)]);
    const v = scanLogBytes(bytes);
    expectVerdict(v, { status: 'corrupt', firstBadOffset: log.bytes.length, validBytes: log.bytes.length, validRecordsAfter: false });
  });

  test('after a bad block, look-ahead resynchronises at the next block boundary', () => {
    const l = encodeLog([payload(BLOCK_SIZE * 2, 1), payload(10, 2)]);
    const bytes = Buffer.from(l.bytes);
    bytes[6] = 0x7f; // the FIRST chunk's type: the whole first block is unusable
    // The MIDDLE in block 1 and LAST in block 2 are orphans to the look-ahead; the FULL after counts.
    expectVerdict(scanLogBytes(bytes), { status: 'corrupt', kind: 'chunk-type', firstBadOffset: 0, validBytes: 0, validRecordsAfter: true, records: 0 });
  });
});

describe('a bad checksum on the final chunk', () => {
  // Rule: torn-tail when only block padding follows the chunk, or when everything from a 512-byte
  // sector boundary inside it to EOF is zero; otherwise corrupt (a complete chunk, damaged).
  const head = encodeLog([payload(300), payload(400, 2)]);
  const lastAt = head.records[1]!.offset;

  test('the chunk runs to EOF: torn-tail (the file size covers a write that did not all land)', () => {
    const bytes = Buffer.from(head.bytes);
    bytes[lastAt + 7 + 200]! ^= 1;
    expectVerdict(scanLogBytes(bytes), { status: 'torn-tail', firstBadOffset: lastAt, validBytes: lastAt, records: 1 });
  });

  test('from a sector boundary inside the chunk to EOF all zero: torn-tail (a write stopped at a sector)', () => {
    const big = encodeLog([payload(300), payload(3000, 2)]);
    const at = big.records[1]!.offset;
    const bytes = Buffer.concat([big.bytes, Buffer.alloc(2000)]);
    bytes.fill(0, 1024, big.bytes.length); // bytes from 1024 (a sector) to the chunk's end never landed
    expectVerdict(scanLogBytes(bytes), { status: 'torn-tail', firstBadOffset: at, validBytes: at });
  });

  test('a complete chunk with a flipped byte, then zeros: corrupt checksum', () => {
    const bytes = Buffer.concat([head.bytes, Buffer.alloc(2000)]);
    bytes[lastAt + 7 + 200]! ^= 1;
    expectVerdict(scanLogBytes(bytes), { status: 'corrupt', kind: 'checksum', firstBadOffset: lastAt, validBytes: lastAt, validRecordsAfter: false });
  });

  test('then other bytes: corrupt checksum', () => {
    const bytes = Buffer.concat([head.bytes, Buffer.from([7, 7, 7, 7, 7, 7, 7, 7])]);
    bytes[lastAt + 7 + 200]! ^= 1;
    expectVerdict(scanLogBytes(bytes), { status: 'corrupt', kind: 'checksum', firstBadOffset: lastAt, validRecordsAfter: false });
  });
});

describe('recyclable headers (Pebble WALs)', () => {
  const opts = { format: 'recyclable' as const, logNumber: 9 };

  test('the right log number: clean; the default log number is the first valid chunk\'s', () => {
    const log = encodeLog([payload(100), payload(50_000, 2)], opts);
    for (const o of [{ logNumber: 9 }, {}]) expectVerdict(scanLogBytes(log.bytes, o), { status: 'clean', records: 2, headerFormat: 'recyclable' });
    // The log number is the file number's low 32 bits.
    expectVerdict(scanLogBytes(log.bytes, { logNumber: 2 ** 32 + 9 }), { status: 'clean', records: 2 });
  });

  test('the EOF trailer (log number + 1 at a record start) ends the log: clean, what follows ignored', () => {
    const log = encodeLog([payload(100), payload(200, 2)], opts);
    const bytes = Buffer.concat([log.bytes, eofTrailer(9), payload(3000, 7)]);
    const v = scanLogBytes(bytes, { logNumber: 9 });
    expectVerdict(v, { status: 'clean', records: 2, validBytes: log.bytes.length, stoppedAt: { offset: log.bytes.length, reason: 'eof-trailer' } });
  });

  test('a recycled file: stale chunks of the older log after the last record are the end (clean)', () => {
    const old = encodeLog(Array.from({ length: 8 }, (_, i) => payload(9000, i + 10)), { format: 'recyclable', logNumber: 5 });
    const fresh = encodeLog([payload(9000, 1), payload(9000, 2)], opts);
    const bytes = Buffer.from(old.bytes);
    fresh.bytes.copy(bytes, 0);
    const v = scanLogBytes(bytes, { logNumber: 9 });
    expectVerdict(v, { status: 'clean', records: 2, validBytes: fresh.bytes.length, stoppedAt: { offset: fresh.bytes.length, reason: 'stale-chunk' } });
    // A recycled file the new log never wrote to: no records, clean.
    expectVerdict(scanLogBytes(old.bytes, { logNumber: 9 }), { status: 'clean', records: 0, validBytes: 0 });
  });

  test('a stale chunk inside a record (the writer died mid-record): torn-tail', () => {
    const old = encodeLog(Array.from({ length: 4 }, (_, i) => payload(9000, i + 10)), { format: 'recyclable', logNumber: 5 });
    const fresh = encodeLog([payload(100), payload(BLOCK_SIZE, 2)], opts);
    const bytes = Buffer.from(old.bytes);
    fresh.bytes.copy(bytes, 0, 0, BLOCK_SIZE); // only the FIRST chunk of record 2 landed
    expectVerdict(scanLogBytes(bytes, { logNumber: 9 }), { status: 'torn-tail', records: 1, firstBadOffset: fresh.records[1]!.offset });
  });

  test('another log\'s chunk with valid records of this log after it: corrupt (log-number)', () => {
    const a = encodeRecord(payload(100), { ...opts, at: 0 });
    const stray = encodeRecord(payload(100, 2), { format: 'recyclable', logNumber: 3, at: a.length });
    const b = encodeRecord(payload(100, 3), { ...opts, at: a.length + stray.length });
    expectVerdict(scanLogBytes(Buffer.concat([a, stray, b]), { logNumber: 9 }), { status: 'corrupt', kind: 'log-number', firstBadOffset: a.length, validRecordsAfter: true });
  });
});

describe('WAL-sync headers', () => {
  test('clean over blocks; the CRC covers the sync offset', () => {
    const log = encodeLog([payload(100), payload(70_000, 2), payload(10, 3)], { format: 'wal-sync', logNumber: 12 });
    expectVerdict(scanLogBytes(log.bytes, { logNumber: 12 }), { status: 'clean', records: 3, headerFormat: 'wal-sync' });
    const bytes = Buffer.from(log.bytes);
    const r1 = log.records[1]!;
    bytes[r1.offset + 12]! ^= 1; // a sync offset byte
    expectVerdict(scanLogBytes(bytes, { logNumber: 12 }), { status: 'corrupt', kind: 'checksum', firstBadOffset: r1.offset, validRecordsAfter: true });
  });
});

describe('scanLogFile', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'logstore-records-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const big = encodeLog(Array.from({ length: 400 }, (_, i) => payload(1000 + ((i * 7919) % 60_000), i)));

  test('the same verdict and records as scanLogBytes over several reads, with progress', async () => {
    assert.ok(big.bytes.length > 2 * READ_SIZE);
    for (const [name, bytes] of [
      ['clean', big.bytes],
      ['torn', big.bytes.subarray(0, big.bytes.length - 3)],
      ['corrupt', Buffer.from(big.bytes).fill(0x55, READ_SIZE + 100, READ_SIZE + 110)],
    ] as const) {
      const path = join(dir, `${name}.log`);
      await writeFile(path, bytes);
      const fromFile: LogRecord[] = [];
      const progress: number[] = [];
      const v = await scanLogFile(path, { onRecord: (r) => fromFile.push(r), onProgress: (n) => progress.push(n) });
      const mem = scan(bytes);
      assert.deepEqual(v, mem.verdict, name);
      assert.deepEqual(fromFile, mem.records, name);
      assert.ok(progress.length >= 1 && progress.every((n, i) => i === 0 || n > progress[i - 1]!), name);
      // Once a valid record follows the problem nothing can change the verdict: reading stops.
      if (name === 'corrupt') assert.ok(progress.at(-1)! < bytes.length, `read ${progress.at(-1)} of ${bytes.length}`);
    }
  });

  test('a file of exactly one read: clean, one record', async () => {
    const path = join(dir, 'exact.log');
    const log = encodeLog([payload(READ_SIZE - 7 * (READ_SIZE / BLOCK_SIZE))]);
    assert.equal(log.bytes.length, READ_SIZE);
    await writeFile(path, log.bytes);
    assert.deepEqual(await scanLogFile(path), scanLogBytes(log.bytes));
    expectVerdict(await scanLogFile(path), { status: 'clean', records: 1, validBytes: READ_SIZE });
  });

  test('a symlink to a real log is refused (O_NOFOLLOW), never followed; the log itself reads', async () => {
    const real = join(dir, 'real.log');
    const link = join(dir, '000007.log');
    const log = encodeLog([payload(100), payload(200, 2)]);
    await writeFile(real, log.bytes);
    await symlink(real, link);
    expectVerdict(await scanLogFile(real), { status: 'clean', records: 2 });
    let records = 0;
    await assert.rejects(scanLogFile(link, { onRecord: () => records++ }), (err: Error) => err.message === `${link} is a symlink; refusing to follow it` && (err.cause as NodeJS.ErrnoException).code === 'ELOOP');
    assert.equal(records, 0);
  });

  test('an aborted signal stops the scan with AbortError', async () => {
    const path = join(dir, 'abort.log');
    await writeFile(path, big.bytes);
    const ac = new AbortController();
    ac.abort(new Error('operator cancelled'));
    await assert.rejects(scanLogFile(path, { signal: ac.signal }), (err: Error) => err.name === 'AbortError' && /operator cancelled/.test(err.message));
  });
});
