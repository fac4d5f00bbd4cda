import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  LFS_EMPTY_OID,
  LfsPointerError,
  formatLfsPointer,
  isLfsPointerError,
  isLfsPointerText,
  lfsObjectRelPath,
  parseLfsPointer,
  type LfsPointerProblem,
} from '../../src/format/lfs/pointer';

// The pointer from the seed (000): a missing Lance data file whose object was still in .git/lfs.
const OID = 'ec2af2ef1718b083a1c2c209745e1705fffd3b5b519ff98f79c97124da34518a';
const CANONICAL = `version https://git-lfs.github.com/spec/v1\noid sha256:${OID}\nsize 678741\n`;

function rejects(text: string | Uint8Array, problem: LfsPointerProblem, message?: RegExp) {
  assert.throws(
    () => parseLfsPointer(text),
    (err: unknown) => {
      assert.ok(err instanceof LfsPointerError, `expected LfsPointerError, got ${String(err)}`);
      assert.equal(err.name, 'LfsPointerError');
      assert.equal(err.problem, problem);
      if (message) assert.match(err.message, message);
      return true;
    },
  );
}

describe('parseLfsPointer', () => {
  it('parses the canonical pointer, as text and as bytes', () => {
    assert.deepEqual(parseLfsPointer(CANONICAL), { oid: OID, size: 678741 });
    assert.deepEqual(parseLfsPointer(new TextEncoder().encode(CANONICAL)), { oid: OID, size: 678741 });
  });

  it('round-trips with formatLfsPointer byte for byte', () => {
    assert.equal(formatLfsPointer({ oid: OID, size: 678741 }), CANONICAL);
    assert.equal(formatLfsPointer(parseLfsPointer(CANONICAL)!), CANONICAL);
  });

  it('accepts what git-lfs accepts: surrounding whitespace, CRLF, blank lines, no final newline, old version aliases', () => {
    const want = { oid: OID, size: 678741 };
    assert.deepEqual(parseLfsPointer(`\n  ${CANONICAL}\n\n`), want);
    assert.deepEqual(parseLfsPointer(CANONICAL.replaceAll('\n', '\r\n')), want);
    assert.deepEqual(parseLfsPointer(CANONICAL.replace('\noid', '\n\noid')), want);
    assert.deepEqual(parseLfsPointer(CANONICAL.trimEnd()), want);
    assert.deepEqual(parseLfsPointer(CANONICAL.replace('https://git-lfs.github.com/spec/v1', 'https://hawser.github.com/spec/v1')), want);
    assert.deepEqual(parseLfsPointer(CANONICAL.replace('https://git-lfs.github.com/spec/v1', 'http://git-media.io/v/2')), want);
  });

  it('parses extensions (sorted before oid) and formats them back', () => {
    const ext = 'a'.repeat(64);
    const text = `version https://git-lfs.github.com/spec/v1\next-0-foo sha256:${ext}\noid sha256:${OID}\nsize 12\n`;
    const p = parseLfsPointer(text);
    assert.deepEqual(p, { oid: OID, size: 12, extensions: [{ priority: 0, name: 'foo', oid: ext }] });
    assert.equal(formatLfsPointer(p!), text);
    rejects(text.replace('ext-0-foo', 'ext-x-foo'), 'invalid-extension');
    rejects(text.replace(`sha256:${ext}`, 'sha256:nothex'), 'invalid-oid');
  });

  it('treats the empty input as the pointer for empty content, as the spec says', () => {
    assert.deepEqual(parseLfsPointer(''), { oid: LFS_EMPTY_OID, size: 0 });
    assert.equal(LFS_EMPTY_OID, createHash('sha256').update('').digest('hex'));
    assert.equal(formatLfsPointer({ oid: LFS_EMPTY_OID, size: 0 }), '');
  });

  it('returns undefined for content that is not a pointer', () => {
    assert.equal(parseLfsPointer('hello world\n'), undefined);
    assert.equal(parseLfsPointer('LANC binary-ish\n'), undefined);
    assert.equal(parseLfsPointer('versioned text file\n'), undefined);
    // A large binary file, whatever it contains later, is not a pointer and is not an error.
    const big = new Uint8Array(5 * 1024 * 1024);
    big.set(new TextEncoder().encode('\0\x01LANC'), 0);
    big.set(new TextEncoder().encode(CANONICAL), 4096);
    assert.equal(parseLfsPointer(big), undefined);
    // NUL bytes in the head: binary content even if it starts like a pointer key.
    assert.equal(parseLfsPointer(new TextEncoder().encode('size \0\0\0')), undefined);
  });

  it('rejects pointer-looking text that breaks the spec, naming the reason', () => {
    rejects(`oid sha256:${OID}\nsize 12\n`, 'missing-version', /Missing version/);
    rejects(`version https://example.com/spec/v9\noid sha256:${OID}\nsize 12\n`, 'invalid-version', /Invalid version/);
    rejects(CANONICAL.replace('size 678741', 'size 12.5'), 'invalid-size', /invalid size: "12.5"/);
    rejects(CANONICAL.replace('size 678741', 'size -1'), 'invalid-size');
    rejects(CANONICAL.replace('size 678741', 'size 0x10'), 'invalid-size');
    rejects(CANONICAL.replace('size 678741', 'size 99999999999999999999'), 'invalid-size');
    rejects(CANONICAL.replace('size 678741', 'size  '), 'invalid-line'); // trimmed to "size": no value
    rejects(CANONICAL.replace('\nsize 678741', ''), 'missing-size');
    rejects(`version https://git-lfs.github.com/spec/v1\nsize 12\n`, 'missing-oid');
    rejects(CANONICAL.replace(`oid sha256:${OID}`, `oid sha256:${OID.toUpperCase()}`), 'invalid-oid', /Invalid Oid/);
    rejects(CANONICAL.replace(`oid sha256:${OID}`, `oid sha256:${OID.slice(1)}`), 'invalid-oid');
    rejects(CANONICAL.replace(`oid sha256:${OID}`, `oid sha256:${OID}0`), 'invalid-oid');
    rejects(CANONICAL.replace(`oid sha256:${OID}`, `oid sha1:${OID.slice(0, 40)}`), 'invalid-oid-type', /Invalid Oid type/);
    rejects(CANONICAL.replace(`oid sha256:${OID}`, `oid ${OID}`), 'invalid-oid');
    rejects(`${CANONICAL}foo bar\n`, 'extra-line');
    rejects(`${CANONICAL}size 12\n`, 'extra-line');
    rejects(CANONICAL.replace('size 678741', 'size=678741'), 'invalid-line');
    rejects(CANONICAL.replace('oid sha256', 'Oid sha256'), 'invalid-key');
    rejects(`version https://git-lfs.github.com/spec/v1\nsize 12\noid sha256:${OID}\n`, 'missing-oid');
  });

  it('rejects untrusted oids that would escape the object store', () => {
    for (const bad of ['../../etc/passwd', '../../etc', `${'a'.repeat(62)}/..`, `..${'a'.repeat(62)}`, `${'a'.repeat(63)}\0`, `/${'a'.repeat(63)}`]) {
      rejects(CANONICAL.replace(OID, bad), 'invalid-oid');
      assert.throws(() => lfsObjectRelPath(bad), (err: unknown) => isLfsPointerError(err));
      assert.throws(() => formatLfsPointer({ oid: bad, size: 1 }), LfsPointerError);
    }
  });

  it('enforces the 1024-byte limit (pointers are strictly smaller)', () => {
    const padded = (n: number) => {
      const text = `${CANONICAL.trimEnd()}${' '.repeat(n)}`;
      assert.equal(text.length, n + CANONICAL.length - 1);
      return text;
    };
    const at1023 = padded(1023 - CANONICAL.length + 1);
    assert.equal(new TextEncoder().encode(at1023).length, 1023);
    assert.deepEqual(parseLfsPointer(at1023), { oid: OID, size: 678741 });
    rejects(padded(1024 - CANONICAL.length + 1), 'too-large');
    rejects(`${CANONICAL}${'x'.repeat(2000)}`, 'too-large');
  });

  it('rejects invalid UTF-8 in a pointer', () => {
    const bytes = new TextEncoder().encode(CANONICAL.replace('size 678741', 'size 1_'));
    bytes[bytes.length - 2] = 0xff;
    rejects(bytes, 'not-utf8');
  });
});

