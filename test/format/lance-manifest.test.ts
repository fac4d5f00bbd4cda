// Lance manifest names and bytes, against real tables written by @lancedb/lancedb (both naming
// schemes), plus damaged copies of real manifests.
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as lancedb from '@lancedb/lancedb';
import { LanceFormatError, isLanceFormatError, manifestFileName, parseManifest, parseManifestName, type LanceManifest } from '../../src/format/lance/index';
import { FragmentCache } from '../../src/format/lance/manifest';

const rows = (start: number, n: number) =>
  Array.from({ length: n }, (_, i) => ({ id: start + i, name: `img${start + i}`, vec: [1, 2, 3, 4].map((x) => x * (start + i)) }));

/**
 * A table with 5 versions: 1 create (10 rows), 2 append (10), 3 delete id < 5 (deletion file),
 * 4 append (5), 5 scalar index on id. Returns the table directory and countRows() per version.
 */
async function makeTable(dir: string, scheme: 'v1' | 'v2'): Promise<{ tableDir: string; counts: Map<number, number> }> {
  const db = await lancedb.connect(dir);
  const options = scheme === 'v1' ? { storageOptions: { new_table_enable_v2_manifest_paths: 'false' } } : {};
  const table = await db.createTable('images', rows(0, 10), options);
  await table.add(rows(10, 10));
  await table.delete('id < 5');
  await table.add(rows(20, 5));
  await table.createIndex('id');
  const counts = new Map<number, number>();
  for (const { version } of await table.listVersions()) {
    await table.checkout(version);
    counts.set(version, await table.countRows());
  }
  table.close();
  db.close();
  return { tableDir: join(dir, 'images.lance'), counts };
}

/** Every manifest of a table, parsed, by version. */
async function readManifests(tableDir: string): Promise<Map<number, { name: string; manifest: LanceManifest }>> {
  const out = new Map<number, { name: string; manifest: LanceManifest }>();
  for (const name of await readdir(join(tableDir, '_versions'))) {
    const parsed = parseManifestName(name);
    if (!parsed) continue;
    out.set(parsed.version, { name, manifest: parseManifest(await readFile(join(tableDir, '_versions', name)), name) });
  }
  return out;
}

/** assert.throws validator: a LanceFormatError for `file` at `offset` whose reason matches `reason`. */
const formatError = (file: string, offset: number, reason: RegExp) => (err: unknown) => {
  assert.ok(err instanceof LanceFormatError, `expected LanceFormatError, got ${String(err)}`);
  assert.ok(isLanceFormatError(err));
  assert.equal(err.name, 'LanceFormatError');
  assert.equal(err.file, file);
  assert.equal(err.offset, offset, `offset (message: ${err.message})`);
  assert.match(err.reason, reason);
  assert.equal(err.message, `${file}: ${err.reason} at byte ${offset}`);
  return true;
};

