// The doctor-bbolt bench's child: `node --import tsx bench/bbolt-check-child.ts <file>` runs
// checkBbolt on <file> alone in its process, then prints one JSON line: the report's summary, the
// check's own time, and this process's peak RSS (VmHWM from /proc/self/status, read after the
// check; getrusage's maxRSS where there is no /proc), so the RSS measured is the checker's own.
import { readFileSync } from 'node:fs';
import { checkBbolt } from '../src/format/bbolt/index';

/** Peak resident set of this process in bytes, and where the figure comes from. */
function peakRss(): { bytes: number; source: 'VmHWM' | 'maxRSS' } {
  try {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return { bytes: Number(m[1]) * 1024, source: 'VmHWM' };
  } catch {
    /* no /proc: fall back to getrusage */
  }
  return { bytes: process.resourceUsage().maxRSS * 1024, source: 'maxRSS' };
}

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: node --import tsx bench/bbolt-check-child.ts <bbolt file>\n');
  process.exit(2);
}
const started = performance.now();
const r = await checkBbolt(file);
const checkMs = performance.now() - started;
const rss = peakRss();
process.stdout.write(
  `${JSON.stringify({
    healthy: r.healthy,
    fileBytes: r.fileBytes,
    pageSize: r.pageSize,
    activeMeta: r.activeMeta,
    findings: r.findings.length + r.findingsDropped,
    firstFindings: r.findings.slice(0, 5).map((f) => f.message),
    pagesVisited: r.stats.pagesVisited,
    buckets: r.stats.buckets,
    keys: r.stats.keys,
    bucketKeys: Object.fromEntries(r.stats.bucketKeys.map((b) => [b.bucket, b.keys])),
    freePages: r.stats.freePages,
    checkMs,
    peakRssBytes: rss.bytes,
    rssSource: rss.source,
  })}\n`,
);
