// The short human summary of `runbook doctor leveldb|pebble` (--json prints the whole diagnosis).
import type { LogStoreDiagnosis } from '../engines/logstore/doctor';

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
