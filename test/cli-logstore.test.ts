// `runbook doctor leveldb|pebble` as an operator runs it: the real CLI process on real goleveldb,
// Pebble and C++ LevelDB stores, exit codes (0 healthy, 1 findings, 2 bad input), human and JSON output.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { execa } from 'execa';
import { damageTableBlock, tearLastManifestRecord } from './helpers/log-store-damage';
import { fingerprint, fresh, symlinkOut, useScratch, writeCppLevelDb, writeStore } from './helpers/log-stores';

const root = fileURLToPath(new URL('..', import.meta.url));
useScratch('cli-logstore-');

const runbook = (args: string[]) => execa(process.execPath, ['bin/runbook.js', ...args], { cwd: root, reject: false, timeout: 120_000 });
const shown = (r: { exitCode?: number; stdout: string; stderr: string }) => `exit ${r.exitCode}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

describe('runbook doctor leveldb|pebble', () => {
  test('a healthy goleveldb store: exit 0 and a short summary; --json carries the documented fields', async () => {
    const dir = fresh();
    await writeStore('goleveldb', dir, { keys: 3000, tables: 2, walKeys: 200 });
    const human = await runbook(['doctor', 'leveldb', dir]);
    assert.equal(human.exitCode, 0, shown(human));
    assert.match(human.stdout, new RegExp(`^${dir}: healthy \\(leveldb\\)\n  CURRENT: ok → MANIFEST-000000\n`));
    assert.match(human.stdout, /tables: 2 live, 2 sound, 0 missing, 0 unreferenced/);
    assert.ok(human.stdout.split('\n').length <= 15);

    const json = await runbook(['doctor', 'leveldb', dir, '--json']);
    assert.equal(json.exitCode, 0, shown(json));
    const d = JSON.parse(json.stdout);
    assert.deepEqual([d.engine, d.path, d.healthy, d.truncatable, d.findings, d.missingTables], ['leveldb', dir, true, false, [], []]);
    assert.deepEqual([d.current.status, d.current.manifest], ['ok', 'MANIFEST-000000']);
    for (const field of ['file', 'status', 'validBytes', 'fileBytes', 'firstBadOffset', 'truncatable', 'records', 'missingAfterTruncate', 'comparator', 'logNumber', 'nextFileNumber', 'lastSequence']) {
      assert.ok(field in d.manifest, `manifest.${field}`);
    }
    assert.equal(typeof d.manifest.lastSequence, 'string');
    for (const field of ['file', 'status', 'validBytes', 'fileBytes', 'firstBadOffset', 'truncatable', 'live', 'headerFormat']) assert.ok(field in d.logs[0], `logs[].${field}`);
    for (const field of ['file', 'status', 'live']) assert.ok(field in d.tables[0], `tables[].${field}`);
  });

  test('a healthy Pebble store: exit 0; its live WAL has recyclable headers', async () => {
    const dir = fresh();
    await writeStore('pebble', dir, { keys: 2000, tables: 1, walKeys: 200 });
    const json = await runbook(['doctor', 'pebble', dir, '--json']);
    assert.equal(json.exitCode, 0, shown(json));
    const d = JSON.parse(json.stdout);
    assert.equal(d.current.status, 'ok');
    assert.equal(d.logs.find((l: { live: boolean }) => l.live).headerFormat, 'recyclable');
  });

  test('a torn Pebble MANIFEST: exit 1, NOT healthy, the finding in words; --json says truncatable at the cut record', async () => {
    const dir = fresh();
    await writeStore('pebble', dir, { keys: 3000, tables: 2, walKeys: 200 });
    const tear = await tearLastManifestRecord(dir);
    const human = await runbook(['doctor', 'pebble', dir]);
    assert.equal(human.exitCode, 1, shown(human));
    assert.match(human.stdout, /NOT healthy \(pebble\)/);
    assert.match(human.stdout, new RegExp(`${tear.manifest}: torn-tail at offset ${tear.recordOffset}`));
    assert.match(human.stdout, /truncating torn tails repairs every problem found/);
    assert.match(human.stdout, new RegExp(`\\[manifest-torn-tail\\] ${tear.manifest}: the last record \\(offset ${tear.recordOffset}, `));
    const d = JSON.parse((await runbook(['doctor', 'pebble', dir, '--json'])).stdout);
    assert.deepEqual([d.manifest.status, d.manifest.firstBadOffset, d.manifest.validBytes, d.truncatable], ['torn-tail', tear.recordOffset, tear.validBytes, true]);
  });

  test('a C++ LevelDB store with a damaged table block: exit 1, the table named', async () => {
    const dir = fresh();
    await writeCppLevelDb(dir, 3000);
    const damage = await damageTableBlock(dir);
    const human = await runbook(['doctor', 'leveldb', dir]);
    assert.equal(human.exitCode, 1, shown(human));
    assert.match(human.stdout, new RegExp(`\\[table-block-checksum\\] ${damage.table}.*data block at offset ${damage.offset}`));
  });

  test('bad input: exit 2 with the reason, nothing changed (not a store, a file, a symlinked CURRENT, the other engine)', async () => {
    const dir = fresh();
    await mkdir(dir);
    await writeFile(join(dir, 'README'), 'not a store');
    const notStore = await runbook(['doctor', 'leveldb', dir]);
    assert.equal(notStore.exitCode, 2, shown(notStore));
    assert.equal(notStore.stderr, `runbook: doctor leveldb: ${dir}: not a LevelDB/Pebble store: no CURRENT, no marker.manifest.*, no MANIFEST-*`);
    assert.equal(notStore.stdout, '');

    const file = await runbook(['doctor', 'pebble', join(dir, 'README'), '--json']);
    assert.equal(file.exitCode, 2, shown(file));
    assert.match(file.stderr, /README: not a directory/);

    const store = fresh();
    await writeStore('goleveldb', store, { keys: 100 });
    const outside = fresh();
    await mkdir(outside);
    await symlinkOut(store, 'CURRENT', outside);
    const before = [await fingerprint(store), await fingerprint(outside)];
    const linked = await runbook(['doctor', 'leveldb', store, '--json']);
    assert.equal(linked.exitCode, 2, shown(linked));
    assert.match(linked.stderr, /CURRENT is a symlink; refusing to follow it/);
    assert.deepEqual([await fingerprint(store), await fingerprint(outside)], before);

    const other = await runbook(['doctor', 'pebble', store]);
    assert.equal(other.exitCode, 2, shown(other));
  });
});
