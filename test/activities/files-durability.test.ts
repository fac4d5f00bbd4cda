// Snapshot copies and quarantine moves on real files: SHA256SUMS appears only whole (written to a
// temp file, fsynced, renamed), never through a symlink; a copy never writes through a symlink left
// at its path; a move never lands through a symlinked directory or over a symlink. (That fsync
// happened cannot be observed from here; the code paths that run it are the ones exercised.)
// The activities heartbeat, so they run in a mock activity environment.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { moveRecorded, readJournal, snapshotTree } from '../../src/activities/files';
import { failure } from './adapter-helpers';

const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
const env = new MockActivityEnvironment(undefined, { logger: quiet });
/** Runs `fn` as an activity would (heartbeats and cancellation need the context). */
const inActivity = <T>(fn: () => Promise<T>): Promise<T> => env.run(fn);

let work: string;
let table: string;
let outside: string;
let n = 0;

const sha = (text: string) => createHash('sha256').update(text).digest('hex');
const tree = async (dir: string) => (await readdir(dir, { recursive: true })).sort();

const safetyViolation = (...words: string[]) => failure('SafetyViolation', ...words);

before(async () => {
  work = await realpath(await mkdtemp(join(tmpdir(), 'files-durability-')));
});
after(() => rm(work, { recursive: true, force: true }));
beforeEach(async () => {
  n += 1;
  table = join(work, `table${n}`);
  outside = join(work, `outside${n}`);
  await mkdir(join(table, '_versions'), { recursive: true });
  await mkdir(join(table, '_transactions'));
  await writeFile(join(table, '_versions', '1.manifest'), 'one');
  await writeFile(join(table, '_versions', '2.manifest'), 'two');
  await writeFile(join(table, '_transactions', '1.txn'), 'txn');
  await mkdir(outside);
  await writeFile(join(outside, 'victim'), 'keep me');
});

const snapshot = (destination: string) => inActivity(() => snapshotTree(table, ['_versions', '_transactions'], destination));

describe('snapshotTree', () => {
  it('writes the copies, then SHA256SUMS whole, and leaves no temp file', async () => {
    const destination = join(work, `snap${n}`, 'deep', 'snapshot');
    const result = await snapshot(destination);
    assert.equal(result.files, 3);
    const sums = await readFile(join(destination, 'SHA256SUMS'), 'utf8');
    assert.equal(sums, `${sha('one')}  _versions/1.manifest\n${sha('two')}  _versions/2.manifest\n${sha('txn')}  _transactions/1.txn\n`);
    assert.deepEqual(await tree(destination), ['SHA256SUMS', '_transactions', '_transactions/1.txn', '_versions', '_versions/1.manifest', '_versions/2.manifest']);
    assert.equal((await snapshot(destination)).already, true, 'a second run finds it done');
  });

  it('a retry after a crash mid-SHA256SUMS: the partial temp is not the marker, and is replaced', async () => {
    const destination = join(work, `snap${n}`);
    await mkdir(join(destination, '_versions'), { recursive: true });
    await writeFile(join(destination, '_versions', '1.manifest'), 'on'); // a copy cut short
    await writeFile(join(destination, '.SHA256SUMS.partial'), `${sha('one')}  _versions/1.manifest\n`); // half the sums
    const result = await snapshot(destination);
    assert.equal(result.already, false, 'without SHA256SUMS the copy is done again');
    assert.equal(result.files, 3);
    assert.equal((await readFile(join(destination, 'SHA256SUMS'), 'utf8')).split('\n').filter(Boolean).length, 3);
    assert.equal(await readFile(join(destination, '_versions', '1.manifest'), 'utf8'), 'one');
    assert.equal(existsSync(join(destination, '.SHA256SUMS.partial')), false);
  });

  it('a SHA256SUMS symlink to outside is neither read nor written through', async () => {
    for (const target of [join(outside, 'victim'), join(outside, 'new-file')]) {
      const destination = join(work, `snap${n}-${target.endsWith('victim') ? 'existing' : 'dangling'}`);
      await mkdir(destination);
      await symlink(target, join(destination, 'SHA256SUMS'));
      await assert.rejects(snapshot(destination), safetyViolation('SHA256SUMS', 'is a symlink', target));
    }
    assert.deepEqual(await tree(outside), ['victim']);
    assert.equal(await readFile(join(outside, 'victim'), 'utf8'), 'keep me');
  });

  it('symlinks left at a copy\'s path or at the temp file\'s path are replaced, not written through', async () => {
    const destination = join(work, `snap${n}`);
    await mkdir(join(destination, '_versions'), { recursive: true });
    await symlink(join(outside, 'victim'), join(destination, '_versions', '1.manifest'));
    await symlink(join(outside, 'sums'), join(destination, '.SHA256SUMS.partial'));
    await snapshot(destination);
    assert.equal((await lstat(join(destination, '_versions', '1.manifest'))).isFile(), true);
    assert.equal(await readFile(join(destination, '_versions', '1.manifest'), 'utf8'), 'one');
    assert.deepEqual(await tree(outside), ['victim']);
    assert.equal(await readFile(join(outside, 'victim'), 'utf8'), 'keep me');
  });
});

describe('moveRecorded', () => {
  it('moves, journals, and a second run returns the same record', async () => {
    const from = join(table, '_versions', '2.manifest');
    const to = join(work, `q${n}`, '_versions', '2.manifest');
    const journal = join(work, `q${n}.jsonl`);
    const move = await inActivity(() => moveRecorded(from, to, journal));
    assert.deepEqual(move, { from, to, sha256: sha('two') });
    assert.deepEqual(await readJournal(journal), [move]);
    assert.equal(existsSync(from), false);
    assert.deepEqual(await inActivity(() => moveRecorded(from, to, journal)), move);
  });

  it('a quarantine directory that is a symlink to outside: refused, nothing moved', async () => {
    const quarantine = join(work, `q${n}`);
    await mkdir(quarantine);
    await symlink(outside, join(quarantine, '_versions'));
    const from = join(table, '_versions', '2.manifest');
    await assert.rejects(inActivity(() => moveRecorded(from, join(quarantine, '_versions', '2.manifest'))), safetyViolation(join(quarantine, '_versions'), 'is a symlink'));
    assert.equal(await readFile(from, 'utf8'), 'two');
    assert.deepEqual(await tree(outside), ['victim']);
  });

  it('a dangling symlink at the destination counts as taken: refused, not replaced', async () => {
    const to = join(work, `q${n}`, '2.manifest');
    await mkdir(join(work, `q${n}`));
    await symlink(join(outside, 'new-file'), to);
    const from = join(table, '_versions', '2.manifest');
    await assert.rejects(inActivity(() => moveRecorded(from, to)), safetyViolation('the destination exists'));
    assert.equal((await lstat(to)).isSymbolicLink(), true);
    assert.equal(await readFile(from, 'utf8'), 'two');
    assert.deepEqual(await tree(outside), ['victim']);
  });
});
