// The short human summaries of `runbook doctor lance|leveldb|pebble|bbolt` (--json prints the whole diagnosis).
import type { LanceDiagnosis } from '../engines/lance/doctor';
import type { LogStoreDiagnosis } from '../engines/logstore/doctor';
import type { BboltReport } from '../format/bbolt/index';

const MAX_FINDINGS = 8;

export function formatLogStoreDiagnosis(d: LogStoreDiagnosis): string {
  const m = d.manifest;
  const pointer = d.engine === 'pebble' ? 'manifest marker' : 'CURRENT';
  const where = (f: { status: string; firstBadOffset: number | null }) => (f.status === 'clean' ? 'clean' : `${f.status} at offset ${f.firstBadOffset}`);
  const live = d.tables.filter((t) => t.live);
  const damaged = d.logs.filter((l) => l.status !== 'clean');
  const shownFindings = d.findings.filter((f) => f.severity !== 'info');
  const info = d.findings.length - shownFindings.length;
  return [
    `${d.path}: ${d.healthy ? 'healthy' : 'NOT healthy'} (${d.engine})`,
    `  ${pointer}: ${d.current.status}${d.current.manifest ? ` → ${d.current.manifest}` : ''}`,
    m
      ? `  ${m.file}${m.chosenBy === d.current.file ? '' : ` (chosen by ${m.chosenBy})`}: ${where(m)}; ${m.records} complete record${m.records === 1 ? '' : 's'}, ${m.validBytes} of ${m.fileBytes} bytes valid` +
        (m.missingAfterTruncate.length ? `; lacks ${m.missingAfterTruncate.join(', ')}` : '')
      : '  no MANIFEST',
    `  WALs: ${d.logs.length} (${d.logs.filter((l) => l.live).length} live)${damaged.length ? `; ${damaged.map((l) => `${l.file} ${where(l)}`).join(', ')}` : ', all clean'}`,
    `  tables: ${live.length} live, ${live.filter((t) => t.status === 'ok').length} sound, ${d.missingTables.length} missing, ${d.tables.filter((t) => t.status === 'unreferenced').length} unreferenced`,
    ...(d.healthy ? [] : [`  truncating torn tails ${d.truncatable ? 'repairs every problem found' : 'does not repair it'}`]),
    ...(shownFindings.length ? [`  ${shownFindings.length} finding${shownFindings.length === 1 ? '' : 's'}${info ? ` (and ${info} for information)` : ''}:`] : []),
    ...shownFindings.slice(0, MAX_FINDINGS).map((f) => `  [${f.code}] ${f.message}`),
    ...(shownFindings.length > MAX_FINDINGS ? [`  … and ${shownFindings.length - MAX_FINDINGS} more (--json lists them all)`] : []),
    '',
  ].join('\n');
}

export function formatLanceDiagnosis(d: LanceDiagnosis): string {
  const current = d.versions.find((v) => v.version === d.currentVersion);
  const complete = d.versions.find((v) => v.version === d.latestCompleteVersion);
  return [
    `${d.path}: ${d.healthy ? 'healthy' : 'NOT healthy'}`,
    `  Lance reads version ${d.currentVersion} (${current?.rows} rows)${d.currentComplete ? '' : `; ${d.missingCount} files it needs are missing or wrong`}`,
    `  newest complete version: ${d.latestCompleteVersion === null ? 'none' : `${d.latestCompleteVersion} (${complete?.rows} rows)`}`,
    `  ${d.versions.length} versions, ${d.versions.filter((v) => !v.complete).length} incomplete; ${d.orphans.length} orphan files`,
    ...(d.missingCount ? [`  restorable from git-LFS (${d.lfsRepo}): ${d.restorable.length}; unrestorable: ${d.unrestorable.length}`] : []),
    ...(d.findings.length ? [`  ${d.findings.length} finding${d.findings.length === 1 ? '' : 's'}:`] : []),
    // One per unrestorable file can run to hundreds: the summary stays short, --json has them all.
    ...d.findings.slice(0, 10).map((f) => `  [${f.code}] ${f.message}`),
    ...(d.findings.length > 10 ? [`  … and ${d.findings.length - 10} more (--json lists them all)`] : []),
    '',
  ].join('\n');
}

export function formatBboltReport(r: BboltReport): string {
  const meta = (m: BboltReport['metas'][number]) =>
    `  meta ${m.page}: ${m.valid ? 'valid' : `INVALID (${m.error})`}, txid ${m.txid}, root page ${m.root}, freelist ${m.freelist ?? 'none (not persisted)'}${m.page === r.activeMeta ? '  ← bbolt opens with this one' : ''}`;
  const shown = r.findings.slice(0, MAX_FINDINGS);
  const more = r.findings.length - shown.length + r.findingsDropped;
  return [
    `${r.path}: ${r.healthy ? 'healthy' : 'NOT healthy'} (bbolt, page size ${r.pageSize}, ${r.fileBytes} bytes)`,
    ...r.metas.map(meta),
    `  ${r.stats.pagesVisited} pages walked, ${r.stats.buckets} bucket${r.stats.buckets === 1 ? '' : 's'}, ${r.stats.keys} readable keys`,
    ...(r.findings.length ? [`  ${r.findings.length + r.findingsDropped} finding${r.findings.length + r.findingsDropped === 1 ? '' : 's'}:`] : []),
    ...shown.map((f) => `  [${f.code}] ${f.message}`),
    ...(more > 0 ? [`  … and ${more} more (--json lists ${r.findingsDropped ? 'the first ' : ''}${r.findings.length})`] : []),
    '',
  ].join('\n');
}
