// `npm run bench`: our restore and doctor against baselines measured in the same run, as ratios of
// medians. Not a test: nothing is asserted on timings; a MISS is reported, not failed.
//
//   restore  restoreLanceFiles on the seed incident (295 files) and a 10x one (2,950 files)
//            vs `cp` + `sha256sum` of the same LFS objects (xargs batches), and the same + `sync`
//   doctor   diagnoseLance on a 1,000-version table vs lancedb's table.listVersions()
import { interleave, machineState, median, ms, ratio, spread, table, type Samples } from './harness';
import { doctorCase, LIST_ONLY, OPEN_LIST, OURS as DOCTOR_OURS } from './doctor';
import { CP_SHA, CP_SHA_SYNC, OURS as RESTORE_OURS, restoreCase } from './restore';

const RESTORE_TARGET = 1.3;
const DOCTOR_TARGET = 1.0;

const plan = {
  doctor: { versions: 1000, rounds: 7, warmup: 1 },
  restoreSeed: { rounds: 11, warmup: 1 },
  restore10x: { rounds: 5, warmup: 1 },
};

const started = performance.now();
const log = (msg: string) => process.stderr.write(`bench: ${msg}\n`);
console.log(`machine at start: ${machineState()}`);

const rows: string[][] = [['case', 'what', 'files', 'bytes', 'median ms [min–max]', 'ratio ours/this']];
const summary: string[] = [];
const verdict = (r: number, target: number) => (r <= target ? 'PASS' : 'MISS');

// --- doctor -----------------------------------------------------------------------------------
{
  log(`building a ${plan.doctor.versions}-version LanceDB table`);
  const c = await doctorCase(plan.doctor.versions);
  try {
    log(`built in ${ms(c.buildMs)} ms (manifest names ${c.scheme}); ${plan.doctor.rounds} rounds`);
    const s = await interleave(c.variants, plan.doctor);
    const label = `doctor ${c.versions} versions (${c.scheme})`;
    rows.push([label, DOCTOR_OURS, '', '', spread(s[DOCTOR_OURS]!), '']);
    rows.push([label, 'lancedb listVersions()', '', '', spread(s[LIST_ONLY]!), ratio(s[DOCTOR_OURS]!, s[LIST_ONLY]!).toFixed(2)]);
    rows.push([label, OPEN_LIST, '', '', spread(s[OPEN_LIST]!), ratio(s[DOCTOR_OURS]!, s[OPEN_LIST]!).toFixed(2)]);
    const r = ratio(s[DOCTOR_OURS]!, s[LIST_ONLY]!);
    summary.push(
      `${verdict(r, DOCTOR_TARGET)} doctor (${c.versions} versions): diagnoseLance ${ms(median(s[DOCTOR_OURS]!))} ms = ${r.toFixed(2)}x listVersions() ` +
        `(target <= ${DOCTOR_TARGET}x; ${ratio(s[DOCTOR_OURS]!, s[OPEN_LIST]!).toFixed(2)}x connect+open+listVersions)`,
    );
  } finally {
    await c.cleanup();
  }
}

// --- restore ----------------------------------------------------------------------------------
const restoreCases = [
  { label: 'restore seed', options: { versions: 'seed' as const }, ...plan.restoreSeed },
  // 'seed' numbering allows at most 360 appended rows: the 10x table keeps the old and newest manifests.
  { label: 'restore 10x', options: { newRows: 3860, missing: 2950 }, ...plan.restore10x },
];
for (const rc of restoreCases) {
  log(`${rc.label}: building the incident`);
  const c = await restoreCase(rc.label, rc.options);
  try {
    log(`${rc.label}: built in ${ms(c.buildMs)} ms; ${c.files} files, ${c.bytes} bytes; ${rc.rounds} rounds`);
    const s: Samples = await interleave(c.variants, rc);
    const files = String(c.files);
    const bytes = String(c.bytes);
    rows.push([rc.label, RESTORE_OURS, files, bytes, spread(s[RESTORE_OURS]!), '']);
    rows.push([rc.label, CP_SHA, files, bytes, spread(s[CP_SHA]!), ratio(s[RESTORE_OURS]!, s[CP_SHA]!).toFixed(2)]);
    rows.push([rc.label, CP_SHA_SYNC, files, bytes, spread(s[CP_SHA_SYNC]!), ratio(s[RESTORE_OURS]!, s[CP_SHA_SYNC]!).toFixed(2)]);
    const r = ratio(s[RESTORE_OURS]!, s[CP_SHA]!);
    summary.push(
      `${verdict(r, RESTORE_TARGET)} ${rc.label} (${c.files} files, ${c.bytes} bytes): restoreLanceFiles ${ms(median(s[RESTORE_OURS]!))} ms = ${r.toFixed(2)}x cp + sha256sum ` +
        `(target <= ${RESTORE_TARGET}x; ${ratio(s[RESTORE_OURS]!, s[CP_SHA_SYNC]!).toFixed(2)}x cp + sha256sum + sync)`,
    );
  } finally {
    await c.cleanup();
  }
}

console.log('');
console.log(table(rows));
console.log('');
for (const line of summary) console.log(line);
console.log('');
console.log(`baselines: "cp + sha256sum" = one xargs cp -t <dir> over the LFS objects, then one xargs sha256sum over the copies, sums checked;`);
console.log(`           "+ sync" = then one xargs sync over every copy and the directory (fsync each, as the restore does).`);
console.log(`           doctor: a fresh lancedb connection and openTable each run; the target is judged on listVersions() alone.`);
console.log(`machine at end: ${machineState()}; total ${(performance.now() - started) / 1000 | 0} s`);