describe('isLfsPointerText', () => {
  it('is a cheap prefix check on the version line', () => {
    assert.equal(isLfsPointerText(CANONICAL), true);
    assert.equal(isLfsPointerText(new TextEncoder().encode(CANONICAL)), true);
    assert.equal(isLfsPointerText('version https://git-lfs.github.com/spec/v1'), true);
    assert.equal(isLfsPointerText(`version https://hawser.github.com/spec/v1\n`), true);
    assert.equal(isLfsPointerText(''), false);
    assert.equal(isLfsPointerText(`\n${CANONICAL}`), false);
    assert.equal(isLfsPointerText('version https://git-lfs.github.com/spec/'), false);
    assert.equal(isLfsPointerText(new Uint8Array([0, 1, 2, 3])), false);
  });
});

describe('formatLfsPointer', () => {
  it('refuses invalid sizes', () => {
    for (const size of [-1, 1.5, Number.NaN, Number.MAX_SAFE_INTEGER + 2]) {
      assert.throws(() => formatLfsPointer({ oid: OID, size }), (err: unknown) => err instanceof LfsPointerError && err.problem === 'invalid-size');
    }
  });
});

describe('lfsObjectRelPath', () => {
  it('is lfs/objects/aa/bb/<oid>', () => {
    assert.equal(lfsObjectRelPath(OID), `lfs/objects/ec/2a/${OID}`);
  });
});
