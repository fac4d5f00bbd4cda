// What a plan does on the host when it tries each repair of a LevelDB store: copies beside the store,
// asked of the real engine, then gone. The store is read and nothing else is left behind.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { claimScratch, predictOutcomes, requireFreeSpace, truncationsOf } from '../../src/engines/logstore/candidates';
import { doctorLogStore } from '../../src/engines/logstore/doctor';
import { treeDigest } from '../hostile/sandbox';
import { appendTornRecord, damageTableBlock } from '../helpers/log-store-damage';
import { writeStore } from '../helpers/log-stores';

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'candidates-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('trying each repair on scratch copies', () => {
  test('a damaged table: each choice counted by the engine; the store untouched and no scratch folder left', async () => {
    const dir = join(root, 'damaged.db');
    const written = await writeStore('goleveldb', dir, { keys: 4_000, tables: 4 });
    const { table } = await damageTableBlock(dir);
    const before = await treeDigest(root);
    const scratch = join(root, '.runbook-quarantine', 'damaged.db-run', 'plan-scratch');
    const p = await predictOutcomes('goleveldb', dir, [], scratch);
    assert.equal(p.asIs.opens, false, 'goleveldb fails when its iteration reaches the bad block');
    assert.match(p.asIs.error!, new RegExp(`checksum mismatch.*${table}`));
    assert.equal(p.readableKeys, written.keys, 'with checksums ignored every key still decodes');
    assert.ok(p.strict!.opens && p.rebuild!.opens);
    assert.ok(p.strict!.keys! < p.rebuild!.keys! && p.rebuild!.keys! < written.keys, JSON.stringify({ strict: p.strict!.keys, rebuild: p.rebuild!.keys }));
    assert.deepEqual(p.strict!.tables!.filter((t) => t.action === 'dropped').length, 1);
    assert.deepEqual(p.rebuild!.tables!.filter((t) => t.action === 'rebuilt').length, 1);
    assert.equal(await treeDigest(root), before, 'the store is byte for byte what it was, and the quarantine folder it made is gone');
  });

  test('a torn MANIFEST tail: cutting it on a copy gives every key', async () => {
    const dir = join(root, 'torn.db');
    const written = await writeStore('goleveldb', dir, { keys: 2_000, tables: 2 });
    await appendTornRecord(dir);
    const d = await doctorLogStore('leveldb', dir);
    const cuts = truncationsOf([d.manifest!, ...d.logs]);
    assert.equal(cuts.length, 1);
    const p = await predictOutcomes('goleveldb', dir, cuts, join(root, 'scratch-torn'), { recoveries: false });
    assert.deepEqual([p.truncate!.opens, p.truncate!.keys, p.truncate!.digest], [true, written.keys, written.digest]);
    assert.equal(p.strict, undefined, 'no recovery tried when none is asked for');
  });

  test('a folder at the scratch path that this tool did not make is refused and kept', async () => {
    const theirs = join(root, 'theirs');
    await mkdir(theirs);
    await writeFile(join(theirs, 'data'), 'keep me');
    await assert.rejects(claimScratch(theirs), /was not made by this tool; refusing to use or remove it/);
    assert.deepEqual(await readdir(theirs), ['data']);
  });

  test('too little free space is refused, naming the numbers', async () => {
    await assert.rejects(requireFreeSpace(join(root, 'not-yet', 'there'), 2 ** 60, 'a snapshot'), new RegExp(`a snapshot needs \\d+ bytes on the filesystem of ${root}/not-yet/there; \\d+ are free`));
  });
});
