// doctor-wal benchmark: doctorLogStore('leveldb') (the whole `runbook doctor leveldb`) on a real
// goleveldb store whose live WAL is a 1 GiB WAL of legacy chunks, against reading that same WAL file
// in the same piece size and computing CRC32C over every byte (same package): the least any
// checksum-verifying reader must do. Every run's report is checked: the WAL clean, every record.
import { randomBytes } from 'node:crypto';
import { copyFile, link, mkdir, mkdtemp, open, readFile, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32c } from '@node-rs/crc32';
import { doctorLogStore, type LogStoreDiagnosis } from '../src/engines/logstore/doctor';
import { writeStoreWithEngine } from '../src/engines/logstore/storectl';
import { READ_SIZE, encodeRecord } from '../src/format/logstore/records';
import { seededRandom, type Variant } from './harness';

export const OURS = "ours: doctorLogStore('leveldb')";
/** The target's baseline: one buffer, read then CRC, in turn. */
export const READ_CRC = 'read + crc32c';
/** The same with the next read running while the current piece is checksummed (as scanLogFile reads). */
export const READ_CRC_OVERLAP = 'read + crc32c, overlapped reads';
/** The piece size of every variant: scanLogFile's. */
export const PIECE_BYTES = READ_SIZE;
/** The store around the WAL: goleveldb, this many keys flushed into one table. */
export const STORE_KEYS = 2000;

export interface WalCase {
  /** The store the doctor runs on. */
  store: string;
  /** Its live WAL (the generated one, linked or copied in): what the baselines read. */
  path: string;
  /** The WAL's name in the store, and the MANIFEST's log number it is live by. */
  wal: string;
  logNumber: number;
  bytes: number;
  records: number;
  /** 0 when the file from an earlier run was reused. */
  buildMs: number;
  /** Tables and data blocks the doctor checks besides the WAL (every run). */
  tables: number;
  dataBlocks: number;
  variants: Variant[];
  cleanup: () => Promise<void>;
}

const SCRATCH = fileURLToPath(new URL('./.scratch/', import.meta.url));

/** Record sizes from 100 B to 64 KiB, log-uniform (many small write batches, some large ones). */
function* sizes(seed: number): Generator<number> {
  for (const u of seededRandom(seed)) yield Math.round(100 * Math.exp(u * Math.log(65536 / 100)));
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

/** Throws unless the doctor found the store healthy and read `wal` whole: clean, every record. */
function checkReport(d: LogStoreDiagnosis, wal: string, want: { bytes: number; records: number }): void {
  const w = d.logs.find((l) => l.file === wal);
  const problems = [
    !d.healthy && `not healthy (${d.findings.map((f) => f.code).join(', ')})`,
    !w && `no report for ${wal}`,
    w && !w.live && `${wal} not live`,
    w && (w.status !== 'clean' || w.records !== want.records || w.validBytes !== want.bytes || w.fileBytes !== want.bytes) &&
      `${wal}: ${w.status}, ${w.records} records, validBytes ${w.validBytes} of ${w.fileBytes}; expected clean, ${want.records} records, ${want.bytes} bytes`,
    !d.tables.length && 'no table checked',
    d.tables.some((t) => t.status !== 'ok' || !t.dataBlocks) && `tables: ${JSON.stringify(d.tables)}`,
  ].filter(Boolean);
  if (problems.length) throw new Error(`doctor-wal: ${problems.join('; ')}`);
}

/**
 * A goleveldb store written by the engine (storectl, one table) in bench/.scratch, its live WAL (the
 * NNNNNN.log at or above the MANIFEST's log number, as the doctor reports it) replaced by the
 * generated 1 GiB WAL: hard-linked (the generated file stays cached), copied if linking fails.
 */
export async function walCase(target = 2 ** 30): Promise<WalCase> {
  const generated = await walFile(target);
  await mkdir(SCRATCH, { recursive: true });
  const scratch = await mkdtemp(join(SCRATCH, 'doctor-wal-'));
  const cleanup = () => rm(scratch, { recursive: true, force: true });
  try {
    const store = join(scratch, 'store');
    await writeStoreWithEngine('goleveldb', store, { keys: STORE_KEYS, tables: 1 });
    const before = await doctorLogStore('leveldb', store);
    const logNumber = before.manifest?.logNumber;
    const live = before.logs.filter((l) => l.live && logNumber !== null && logNumber !== undefined && l.number >= logNumber);
    if (!before.healthy || logNumber === null || logNumber === undefined || live.length !== 1) {
      throw new Error(`doctor-wal: the store written by goleveldb is not as expected (healthy ${before.healthy}, log number ${logNumber}, live WALs ${live.map((l) => l.file).join(', ') || 'none'})`);
    }
    const wal = live[0]!.file;
    const path = join(store, wal);
    await rm(path);
    await link(generated.path, path).catch(() => copyFile(generated.path, path));
    const want = { bytes: generated.bytes, records: generated.records };
    const once = await doctorLogStore('leveldb', store);
    checkReport(once, wal, want);
    const ours: Variant = { name: OURS, run: async () => checkReport(await doctorLogStore('leveldb', store), wal, want) };
    const base = (name: string, overlap: boolean): Variant => ({ name, run: async () => void (await readAndCrc(path, overlap)) });
    return {
      store,
      path,
      wal,
      logNumber,
      ...want,
      buildMs: generated.buildMs,
      tables: once.tables.length,
      dataBlocks: once.tables.reduce((n, t) => n + (t.dataBlocks ?? 0), 0),
      variants: [ours, base(READ_CRC, false), base(READ_CRC_OVERLAP, true)],
      cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