let work: string;
const tables: Partial<Record<'v1' | 'v2', { tableDir: string; counts: Map<number, number> }>> = {};

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'lance-manifest-'));
  tables.v1 = await makeTable(join(work, 'v1'), 'v1');
  tables.v2 = await makeTable(join(work, 'v2'), 'v2');
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('parseManifestName / manifestFileName', () => {
  test('V1 and V2 names, both ways', () => {
    assert.deepEqual(parseManifestName('1.manifest'), { version: 1, scheme: 'v1' });
    assert.deepEqual(parseManifestName('421.manifest'), { version: 421, scheme: 'v1' });
    assert.deepEqual(parseManifestName('18446744073709551614.manifest'), { version: 1, scheme: 'v2' });
    assert.deepEqual(parseManifestName('18446744073709551194.manifest'), { version: 421, scheme: 'v2' });
    assert.equal(manifestFileName(1, 'v2'), '18446744073709551614.manifest');
    assert.equal(manifestFileName(421, 'v1'), '421.manifest');
    for (const version of [0, 1, 9, 10, 421, 1_000_000, Number.MAX_SAFE_INTEGER]) {
      for (const scheme of ['v1', 'v2'] as const) assert.deepEqual(parseManifestName(manifestFileName(version, scheme)), { version, scheme });
    }
    // A V2 name always has 20 digits, zero-padded.
    assert.equal(manifestFileName(Number.MAX_SAFE_INTEGER, 'v2').length, 29);
  });

  test('detached, staging, hint and other names are ignored', () => {
    for (const name of [
      'd1.manifest',
      'd9223372036854775809.manifest',
      '1.manifest-dd3a6c1e-8f3e-4d5c-9a7b-2c1d0e9f8a7b',
      '18446744073709551614.manifest-dd3a6c1e-8f3e-4d5c-9a7b-2c1d0e9f8a7b',
      'latest_version_hint.json',
      '_latest.manifest',
      '.manifest',
      '-1.manifest',
      '1.5.manifest',
      ' 1.manifest',
      '1.txn',
      '99999999999999999999.manifest', // 20 digits above u64::MAX
      '100000000000000000000.manifest', // 21 digits
      '9007199254740992.manifest', // 2^53: beyond a safe JS number
    ]) {
      assert.equal(parseManifestName(name), undefined, name);
    }
  });
});

