// The doctor's findings in words: which file, what is wrong with it, and what that means for the
// engine (C++ LevelDB 1.20 as classic-level bundles it, goleveldb v1.0.0, Pebble v2). formats.md §4–6.
import type { LogFileReport, ManifestReport, TableReport, WalReport } from './doctor';
import type { CurrentReport, StoreEngine } from './store-files';

export interface LogStoreFinding {
  /** Stable: `current-missing`, `manifest-torn-tail`, `log-corrupt`, `table-block-checksum`, … */
  code: string;
  /** error: the engine refuses or loses data; warning: it opens, but something needs repair; info: nothing to repair. */
  severity: 'error' | 'warning' | 'info';
  file: string;
  /** Byte offset in `file` the finding is about, when there is one. */
  offset: number | null;
  message: string;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** What each engine does with a descriptor that lacks a required field (formats.md §6). */
function refusal(engine: StoreEngine, missing: string[]): string {
  return engine === 'pebble'
    ? `Pebble refuses to open a MANIFEST without ${missing.join(', ')}`
    : `C++ LevelDB and goleveldb refuse to open it (${missing.some((m) => /next/i.test(m)) ? '"no meta-nextfile entry in descriptor"' : `no ${missing.join(', ')}`})`;
}

export function currentFinding(engine: StoreEngine, c: CurrentReport, newest: string | undefined): LogStoreFinding {
  const fix = newest ? `the newest MANIFEST here is ${newest}` : 'there is no MANIFEST here at all';
  const bak = c.fallbacks?.find((f) => f.status === 'ok');
  const goFallback = bak ? `goleveldb falls back to ${bak.file} (→ ${bak.manifest})` : 'goleveldb refuses to open it';
  if (engine === 'pebble') {
    const what =
      c.status === 'missing'
        ? 'there is no marker.manifest.* file: Pebble cannot tell which MANIFEST is current and takes the directory for one without a store'
        : c.status === 'names-missing-manifest'
          ? `${c.file} names ${c.manifest}, which is not here: Pebble cannot open the store`
          : `${c.file} names ${c.content}, not a MANIFEST: Pebble cannot open the store`;
    return { code: `marker-${c.status}`, severity: 'error', file: c.file, offset: null, message: `${what}; ${fix}` };
  }
  const what = {
    missing: `CURRENT is missing: C++ LevelDB with create_if_missing (classic-level's default) would start a new empty store here and delete the existing tables as obsolete; ${goFallback}`,
    'no-newline': `CURRENT names ${c.manifest} but does not end with a newline (an interrupted write): C++ LevelDB refuses to open ("CURRENT file does not end with newline"); ${goFallback}. Adding the newline repairs it`,
    'names-missing-manifest': `CURRENT names ${c.manifest}, which is not here: the engine cannot open the store; ${goFallback}`,
    invalid: `CURRENT holds ${c.content}, not a MANIFEST name: the engine cannot open the store; ${goFallback}`,
    ok: '',
  }[c.status];
  return { code: `current-${c.status}`, severity: 'error', file: c.file, offset: null, message: `${what}; ${fix}` };
}

function tailWords(f: LogFileReport): string {
  const bad = f.firstBadOffset ?? f.validBytes;
  return f.status === 'zeroed-tail'
    ? `the file ends in zeros from offset ${bad} (${f.fileBytes - bad} bytes to EOF), where a record header should be: preallocated space or a crash while appending`
    : `the last record (offset ${bad}, ${f.fileBytes - bad} bytes to EOF) is torn: a crash while appending`;
}

export function manifestFinding(engine: StoreEngine, m: ManifestReport, { losesTables = false, missingTables = 0 } = {}): LogStoreFinding {
  const offset = m.firstBadOffset;
  if (m.status === 'torn-tail' || m.status === 'zeroed-tail') {
    const after = m.missingAfterTruncate.length
      ? `truncating to ${m.validBytes} leaves ${plural(m.records, 'complete record')} without ${m.missingAfterTruncate.join(', ')}: ${refusal(engine, m.missingAfterTruncate)}, with or without the torn bytes`
      : losesTables
        ? `truncating to ${m.validBytes} keeps a MANIFEST the engine opens (${plural(m.records, 'complete record')}), but not every key (manifest-truncate-loses-tables)`
        : missingTables
          ? `truncating to ${m.validBytes} keeps a well-formed MANIFEST (${plural(m.records, 'complete record')}), but the version it describes lacks ${plural(missingTables, 'table')} (table-missing), so the engine still refuses it`
          : `truncating to ${m.validBytes} keeps a MANIFEST the engine opens (${plural(m.records, 'complete record')})`;
    return { code: `manifest-${m.status}`, severity: m.missingAfterTruncate.length || losesTables || missingTables ? 'error' : 'warning', file: m.file, offset, message: `${m.file}: ${tailWords(m)}; ${after}` };
  }
  const c = m.corruption;
  const what =
    c?.kind === 'version-edit'
      ? `the record at offset ${offset} is complete and its checksum is valid, but its VersionEdit does not decode (${c.message}): corruption, not a torn tail`
      : `${c?.kind ?? 'corruption'} at offset ${offset} (${c?.message ?? 'unreadable'})`;
  const later = m.validRecordsAfter ? '; complete records follow it, so this is damage in the middle, not a crash while appending' : '';
  const meaning =
    engine === 'pebble'
      ? c?.kind === 'version-edit'
        ? 'Pebble refuses to open ("pebble: corrupt manifest")'
        : 'Pebble stops reading the MANIFEST there and would open the older version before it'
      : c?.kind === 'version-edit'
        ? 'C++ LevelDB refuses to open ("Corruption: VersionEdit: …"); goleveldb skips the record unless StrictManifest, opening a version without its changes'
        : 'C++ LevelDB refuses to open ("Corruption: checksum mismatch" or similar); goleveldb skips the damaged chunk unless StrictManifest, opening a version without its changes';
  return {
    code: 'manifest-corrupt',
    severity: 'error',
    file: m.file,
    offset,
    message: `${m.file}: ${what}${later}. ${meaning}. Truncating to ${m.validBytes} would drop every record from there on: restore the MANIFEST from a backup, or rebuild it from the tables (C++ RepairDB, goleveldb Recover)`,
  };
}

export function logFinding(engine: StoreEngine, w: WalReport, newest: boolean): LogStoreFinding {
  if (w.status === 'torn-tail' || w.status === 'zeroed-tail') {
    const opens =
      engine === 'pebble' && !newest
        ? 'Pebble tolerates a torn tail only in the newest WAL, so it refuses to open ("pebble: error when replaying WAL")'
        : 'the engine drops the incomplete record at open';
    return { code: `log-${w.status}`, severity: 'warning', file: w.file, offset: w.firstBadOffset, message: `${w.file}: ${tailWords(w)}; ${opens}; truncating to ${w.validBytes} keeps its ${plural(w.records, 'complete record')}` };
  }
  const c = w.corruption;
  const meaning =
    engine === 'pebble'
      ? 'Pebble refuses to open ("pebble: error when replaying WAL")'
      : 'C++ LevelDB drops the damaged block at open unless paranoid_checks (its writes are lost silently); goleveldb skips the damaged chunk unless StrictJournal';
  return {
    code: 'log-corrupt',
    severity: 'error',
    file: w.file,
    offset: w.firstBadOffset,
    message: `${w.file}: ${c?.kind ?? 'corruption'} at offset ${w.firstBadOffset} (${c?.message ?? 'unreadable'})${w.validRecordsAfter ? '; complete records follow it' : ''}. ${meaning}`,
  };
}

export function tableFinding(engine: StoreEngine, t: TableReport, footer?: string, m?: ManifestReport): LogStoreFinding[] {
  const where = t.level === null ? '' : ` at level ${t.level}`;
  switch (t.status) {
    case 'missing':
      return [{ code: 'table-missing', severity: 'error', file: t.file, offset: null, message: `${t.file} is missing: ${m?.file ?? 'the MANIFEST'} lists it${where} (${t.expectedSize} bytes); the engine refuses to open a version whose tables are gone` }];
    case 'size-mismatch':
      return [{ code: 'table-size-mismatch', severity: 'error', file: t.file, offset: null, message: `${t.file} is ${t.size} bytes; the MANIFEST records ${t.expectedSize}: ${(t.size ?? 0) < (t.expectedSize ?? 0) ? 'truncated' : 'grown or replaced'}; the engine reads the footer at the recorded size and fails` }];
    case 'bad-footer':
      return [{ code: 'table-bad-footer', severity: 'error', file: t.file, offset: t.size === null ? null : Math.max(0, t.size - 48), message: `${t.file}${where}: ${footer ?? 'bad footer'}; the engine cannot open the table` }];
    case 'bad-block':
      return (t.problems ?? []).map((p) => ({
        code: p.block === 'data' ? 'table-block-checksum' : `table-${p.block}-block`,
        severity: 'error' as const,
        file: t.file,
        offset: p.offset,
        message: `${t.file}${where}: the ${p.block} block at offset ${p.offset} (${p.size} bytes): ${p.reason}; ${
          engine === 'pebble'
            ? 'Pebble fails reads and compactions that touch it'
            : "goleveldb fails reads that touch it (StrictBlockChecksum, on by default) and its Recover drops or rebuilds the table; C++ LevelDB checks it only with verify_checksums (off by default), so it may serve the damaged block's bytes"
        }`,
      }));
    case 'unreferenced':
      return [{ code: 'table-unreferenced', severity: 'info', file: t.file, offset: null, message: `${t.file} is in no version of ${m?.file ?? 'the MANIFEST'}: a leftover of a flush or compaction; the engine deletes it at open` }];
    default:
      return [];
  }
}

export function truncateLosesFinding(m: ManifestReport, orphans: string[], wal: string): LogStoreFinding {
  const shown = orphans.slice(0, 5).join(', ') + (orphans.length > 5 ? ` and ${orphans.length - 5} more` : '');
  const one = orphans.length === 1;
  return {
    code: 'manifest-truncate-loses-tables',
    severity: 'error',
    file: m.file,
    offset: m.validBytes,
    message:
      `the complete records of ${m.file} (up to ${m.validBytes}) do not list ${shown}, written by the torn record: opened as it is or truncated, the engine deletes ${one ? 'it' : 'them'} as obsolete, ` +
      `and ${wal}, the WAL ${one ? 'its' : 'their'} keys would be replayed from, is gone: those keys would be lost. A crash while appending does not leave this (the engine deletes a WAL only after the record that flushed it is written): the MANIFEST was cut or damaged later`,
  };
}
