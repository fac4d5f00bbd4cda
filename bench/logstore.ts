// doctor-wal benchmark: scanLogFile (what the log-store doctor runs on each WAL) on a 1 GiB WAL of
// legacy chunks, against reading the same file in the same piece size and computing CRC32C over
// every byte (same package): the least any checksum-verifying reader must do.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, stat, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32c } from '@node-rs/crc32';
import { READ_SIZE, encodeRecord, scanLogFile } from '../src/format/logstore/records';
import type { Variant } from './harness';

export const OURS = 'ours: scanLogFile';
/** The target's baseline: one buffer, read then CRC, in turn. */
export const READ_CRC = 'read + crc32c';
/** The same with the next read running while the current piece is checksummed (as scanLogFile reads). */
export const READ_CRC_OVERLAP = 'read + crc32c, overlapped reads';
/** The piece size of every variant: scanLogFile's. */
export const PIECE_BYTES = READ_SIZE;

export interface WalCase {
  path: string;
  bytes: number;
  records: number;
  /** 0 when the file from an earlier run was reused. */
  buildMs: number;
  variants: Variant[];
}

const SCRATCH = fileURLToPath(new URL('./.scratch/', import.meta.url));

/** Record sizes from 100 B to 64 KiB, log-uniform (many small write batches, some large ones). */
function* sizes(seed: number): Generator<number> {
  let x = seed >>> 0 || 1;
  for (;;) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    yield Math.round(100 * Math.exp((x / 2 ** 32) * Math.log(65536 / 100)));
  }
}

/**
 * The WAL, written once into bench/.scratch and reused while its description file matches (it is
 * 1 GiB: generating it each run would cost more than the timings). Checks free space first.
 */
async function walFile(target: number): Promise<{ path: string; bytes: number; records: number; buildMs: number }> {
  const path = join(SCRATCH, `wal-${target}.log`);
  const meta = `${path}.json`;
  try {
    const m = JSON.parse(await readFile(meta, 'utf8')) as { bytes: number; records: number };
    if ((await stat(path)).size === m.bytes) return { path, ...m, buildMs: 0 };
  } catch {
    /* not built yet */
  }
  await mkdir(SCRATCH, { recursive: true });
  const s = await statfs(SCRATCH);
  const free = s.bavail * s.bsize;
  if (free < target + 2 ** 30) throw new Error(`doctor-wal: needs ${((target + 2 ** 30) / 2 ** 30).toFixed(1)} GiB free in ${SCRATCH}, df shows ${(free / 2 ** 30).toFixed(1)} GiB`);
  const started = performance.now();
  const pool = randomBytes(2 * 65536); // payload bytes: incompressible, as write batches mostly are
  const fh = await open(path, 'w');
  let at = 0;
  let records = 0;
  try {
    const gen = sizes(0x5eed);
    let batch: Buffer[] = [];
    let batchBytes = 0;
    while (at < target) {
      const n = gen.next().value!;
      const rec = encodeRecord(pool.subarray(records % 65536, (records % 65536) + n), { at });
      batch.push(rec);
      batchBytes += rec.length;
      at += rec.length;
      records++;
      if (batchBytes >= 8 * 2 ** 20) {
        await fh.write(Buffer.concat(batch));
        batch = [];
        batchBytes = 0;
      }
    }
    if (batch.length) await fh.write(Buffer.concat(batch));
  } finally {
    await fh.close();
  }
  await writeFile(meta, JSON.stringify({ bytes: at, records }));
  return { path, bytes: at, records, buildMs: performance.now() - started };
}

/** The baseline: read `path` in READ_SIZE pieces and CRC32C every byte; `overlap` reads ahead as scanLogFile does. */
async function readAndCrc(path: string, overlap: boolean): Promise<number> {
  const fh = await open(path, 'r');
  try {
    const bufs = [Buffer.allocUnsafe(READ_SIZE), Buffer.allocUnsafe(READ_SIZE)];
    let crc = 0;
    let pos = 0;
    let which = 0;
    let pending = fh.read(bufs[0]!, 0, READ_SIZE, 0);
    for (;;) {
      const { bytesRead } = await pending;
      if (bytesRead === 0) break;
      pos += bytesRead;
      if (overlap) pending = fh.read(bufs[which ^ 1]!, 0, READ_SIZE, pos);
      crc = crc32c(bufs[which]!.subarray(0, bytesRead), crc);
      if (overlap) which ^= 1;
      else pending = fh.read(bufs[0]!, 0, READ_SIZE, pos);
    }
    return crc;
  } finally {
    await fh.close();
  }
}

export async function walCase(target = 2 ** 30): Promise<WalCase> {
  const wal = await walFile(target);
  const ours: Variant = {
    name: OURS,
    run: async () => {
      const v = await scanLogFile(wal.path);
      if (v.status !== 'clean' || v.records !== wal.records || v.validBytes !== wal.bytes) {
        throw new Error(`doctor-wal: ${v.status}, ${v.records} records, validBytes ${v.validBytes}; expected clean, ${wal.records} records, ${wal.bytes}`);
      }
    },
  };
  const base = (name: string, overlap: boolean): Variant => ({ name, run: async () => void (await readAndCrc(wal.path, overlap)) });
  return { ...wal, variants: [ours, base(READ_CRC, false), base(READ_CRC_OVERLAP, true)] };
}