for (const scheme of ['v1', 'v2'] as const) {
  describe(`real lancedb table, ${scheme} names`, () => {
    test('every manifest name has the expected scheme and lists versions 1..5', async () => {
      const { tableDir } = tables[scheme]!;
      const names = (await readdir(join(tableDir, '_versions'))).filter((n) => n.endsWith('.manifest')).sort();
      const parsed = names.map((n) => parseManifestName(n));
      assert.ok(parsed.every((p) => p?.scheme === scheme), JSON.stringify(names));
      assert.deepEqual(parsed.map((p) => p!.version).sort((a, b) => a - b), [1, 2, 3, 4, 5]);
      for (const name of names) assert.equal(manifestFileName(parseManifestName(name)!.version, scheme), name);
    });

    test('version, rows and deletions match what lancedb reports for every version', async () => {
      const { tableDir, counts } = tables[scheme]!;
      const manifests = await readManifests(tableDir);
      assert.deepEqual([...manifests.keys()].sort(), [...counts.keys()].sort());
      for (const [version, { name, manifest }] of manifests) {
        assert.equal(manifest.version, version, name);
        assert.equal(manifest.rows, counts.get(version), `rows of version ${version}`);
        assert.equal(manifest.rows, manifest.physicalRows - manifest.deletedRows);
        assert.ok(manifest.timestamp && !Number.isNaN(Date.parse(manifest.timestamp)), `timestamp ${manifest.timestamp}`);
      }
      assert.deepEqual([1, 2, 3, 4, 5].map((v) => [manifests.get(v)!.manifest.physicalRows, manifests.get(v)!.manifest.deletedRows]), [[10, 0], [20, 0], [20, 5], [25, 5], [25, 5]]);
      // The delete sets the "deletion files" feature flag (1).
      assert.equal(manifests.get(2)!.manifest.readerFeatureFlags & 1, 0);
      assert.equal(manifests.get(3)!.manifest.readerFeatureFlags & 1, 1);
    });

    test('data files exist with the recorded sizes; deletion files, transaction files and index folders exist', async () => {
      const { tableDir } = tables[scheme]!;
      const manifests = await readManifests(tableDir);
      let sized = 0;
      let deletions = 0;
      for (const { manifest } of manifests.values()) {
        for (const fragment of manifest.fragments) {
          for (const file of fragment.files) {
            const path = join(tableDir, 'data', file.path);
            assert.ok(existsSync(path), path);
            assert.match(file.path, /^[01]{24}[0-9a-f]{26}\.lance$/);
            if (file.sizeBytes !== undefined) {
              assert.equal(file.sizeBytes, statSync(path).size, path);
              sized++;
            }
          }
          if (fragment.deletionFile) {
            deletions++;
            assert.match(fragment.deletionFile.path, new RegExp(`^_deletions/${fragment.id}-\\d+-\\d+\\.(arrow|bin)$`));
            assert.ok(existsSync(join(tableDir, fragment.deletionFile.path)), fragment.deletionFile.path);
            assert.equal(fragment.deletionFile.numDeletedRows, fragment.deletedRows);
          }
        }
        assert.ok(manifest.transactionFile, `version ${manifest.version} names a transaction file`);
        assert.ok(existsSync(join(tableDir, '_transactions', manifest.transactionFile!)));
      }
      assert.ok(sized > 0, 'lancedb 0.37.1 records file_size_bytes');
      assert.equal(deletions, 3, 'fragment 0 has a deletion file in versions 3, 4 and 5');
      // Only version 5 (createIndex) has an index section.
      assert.deepEqual([1, 2, 3, 4].map((v) => manifests.get(v)!.manifest.indices), [[], [], [], []]);
      const [index] = manifests.get(5)!.manifest.indices;
      assert.ok(index);
      assert.match(index.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      assert.equal(index.name, 'id_idx');
      assert.ok(statSync(join(tableDir, '_indices', index.uuid)).isDirectory());
    });
  });
}

describe('malformed manifests', () => {
  let good: Buffer;
  let manifestPos: number;
  before(async () => {
    good = await readFile(join(tables.v1!.tableDir, '_versions', '5.manifest'));
    manifestPos = Number(good.readBigInt64LE(good.length - 16));
  });
  const file = '_versions/5.manifest';

  test('shorter than the footer', () => {
    assert.throws(() => parseManifest(good.subarray(0, 10), file), formatError(file, 0, /10 bytes, smaller than the 16-byte footer/));
    assert.throws(() => parseManifest(new Uint8Array(0), file), formatError(file, 0, /0 bytes/));
  });

  test('truncated: the footer is gone, so the magic does not match', () => {
    const cut = good.subarray(0, good.length - 100);
    assert.throws(() => parseManifest(cut, file), formatError(file, cut.length - 4, /magic number is .*, not "LANC"/));
  });

  test('wrong magic', () => {
    const bad = Buffer.from(good);
    bad.write('LANX', bad.length - 4, 'latin1');
    assert.throws(() => parseManifest(bad, file), formatError(file, bad.length - 4, /magic number is "LANX", not "LANC"/));
  });

  test('a git-LFS pointer in place of the manifest', () => {
    const pointer = Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${'ab'.repeat(32)}\nsize ${good.length}\n`);
    assert.throws(() => parseManifest(pointer, file), formatError(file, pointer.length - 4, /magic number/));
  });

  test('manifest length does not match', () => {
    const bad = Buffer.from(good);
    const len = bad.readUInt32LE(manifestPos);
    bad.writeUInt32LE(len + 1, manifestPos);
    const expected = good.length - manifestPos - 4 - 16;
    assert.equal(len, expected);
    assert.throws(() => parseManifest(bad, file), formatError(file, manifestPos, new RegExp(`manifest length does not match: expected ${expected}, got ${len + 1}`)));
  });

  test('manifest position outside the file', () => {
    for (const pos of [BigInt(good.length), -1n, BigInt(good.length - 16 - 3)]) {
      const bad = Buffer.from(good);
      bad.writeBigInt64LE(pos, bad.length - 16);
      assert.throws(() => parseManifest(bad, file), formatError(file, good.length - 16, /manifest position -?\d+ is outside the file/));
    }
  });

  test('garbage protobuf with a valid footer', () => {
    // [u32 len][payload][i64 pos = 0][u16 0][u16 2]["LANC"]
    const frame = (payload: Buffer) => {
      const out = Buffer.concat([Buffer.alloc(4), payload, Buffer.alloc(12), Buffer.from('LANC')]);
      out.writeUInt32LE(payload.length, 0);
      out.writeUInt16LE(2, 4 + payload.length + 10);
      return out;
    };
    // Wire type 7 does not exist: decoding stops at the first tag.
    assert.throws(() => parseManifest(frame(Buffer.from([0x0f, 1, 2, 3])), file), formatError(file, 5, /Manifest protobuf does not decode \(invalid wire type 7/));
    // A length-delimited field (fragments) claiming more bytes than there are.
    assert.throws(() => parseManifest(frame(Buffer.from([0x12, 0x50, 1, 2])), file), formatError(file, 6, /Manifest protobuf does not decode \(index out of range/));
    // A real manifest's proto with its last bytes cut off (the footer rebuilt to match).
    const proto = good.subarray(manifestPos + 4, good.length - 16);
    assert.throws(() => parseManifest(frame(proto.subarray(0, proto.length - 7)), file), (err: unknown) => {
      assert.ok(err instanceof LanceFormatError);
      assert.match(err.reason, /Manifest protobuf does not decode/);
      assert.ok(err.offset >= 4 && err.offset <= 4 + proto.length - 7, `offset ${err.offset} inside the proto`);
      return true;
    });
  });

  test('index section position outside the file', async () => {
    // Version 5's manifest, re-encoded alone with index_section pointing past the end of the file.
    const pb = parseManifest(good, file);
    assert.equal(pb.indices.length, 1);
    const protobuf = (await import('protobufjs')).default;
    const root = protobuf.loadSync(new URL('../../src/format/lance/table.proto', import.meta.url).pathname);
    const Manifest = root.lookupType('lance.table.Manifest');
    const message = Manifest.decode(good.subarray(manifestPos + 4, good.length - 16));
    const object = Manifest.toObject(message, { longs: String });
    object.indexSection = String(10_000);
    const body = Buffer.from(Manifest.encode(Manifest.fromObject(object)).finish());
    const bytes = Buffer.concat([Buffer.alloc(4), body, Buffer.alloc(12), Buffer.from('LANC')]);
    bytes.writeUInt32LE(body.length, 0);
    assert.throws(() => parseManifest(bytes, file), formatError(file, 10_000, /IndexSection position is outside the file/));
  });
});

/** `bytes` framed as a manifest file with no index section: [u32 len][proto][footer]. */
function frameManifest(body: Uint8Array): Buffer {
  const out = Buffer.concat([Buffer.alloc(4), body, Buffer.alloc(12), Buffer.from('LANC')]);
  out.writeUInt32LE(body.length, 0);
  out.writeUInt16LE(2, 4 + body.length + 10);
  return out;
}

describe('FragmentCache', () => {
  /** Every manifest of both tables, as file bytes, oldest version first. */
  const allManifests = async () => {
    const out: { name: string; bytes: Buffer }[] = [];
    for (const scheme of ['v1', 'v2'] as const) {
      const dir = join(tables[scheme]!.tableDir, '_versions');
      const names = (await readdir(dir)).filter((n) => parseManifestName(n)).sort((a, b) => parseManifestName(a)!.version - parseManifestName(b)!.version);
      for (const name of names) out.push({ name, bytes: await readFile(join(dir, name)) });
    }
    return out;
  };

  test('parsing through a cache gives what parsing alone gives, in any order, and shares repeated fragments', async () => {
    const manifests = await allManifests();
    for (const order of [manifests, [...manifests].reverse(), [...manifests.slice(3), ...manifests.slice(0, 3)]]) {
      const cache = new FragmentCache();
      for (const { name, bytes } of order) {
        const cached = parseManifest(bytes, name, { fragments: cache });
        assert.deepEqual(cached, parseManifest(bytes, name), name);
        assert.equal(JSON.stringify(cached), JSON.stringify(parseManifest(bytes, name)), `${name}: same keys in the same order`);
      }
    }
    // Oldest first: version 2 repeats version 1's fragment 0 unchanged, so both hold the same (frozen) object.
    const cache = new FragmentCache();
    const [first, second] = manifests.slice(0, 2).map(({ name, bytes }) => parseManifest(bytes, name, { fragments: cache }));
    assert.equal(second!.fragments[0], first!.fragments[0]);
    assert.ok(Object.isFrozen(first!.fragments[0]) && Object.isFrozen(first!.fragments[0]!.files[0]));
    // Without a cache nothing is shared or frozen.
    assert.ok(!Object.isFrozen(parseManifest(manifests[0]!.bytes, 'x').fragments[0]));
  });

  test('neither the cache nor the result keeps a view of the input: one buffer can be reused for every file', async () => {
    const manifests = await allManifests();
    const expected = manifests.map(({ name, bytes }) => JSON.stringify(parseManifest(bytes, name)));
    const shared = Buffer.alloc(Math.max(...manifests.map((m) => m.bytes.length)));
    const cache = new FragmentCache();
    const results = manifests.map(({ name, bytes }) => {
      bytes.copy(shared);
      return parseManifest(shared.subarray(0, bytes.length), name, { fragments: cache });
    });
    shared.fill(0xff);
    assert.deepEqual(results.map((r) => JSON.stringify(r)), expected);
    // Parsing again through the same cache, in the same reused buffer, still agrees.
    manifests.forEach(({ name, bytes }, i) => {
      bytes.copy(shared);
      assert.equal(JSON.stringify(parseManifest(shared.subarray(0, bytes.length), name, { fragments: cache })), expected[i]);
    });
  });
});

describe('64-bit values', () => {
  const u64Max = '18446744073709551615';
  let Manifest: import('protobufjs').Type;
  before(async () => {
    const protobuf = (await import('protobufjs')).default;
    Manifest = protobuf.loadSync(new URL('../../src/format/lance/table.proto', import.meta.url).pathname).lookupType('lance.table.Manifest');
  });
  const encode = (object: Record<string, unknown>) => frameManifest(Manifest.encode(Manifest.fromObject(object)).finish());
  const fragment = (extra: Record<string, unknown> = {}) => ({ id: '7', files: [{ path: 'a.lance', fileSizeBytes: '1532' }], physicalRows: '10', ...extra });

  test('deletion file ids keep every digit; values up to 2^53 - 1 are numbers', () => {
    const m = parseManifest(
      encode({ version: String(Number.MAX_SAFE_INTEGER), fragments: [fragment({ deletionFile: { fileType: 1, readVersion: u64Max, id: '9007199254740993', numDeletedRows: '3' } })] }),
      'big',
    );
    assert.equal(m.version, Number.MAX_SAFE_INTEGER);
    assert.equal(m.fragments[0]!.deletionFile!.path, `_deletions/7-${u64Max}-9007199254740993.bin`);
    assert.deepEqual([m.rows, m.physicalRows, m.deletedRows, m.fragments[0]!.files[0]!.sizeBytes], [7, 10, 3, 1532]);
  });

  for (const [field, object] of [
    ['Manifest.version', { version: '9007199254740992' }],
    ['DataFragment.physical_rows', { fragments: [fragment({ physicalRows: u64Max })] }],
    ['DataFile.file_size_bytes', { fragments: [fragment({ files: [{ path: 'a.lance', fileSizeBytes: '9007199254740992' }] })] }],
    ['Timestamp.seconds', { timestamp: { seconds: '-1' } }],
  ] as const) {
    test(`${field} beyond 2^53 - 1 (or negative) is a LanceFormatError`, () => {
      assert.throws(() => parseManifest(encode(object), 'big'), formatError('big', 4, new RegExp(`^${field.replace('.', '\\.')} is -?\\d+, beyond what this tool handles$`)));
    });
  }
});
