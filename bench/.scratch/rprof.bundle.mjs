var __getOwnPropNames = Object.getOwnPropertyNames;
var __esm = (fn, res, err) => function __init() {
  if (err) throw err[0];
  try {
    return fn && (res = (0, fn[__getOwnPropNames(fn)[0]])(fn = 0)), res;
  } catch (e) {
    throw err = [e], e;
  }
};

// src/format/lance/errors.ts
var LanceFormatError;
var init_errors = __esm({
  "src/format/lance/errors.ts"() {
    "use strict";
    LanceFormatError = class extends Error {
      constructor(file, offset, reason) {
        super(`${file}: ${reason} at byte ${offset}`);
        this.file = file;
        this.offset = offset;
        this.reason = reason;
      }
      file;
      offset;
      reason;
      name = "LanceFormatError";
    };
  }
});

// src/format/lance/manifest.ts
import { fileURLToPath } from "node:url";
import protobuf from "protobufjs";
function parseManifestName(fileName) {
  if (!fileName.endsWith(MANIFEST_SUFFIX)) return void 0;
  const stem = fileName.slice(0, -MANIFEST_SUFFIX.length);
  if (!/^\d+$/.test(stem)) return void 0;
  const n = BigInt(stem);
  if (n > U64_MAX) return void 0;
  const scheme = stem.length === 20 ? "v2" : "v1";
  const version = scheme === "v2" ? U64_MAX - n : n;
  if (version > BigInt(Number.MAX_SAFE_INTEGER)) return void 0;
  return { version: Number(version), scheme };
}
function manifestFileName(version, scheme) {
  if (!Number.isSafeInteger(version) || version < 0) throw new RangeError(`not a manifest version: ${version}`);
  if (scheme === "v1") return `${version}${MANIFEST_SUFFIX}`;
  return `${(U64_MAX - BigInt(version)).toString().padStart(20, "0")}${MANIFEST_SUFFIX}`;
}
function loadTypes() {
  if (!types) {
    const root = protobuf.loadSync(fileURLToPath(new URL("./table.proto", import.meta.url)));
    types = { manifest: root.lookupType("lance.table.Manifest"), indexSection: root.lookupType("lance.table.IndexSection") };
  }
  return types;
}
function decode(type, bytes, start, end, file, what) {
  const reader = protobuf.Reader.create(bytes.subarray(start, end));
  try {
    return type.toObject(type.decode(reader), TO_OBJECT);
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    throw new LanceFormatError(file, start + Math.min(reader.pos, end - start), `${what} protobuf does not decode (${detail})`);
  }
}
function readSection(type, bytes, view, pos, limit, file, what) {
  if (pos + 4 > limit) throw new LanceFormatError(file, pos, `${what} position is outside the file (section must end before byte ${limit})`);
  const len = view.getUint32(pos, true);
  if (pos + 4 + len > limit) throw new LanceFormatError(file, pos, `${what} length ${len} runs past byte ${limit}`);
  return decode(type, bytes, pos + 4, pos + 4 + len, file, what);
}
function parseManifest(bytes, file) {
  const size = bytes.length;
  if (size < FOOTER_SIZE) throw new LanceFormatError(file, 0, `file is ${size} bytes, smaller than the ${FOOTER_SIZE}-byte footer`);
  const magic = String.fromCharCode(...bytes.subarray(size - 4));
  if (magic !== MAGIC) throw new LanceFormatError(file, size - 4, `magic number is ${JSON.stringify(magic)}, not "${MAGIC}"`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const footer = size - FOOTER_SIZE;
  const pos64 = view.getBigInt64(footer, true);
  if (pos64 < 0n || pos64 + 4n > BigInt(footer)) {
    throw new LanceFormatError(file, footer, `manifest position ${pos64} is outside the file (${size} bytes)`);
  }
  const pos = Number(pos64);
  const len = view.getUint32(pos, true);
  const expected = size - pos - 4 - FOOTER_SIZE;
  if (len !== expected) throw new LanceFormatError(file, pos, `manifest length does not match: expected ${expected}, got ${len}`);
  const types2 = loadTypes();
  const protoStart = pos + 4;
  const pb = decode(types2.manifest, bytes, protoStart, footer, file, "Manifest");
  const num = (value, field) => toSafeNumber(value, field, file, protoStart);
  const fragments = (pb.fragments ?? []).map((f) => {
    const id = num(f.id, "DataFragment.id");
    const files = (f.files ?? []).map((d) => {
      if (!d.path) throw new LanceFormatError(file, protoStart, `fragment ${id} has a data file with an empty path`);
      const sizeBytes = num(d.fileSizeBytes, "DataFile.file_size_bytes");
      return { path: d.path, ...sizeBytes > 0 && { sizeBytes }, ...d.baseId !== void 0 && { baseId: d.baseId } };
    });
    const physicalRows2 = num(f.physicalRows, "DataFragment.physical_rows");
    let deletionFile;
    if (f.deletionFile) {
      const d = f.deletionFile;
      const type = d.fileType ?? 0;
      if (type !== 0 && type !== 1) throw new LanceFormatError(file, protoStart, `fragment ${id} has deletion file type ${type} (known: 0 ARROW_ARRAY, 1 BITMAP)`);
      const numDeletedRows = num(d.numDeletedRows, "DeletionFile.num_deleted_rows");
      const path = `_deletions/${id}-${String(d.readVersion ?? 0)}-${String(d.id ?? 0)}.${type === 0 ? "arrow" : "bin"}`;
      deletionFile = { path, numDeletedRows, ...d.baseId !== void 0 && { baseId: d.baseId } };
    }
    const deletedRows2 = deletionFile?.numDeletedRows ?? 0;
    if (deletedRows2 > physicalRows2) {
      throw new LanceFormatError(file, protoStart, `fragment ${id} deletes ${deletedRows2} of its ${physicalRows2} rows`);
    }
    return { id, files, ...deletionFile && { deletionFile }, physicalRows: physicalRows2, deletedRows: deletedRows2 };
  });
  let indices = [];
  if (pb.indexSection !== void 0) {
    const at = num(pb.indexSection, "Manifest.index_section");
    const section = readSection(types2.indexSection, bytes, view, at, pos, file, "IndexSection");
    indices = (section.indices ?? []).map((ix) => {
      const raw = ix.uuid?.uuid;
      if (!raw || raw.length !== 16) throw new LanceFormatError(file, at, `index ${JSON.stringify(ix.name ?? "")} has a ${raw?.length ?? 0}-byte uuid, not 16`);
      return { uuid: formatUuid(raw), name: ix.name ?? "", ...ix.baseId !== void 0 && { baseId: ix.baseId } };
    });
  }
  const physicalRows = fragments.reduce((sum, f) => sum + f.physicalRows, 0);
  const deletedRows = fragments.reduce((sum, f) => sum + f.deletedRows, 0);
  const manifest = {
    version: num(pb.version, "Manifest.version"),
    fragments,
    physicalRows,
    deletedRows,
    rows: physicalRows - deletedRows,
    indices,
    readerFeatureFlags: num(pb.readerFeatureFlags, "Manifest.reader_feature_flags"),
    writerFeatureFlags: num(pb.writerFeatureFlags, "Manifest.writer_feature_flags")
  };
  if (pb.transactionFile) manifest.transactionFile = pb.transactionFile;
  if (pb.timestamp) {
    const ms = num(pb.timestamp.seconds, "Timestamp.seconds") * 1e3 + Math.floor((pb.timestamp.nanos ?? 0) / 1e6);
    const date = new Date(ms);
    if (Number.isNaN(date.getTime())) throw new LanceFormatError(file, protoStart, `timestamp ${ms} ms is out of range`);
    manifest.timestamp = date.toISOString();
  }
  return manifest;
}
function toSafeNumber(value, field, file, offset) {
  if (value === void 0) return 0;
  const n = BigInt(value);
  if (n < 0n || n > BigInt(Number.MAX_SAFE_INTEGER)) throw new LanceFormatError(file, offset, `${field} is ${n}, beyond what this tool handles`);
  return Number(n);
}
function formatUuid(bytes) {
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
var FOOTER_SIZE, MAGIC, VERSIONS_DIR, U64_MAX, MANIFEST_SUFFIX, types, TO_OBJECT;
var init_manifest = __esm({
  "src/format/lance/manifest.ts"() {
    "use strict";
    init_errors();
    FOOTER_SIZE = 16;
    MAGIC = "LANC";
    VERSIONS_DIR = "_versions";
    U64_MAX = (1n << 64n) - 1n;
    MANIFEST_SUFFIX = ".manifest";
    TO_OBJECT = { longs: String, enums: Number, defaults: false };
  }
});

// src/format/lance/index.ts
var init_lance = __esm({
  "src/format/lance/index.ts"() {
    "use strict";
    init_manifest();
    init_errors();
  }
});

// src/engines/lance/errors.ts
var UnsafePathError, LanceTableError;
var init_errors2 = __esm({
  "src/engines/lance/errors.ts"() {
    "use strict";
    UnsafePathError = class extends Error {
      constructor(path, reason, source) {
        super(`${source}: unsafe path ${JSON.stringify(path)}: ${reason}; refusing to use it`);
        this.path = path;
        this.reason = reason;
        this.source = source;
      }
      path;
      reason;
      source;
      name = "UnsafePathError";
    };
    LanceTableError = class extends Error {
      constructor(path, reason) {
        super(`${path}: ${reason}`);
        this.path = path;
        this.reason = reason;
      }
      path;
      reason;
      name = "LanceTableError";
    };
  }
});

// src/engines/lance/inspect.ts
import { lstatSync, readlinkSync, realpathSync } from "node:fs";
import { open as open2, readdir, readFile, stat as stat2 } from "node:fs/promises";
import { dirname as dirname2, isAbsolute, join as join2, relative, resolve as resolve2, sep } from "node:path";
async function inspectTable(tableDir) {
  const versionsDir = join2(tableDir, VERSIONS_DIR);
  let names;
  try {
    names = await readdir(versionsDir);
  } catch (err) {
    const code = err.code;
    if (code === "ENOENT" || code === "ENOTDIR") throw new LanceTableError(versionsDir, "no such directory: not a Lance table (or the wrong path)");
    throw err;
  }
  const findings = [];
  const manifests = /* @__PURE__ */ new Map();
  const schemes = /* @__PURE__ */ new Map();
  for (const name of names.sort()) {
    const parsed = parseManifestName(name);
    if (!parsed) continue;
    if (!schemes.has(parsed.scheme)) schemes.set(parsed.scheme, name);
    const seen = manifests.get(parsed.version);
    if (seen) {
      const keep = manifestFileName(parsed.version, parsed.scheme) === name ? name : seen.name;
      findings.push({ code: "DUPLICATE_VERSION", message: `version ${parsed.version} has two manifests, ${seen.name} and ${name}; using ${keep}`, file: `${VERSIONS_DIR}/${name}` });
      if (keep === seen.name) continue;
    }
    manifests.set(parsed.version, { name, scheme: parsed.scheme });
  }
  if (schemes.size > 1) {
    throw new LanceTableError(versionsDir, `found both manifest naming schemes (V1 e.g. ${schemes.get("v1")}, V2 e.g. ${schemes.get("v2")}); Lance refuses such a table`);
  }
  if (manifests.size === 0) throw new LanceTableError(versionsDir, "no manifest (*.manifest) in it: Lance cannot open this table");
  const scheme = [...schemes.keys()][0];
  const root = realpathSync(tableDir);
  const states = /* @__PURE__ */ new Map();
  const probe = (rel, source) => {
    let state = states.get(rel);
    if (!state) {
      const abs = resolveIn(root, rel, source);
      state = probeFile(abs);
      states.set(rel, state);
    }
    return state;
  };
  const ordered = [...manifests.entries()].sort(([a], [b]) => a - b);
  const read = await mapLimit2(ordered, 16, async ([version, { name }]) => {
    const file = `${VERSIONS_DIR}/${name}`;
    const bytes = await readFile(join2(versionsDir, name));
    try {
      return { version, file, manifest: parseManifest(bytes, file) };
    } catch (err) {
      const isPointer = Buffer.from(bytes.subarray(0, LFS_POINTER_PREFIX.length)).toString("latin1") === LFS_POINTER_PREFIX;
      const reason = isPointer ? "the manifest is a git-LFS pointer, not its content" : err.message;
      return { version, file, error: reason };
    }
  });
  const versions = [];
  const referenced = /* @__PURE__ */ new Map();
  const noTransaction = [];
  for (const entry of read) {
    if (entry.error !== void 0) {
      findings.push({ code: "MANIFEST_UNREADABLE", message: `version ${entry.version}: ${entry.error}`, file: entry.file });
      versions.push({
        version: entry.version,
        file: entry.file,
        rows: 0,
        physicalRows: 0,
        deletedRows: 0,
        dataFiles: 0,
        complete: false,
        missing: [],
        pointers: [],
        wrongSize: [],
        transactionMissing: false,
        indices: [],
        external: [],
        unreadable: entry.error
      });
      continue;
    }
    const v2 = await inspectVersion(entry.version, entry.file, join2(tableDir, entry.file), entry.manifest, probe, referenced);
    if (entry.manifest.version !== entry.version) {
      findings.push({ code: "MANIFEST_VERSION_MISMATCH", message: `${entry.file} holds version ${entry.manifest.version}`, file: entry.file });
    }
    if (entry.manifest.readerFeatureFlags & ~KNOWN_READER_FLAGS) {
      findings.push({ code: "UNKNOWN_FEATURE_FLAGS", message: `version ${entry.version} sets reader feature flags ${entry.manifest.readerFeatureFlags}, some unknown to this tool`, file: entry.file });
    }
    if (v2.external.length) {
      findings.push({ code: "EXTERNAL_FILES", message: `version ${entry.version} has ${v2.external.length} files under other base paths, not checked; treated as incomplete`, file: entry.file });
    }
    if (v2.transactionMissing) noTransaction.push(v2.version);
    versions.push(v2);
  }
  if (noTransaction.length) {
    findings.push({ code: "TRANSACTION_FILES_MISSING", message: `the transaction files of versions ${noTransaction.join(", ")} are absent (Lance can read these versions without them)` });
  }
  const referencedFiles = [...referenced.values()].sort((a, b) => a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
  const orphans = (await listFiles(join2(tableDir, "data"))).map((p) => `data/${p}`).filter((p) => !referenced.has(p)).sort();
  const complete = versions.filter((v2) => v2.complete);
  return {
    tableDir,
    scheme,
    versions,
    currentVersion: ordered[ordered.length - 1][0],
    latestCompleteVersion: complete.length ? complete[complete.length - 1].version : null,
    orphans,
    referencedFiles,
    findings
  };
}
async function inspectVersion(version, file, source, manifest, probe, referenced) {
  const missing = [];
  const pointers = [];
  const wrongSize = [];
  const external = [];
  let dataFiles = 0;
  const check = async (rel, kind, expectedSize) => {
    const state = await probe(rel, source);
    let status = "ok";
    if (state.kind !== "file") {
      status = "missing";
      missing.push(rel);
    } else if (state.pointer) {
      status = "pointer";
      pointers.push(rel);
    } else if (expectedSize !== void 0 && state.size !== expectedSize) {
      status = "wrong-size";
      wrongSize.push({ path: rel, expected: expectedSize, actual: state.size });
    }
    if (!referenced.has(rel)) {
      referenced.set(rel, {
        path: rel,
        kind,
        ...expectedSize !== void 0 && { expectedSize },
        ...state.kind === "file" && { actualSize: state.size },
        status
      });
    }
  };
  for (const fragment of manifest.fragments) {
    for (const data of fragment.files) {
      dataFiles++;
      checkManifestPath(data.path, source);
      const rel = `data/${data.path}`;
      if (data.baseId !== void 0) external.push(`base ${data.baseId}: ${rel}`);
      else await check(rel, "data", data.sizeBytes);
    }
    const deletion = fragment.deletionFile;
    if (deletion) {
      if (deletion.baseId !== void 0) external.push(`base ${deletion.baseId}: ${deletion.path}`);
      else await check(deletion.path, "deletion", void 0);
    }
  }
  const indices = [];
  for (const index of manifest.indices) {
    const rel = `_indices/${index.uuid}`;
    indices.push(rel);
    if (index.baseId !== void 0) external.push(`base ${index.baseId}: ${rel}`);
    else if ((await probe(rel, source)).kind !== "dir") missing.push(rel);
  }
  let transactionFile;
  let transactionMissing = false;
  if (manifest.transactionFile !== void 0) {
    checkManifestPath(manifest.transactionFile, source);
    transactionFile = `_transactions/${manifest.transactionFile}`;
    transactionMissing = (await probe(transactionFile, source)).kind !== "file";
  }
  return {
    version,
    file,
    rows: manifest.rows,
    physicalRows: manifest.physicalRows,
    deletedRows: manifest.deletedRows,
    dataFiles,
    complete: !missing.length && !pointers.length && !wrongSize.length && !external.length,
    missing,
    pointers,
    wrongSize,
    ...transactionFile !== void 0 && { transactionFile },
    transactionMissing,
    indices,
    external
  };
}
function unsafeReason(rel) {
  if (rel === "") return "it is empty";
  if (rel.includes("\0")) return "it contains a NUL byte";
  if (rel.includes("\\")) return "it contains a backslash";
  if (rel.startsWith("/") || isAbsolute(rel) || /^[A-Za-z]:/.test(rel)) return "it is absolute";
  if (rel.split("/").includes("..")) return 'it has a ".." segment';
  return void 0;
}
function checkManifestPath(raw, source) {
  const reason = unsafeReason(raw);
  if (reason) throw new UnsafePathError(raw, reason, source);
}
function resolveIn(root, relPath, source, original = relPath, depth = 0) {
  const reason = unsafeReason(relPath);
  if (reason) throw new UnsafePathError(original, reason, source);
  const segments = relPath.split("/").filter((s) => s !== "" && s !== ".");
  let current = root;
  for (let i = 0; i < segments.length; i++) {
    const next = join2(current, segments[i]);
    let isLink;
    try {
      isLink = lstatSync(next).isSymbolicLink();
    } catch {
      current = join2(next, ...segments.slice(i + 1));
      break;
    }
    if (isLink) {
      let target;
      let dangling = false;
      try {
        target = realpathSync(next);
      } catch {
        target = resolve2(dirname2(next), readlinkSync(next));
        dangling = true;
      }
      if (!inside(root, target)) {
        throw new UnsafePathError(original, `${segments.slice(0, i + 1).join("/")} is a symlink to ${target}, outside the table ${root}`, source);
      }
      if (dangling) {
        if (depth >= 40) throw new UnsafePathError(original, "too many levels of symlinks", source);
        const rest = relative(root, target).split(sep).join("/");
        current = rest === "" ? root : resolveIn(root, rest, source, original, depth + 1);
      } else {
        current = target;
      }
    } else {
      current = next;
    }
  }
  if (!inside(root, current)) throw new UnsafePathError(original, `it resolves to ${current}, outside the table ${root}`, source);
  return current;
}
function resolveInsideTable(tableDir, relPath) {
  return resolveIn(realpathSync(tableDir), relPath, tableDir);
}
async function probeFile(abs) {
  let info;
  try {
    info = await stat2(abs);
  } catch (err) {
    const code = err.code;
    if (code === "ENOENT" || code === "ENOTDIR") return { kind: "missing" };
    throw err;
  }
  if (info.isDirectory()) return { kind: "dir" };
  if (!info.isFile()) return { kind: "missing" };
  let pointer = false;
  if (info.size >= LFS_POINTER_PREFIX.length && info.size < LFS_POINTER_MAX) {
    const handle = await open2(abs, "r");
    try {
      const head = Buffer.alloc(LFS_POINTER_PREFIX.length);
      const { bytesRead } = await handle.read(head, 0, head.length, 0);
      pointer = head.subarray(0, bytesRead).toString("latin1") === LFS_POINTER_PREFIX;
    } finally {
      await handle.close();
    }
  }
  return { kind: "file", size: info.size, pointer };
}
async function listFiles(dir) {
  let entries;
  try {
    entries = await readdir(dir, { recursive: true, withFileTypes: true });
  } catch (err) {
    if (err.code === "ENOENT") return [];
    throw err;
  }
  return entries.filter((e) => !e.isDirectory()).map((e) => relative(dir, join2(e.parentPath, e.name)).split(sep).join("/"));
}
async function mapLimit2(items, limit, fn) {
  const results = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
var LFS_POINTER_PREFIX, LFS_POINTER_MAX, KNOWN_READER_FLAGS, inside;
var init_inspect = __esm({
  "src/engines/lance/inspect.ts"() {
    "use strict";
    init_lance();
    init_errors2();
    init_errors2();
    LFS_POINTER_PREFIX = "version https://git-lfs.github.com/spec/v1";
    LFS_POINTER_MAX = 1024;
    KNOWN_READER_FLAGS = 511;
    inside = (root, target) => {
      const rel = relative(root, target);
      return rel === "" || !rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel);
    };
  }
});

// bench/restore.ts
import { mkdir as mkdir4, mkdtemp as mkdtemp2, rm as rm2 } from "node:fs/promises";
import { tmpdir as tmpdir2 } from "node:os";
import { join as join7 } from "node:path";
import { MockActivityEnvironment } from "@temporalio/testing";
import { execa as execa3 } from "execa";

// src/activities/lance.ts
import { readdir as readdir3, unlink as unlink2 } from "node:fs/promises";
import { dirname as dirname4, join as join5 } from "node:path";
import { activityInfo, sleep } from "@temporalio/activity";
import * as lancedb from "@lancedb/lancedb";

// src/engines/lance/doctor.ts
import { realpath } from "node:fs/promises";
import { join as join3, relative as relative2 } from "node:path";

// src/engines/lfs/store.ts
import { createHash, randomBytes } from "node:crypto";
import { lstat, link, mkdir, open, rename, rmdir, stat, unlink } from "node:fs/promises";
import { dirname, join, posix, resolve } from "node:path";
import { execa } from "execa";

// src/format/lfs/pointer.ts
var LFS_VERSION_ALIASES = ["https://git-lfs.github.com/spec/v1", "https://hawser.github.com/spec/v1", "http://git-media.io/v/2"];
var LFS_POINTER_MAX_BYTES = 1024;
var LFS_EMPTY_OID = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
var OID_RE = /^[0-9a-f]{64}$/;
var KEY_RE = /^[a-z0-9.-]+$/;
var EXT_KEY_RE = /^ext-(\d)-(\w+)$/;
var LfsPointerError = class extends Error {
  constructor(problem, reason) {
    super(`invalid LFS pointer: ${reason}`);
    this.problem = problem;
    this.reason = reason;
  }
  problem;
  reason;
  name = "LfsPointerError";
};
function isLfsOid(oid) {
  return typeof oid === "string" && OID_RE.test(oid);
}
var encoder = new TextEncoder();
var strictDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
var looseDecoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
function toBytes(input) {
  return typeof input === "string" ? encoder.encode(input) : input;
}
function isLfsPointerText(input) {
  const head = typeof input === "string" ? input.slice(0, 64) : looseDecoder.decode(input.subarray(0, 64));
  return LFS_VERSION_ALIASES.some((alias) => head.startsWith(`version ${alias}`));
}
var trimSpace = (s) => s.replace(/^[\t\n\v\f\r ]+|[\t\n\v\f\r ]+$/g, "");
function looksLikePointer(bytes) {
  if (isLfsPointerText(bytes)) return true;
  const head = bytes.subarray(0, LFS_POINTER_MAX_BYTES);
  if (head.includes(0)) return false;
  const text = looseDecoder.decode(head).replace(/^[\t\n\v\f\r ]+/, "");
  return /^(version \S|oid sha256:|size \d|ext-\d-\w+ )/.test(text);
}
function parseLfsPointer(input) {
  const bytes = toBytes(input);
  if (bytes.length === 0) return { oid: LFS_EMPTY_OID, size: 0 };
  if (!looksLikePointer(bytes)) return void 0;
  if (bytes.length >= LFS_POINTER_MAX_BYTES) {
    throw new LfsPointerError("too-large", `pointer is ${bytes.length} bytes; pointers are smaller than ${LFS_POINTER_MAX_BYTES}`);
  }
  let text;
  try {
    text = strictDecoder.decode(bytes);
  } catch {
    throw new LfsPointerError("not-utf8", "pointer is not valid UTF-8");
  }
  const lines = [];
  for (const raw of trimSpace(text).split("\n")) {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (line === "") continue;
    const space = line.indexOf(" ");
    if (space <= 0) throw new LfsPointerError("invalid-line", `error reading line ${lines.length}: ${JSON.stringify(line)}`);
    const key = line.slice(0, space);
    if (!KEY_RE.test(key)) throw new LfsPointerError("invalid-key", `invalid key ${JSON.stringify(key)}`);
    lines.push([key, line.slice(space + 1)]);
  }
  let i = 0;
  const next = () => lines[i];
  const version = next();
  if (!version || version[0] !== "version") throw new LfsPointerError("missing-version", "Missing version");
  if (!LFS_VERSION_ALIASES.includes(version[1])) {
    throw new LfsPointerError("invalid-version", `Invalid version: ${JSON.stringify(version[1])}`);
  }
  i++;
  const extensions = [];
  for (let line = next(); line && line[0].startsWith("ext-"); line = next()) {
    const m = EXT_KEY_RE.exec(line[0]);
    if (!m) throw new LfsPointerError("invalid-extension", `invalid extension key ${JSON.stringify(line[0])}`);
    const extOid = parseOidValue(line[1]);
    extensions.push({ priority: Number(m[1]), name: m[2], oid: extOid });
    i++;
  }
  const oidLine = next();
  if (!oidLine || oidLine[0] !== "oid") {
    throw new LfsPointerError("missing-oid", oidLine ? `expected key "oid", got ${JSON.stringify(oidLine[0])}` : "Invalid Oid: no oid line");
  }
  const oid = parseOidValue(oidLine[1]);
  i++;
  const sizeLine = next();
  if (!sizeLine || sizeLine[0] !== "size") {
    throw new LfsPointerError("missing-size", sizeLine ? `expected key "size", got ${JSON.stringify(sizeLine[0])}` : "no size line");
  }
  const size = parseSizeValue(sizeLine[1]);
  i++;
  const extra = next();
  if (extra) throw new LfsPointerError("extra-line", `extra line: ${JSON.stringify(`${extra[0]} ${extra[1]}`)}`);
  return extensions.length ? { oid, size, extensions } : { oid, size };
}
function parseOidValue(value) {
  const colon = value.indexOf(":");
  if (colon < 0) throw new LfsPointerError("invalid-oid", `Invalid Oid value: ${JSON.stringify(value)}`);
  const type = value.slice(0, colon);
  if (type !== "sha256") throw new LfsPointerError("invalid-oid-type", `Invalid Oid type: ${JSON.stringify(type)}`);
  const oid = value.slice(colon + 1);
  if (!OID_RE.test(oid)) throw new LfsPointerError("invalid-oid", `Invalid Oid: ${JSON.stringify(oid)}`);
  return oid;
}
function parseSizeValue(value) {
  const size = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(size)) throw new LfsPointerError("invalid-size", `invalid size: ${JSON.stringify(value)}`);
  return size;
}
function assertLfsOid(oid) {
  if (!isLfsOid(oid)) throw new LfsPointerError("invalid-oid", `Invalid Oid: ${JSON.stringify(oid)}`);
}
function lfsObjectRelPath(oid) {
  assertLfsOid(oid);
  return `lfs/objects/${oid.slice(0, 2)}/${oid.slice(2, 4)}/${oid}`;
}

// src/engines/lfs/store.ts
var CHUNK = 1024 * 1024;
var MAX_GIT_OUTPUT = 1024 * 1024 * 1024;
var MAX_PATHSPECS = 256;
var NotAGitRepositoryError = class extends Error {
  constructor(dir, detail) {
    super(`not a git repository (or no work tree): ${dir}${detail ? `: ${detail}` : ""}`);
    this.dir = dir;
    this.detail = detail;
  }
  dir;
  detail;
  name = "NotAGitRepositoryError";
};
var LfsObjectMissingError = class extends Error {
  constructor(objectPath, oid) {
    super(`LFS object ${oid} is not in the local store: ${objectPath} does not exist`);
    this.objectPath = objectPath;
    this.oid = oid;
  }
  objectPath;
  oid;
  name = "LfsObjectMissingError";
};
var LfsObjectMismatchError = class extends Error {
  constructor(objectPath, expected, actual) {
    super(
      `LFS object ${objectPath} does not match its pointer: expected sha256 ${expected.oid} (${expected.size} bytes), got sha256 ${actual.oid} (${actual.size} bytes); nothing was written`
    );
    this.objectPath = objectPath;
    this.expected = expected;
    this.actual = actual;
  }
  objectPath;
  expected;
  actual;
  name = "LfsObjectMismatchError";
};
var LfsDestinationConflictError = class extends Error {
  constructor(destination, expected, actual) {
    super(
      `refusing to overwrite ${destination}: it exists with other content (` + (actual.kind === "other" ? "not a regular file" : actual.kind === "pointer" ? `this object's LFS pointer text, ${actual.size} bytes` : `${actual.size} bytes${actual.oid ? `, sha256 ${actual.oid}` : ""}`) + `) than the LFS object ${expected.oid} (${expected.size} bytes)`
    );
    this.destination = destination;
    this.expected = expected;
    this.actual = actual;
  }
  destination;
  expected;
  actual;
  name = "LfsDestinationConflictError";
};
var isNamed = (name) => (error) => error?.name === name;
var isNotAGitRepositoryError = isNamed("NotAGitRepositoryError");
var isLfsObjectMissingError = isNamed("LfsObjectMissingError");
var isLfsObjectMismatchError = isNamed("LfsObjectMismatchError");
var isLfsDestinationConflictError = isNamed("LfsDestinationConflictError");
async function git(cwd, args, input) {
  const result = await execa("git", args, { cwd, input, maxBuffer: MAX_GIT_OUTPUT, stripFinalNewline: false, env: { GIT_TERMINAL_PROMPT: "0" } });
  return result.stdout;
}
async function gitBytes(cwd, args, input) {
  const result = await execa("git", args, { cwd, input, encoding: "buffer", maxBuffer: MAX_GIT_OUTPUT, env: { GIT_TERMINAL_PROMPT: "0" } });
  return result.stdout;
}
function gitFailure(err) {
  const e = err;
  if (e.code === "ENOENT") return "git is not installed or not on PATH";
  const stderr = typeof e.stderr === "string" ? e.stderr.trim() : "";
  return stderr || String(e.shortMessage ?? e.message ?? err);
}
async function gitTopLevel(dir) {
  try {
    return (await git(dir, ["rev-parse", "--show-toplevel"])).trim();
  } catch (err) {
    throw new NotAGitRepositoryError(dir, gitFailure(err));
  }
}
async function gitDir(repoRoot) {
  try {
    return resolve(repoRoot, (await git(repoRoot, ["rev-parse", "--git-common-dir"])).trim());
  } catch (err) {
    throw new NotAGitRepositoryError(repoRoot, gitFailure(err));
  }
}
async function findPointers(repoRoot, paths) {
  const found = /* @__PURE__ */ new Map();
  const wanted = /* @__PURE__ */ new Map();
  for (const p of paths) {
    const clean = cleanRepoPath(p);
    if (clean === void 0) continue;
    const keys = wanted.get(clean);
    if (keys) keys.push(p);
    else wanted.set(clean, [p]);
  }
  const settle = (clean, value) => {
    for (const key of wanted.get(clean) ?? []) found.set(key, value);
    wanted.delete(clean);
  };
  const worktree = await mapLimit([...wanted.keys()], 32, async (clean) => [clean, await readWorktreePointer(join(repoRoot, clean))]);
  for (const [clean, pointer] of worktree) if (pointer) settle(clean, { pointer, source: "worktree" });
  if (!wanted.size) return found;
  const head = await git(repoRoot, ["rev-parse", "--verify", "--quiet", "HEAD^{commit}"]).then(
    (out) => out.trim(),
    () => void 0
  );
  if (head) {
    const listing = await git(repoRoot, ["--literal-pathspecs", "ls-tree", "-r", "-l", "-z", "--full-tree", head, "--", ...pathspecs(wanted.keys())]);
    const blobs = /* @__PURE__ */ new Map();
    for (const entry of listing.split("\0")) {
      const tab = entry.indexOf("	");
      if (tab < 0) continue;
      const path = entry.slice(tab + 1);
      if (!wanted.has(path)) continue;
      const [mode, type, oid, size] = entry.slice(0, tab).split(/ +/);
      if (type !== "blob" || !isFileMode(mode) || !oid || Number(size) >= LFS_POINTER_MAX_BYTES) continue;
      blobs.set(path, oid);
    }
    const contents2 = await catBlobs(repoRoot, new Set(blobs.values()));
    for (const [path, oid] of blobs) {
      const pointer = pointerFromBlob(contents2.get(oid));
      if (pointer) settle(path, { pointer, source: "head" });
    }
  }
  if (!wanted.size) return found;
  const log2 = await git(repoRoot, [
    "--literal-pathspecs",
    "log",
    "--all",
    "--reflog",
    "--no-renames",
    "--raw",
    "--no-abbrev",
    "-z",
    "--format=%x01%H",
    "--diff-filter=AMT",
    "--",
    ...pathspecs(wanted.keys())
  ]).catch(() => "");
  const candidates = /* @__PURE__ */ new Map();
  let commit = "";
  const tokens = log2.split("\0");
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i].replace(/^\n/, "");
    if (token.startsWith("")) {
      commit = token.slice(1);
    } else if (token.startsWith(":")) {
      const path = tokens[++i] ?? "";
      const [, newMode, , blob] = token.slice(1).split(" ");
      if (!commit || !blob || !isFileMode(newMode) || !wanted.has(path)) continue;
      const list = candidates.get(path);
      if (list) list.push({ commit, blob });
      else candidates.set(path, [{ commit, blob }]);
    }
  }
  const allBlobs = new Set([...candidates.values()].flatMap((list) => list.map((c2) => c2.blob)));
  const sizes = await catBlobSizes(repoRoot, allBlobs);
  const small = new Set([...allBlobs].filter((b) => (sizes.get(b) ?? Infinity) < LFS_POINTER_MAX_BYTES));
  const contents = await catBlobs(repoRoot, small);
  for (const [path, list] of candidates) {
    for (const { commit: commit2, blob } of list) {
      const pointer = pointerFromBlob(contents.get(blob));
      if (pointer) {
        settle(path, { pointer, source: "history", commit: commit2 });
        break;
      }
    }
  }
  return found;
}
function cleanRepoPath(p) {
  if (!p || p.includes("\0") || p.includes("\n")) return void 0;
  const clean = posix.normalize(p.replaceAll("\\", "/")).replace(/\/+$/, "");
  if (clean === "." || clean === ".." || clean.startsWith("../") || clean.startsWith("/") || clean === ".git" || clean.startsWith(".git/")) return void 0;
  return clean;
}
function pathspecs(paths) {
  const dirs = /* @__PURE__ */ new Set();
  for (const p of paths) {
    const dir = posix.dirname(p);
    if (dir === ".") return [];
    dirs.add(dir);
  }
  return dirs.size > MAX_PATHSPECS ? [] : [...dirs];
}
var isFileMode = (mode) => mode === "100644" || mode === "100755";
async function readWorktreePointer(file) {
  try {
    const info = await lstat(file);
    if (!info.isFile() || info.size === 0 || info.size >= LFS_POINTER_MAX_BYTES) return void 0;
    const fh = await open(file, "r");
    try {
      const buf = new Uint8Array(LFS_POINTER_MAX_BYTES);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      const bytes = buf.subarray(0, bytesRead);
      return isLfsPointerText(bytes) ? parseLfsPointer(bytes) : void 0;
    } finally {
      await fh.close();
    }
  } catch {
    return void 0;
  }
}
function pointerFromBlob(bytes) {
  if (!bytes || bytes.length === 0 || !isLfsPointerText(bytes)) return void 0;
  try {
    return parseLfsPointer(bytes);
  } catch {
    return void 0;
  }
}
async function catBlobs(repoRoot, oids) {
  const out = /* @__PURE__ */ new Map();
  if (!oids.size) return out;
  const buf = await gitBytes(repoRoot, ["cat-file", "--batch"], [...oids].join("\n") + "\n");
  let pos = 0;
  while (pos < buf.length) {
    const nl = buf.indexOf(10, pos);
    if (nl < 0) break;
    const header = new TextDecoder().decode(buf.subarray(pos, nl)).split(" ");
    pos = nl + 1;
    if (header.length !== 3) continue;
    const size = Number(header[2]);
    if (header[1] === "blob") out.set(header[0], buf.subarray(pos, pos + size));
    pos += size + 1;
  }
  return out;
}
async function catBlobSizes(repoRoot, oids) {
  const out = /* @__PURE__ */ new Map();
  if (!oids.size) return out;
  const text = await git(repoRoot, ["cat-file", "--batch-check"], [...oids].join("\n") + "\n");
  for (const line of text.split("\n")) {
    const [oid, type, size] = line.split(" ");
    if (oid && type === "blob") out.set(oid, Number(size));
  }
  return out;
}
async function mapLimit(items, limit, fn) {
  const results = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
async function hashFile(path) {
  const fh = await open(path, "r");
  try {
    const hash = createHash("sha256");
    const buf = Buffer.allocUnsafe(CHUNK);
    let bytes = 0;
    for (; ; ) {
      const { bytesRead } = await fh.read(buf, 0, CHUNK, bytes);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
      bytes += bytesRead;
    }
    return { sha256: hash.digest("hex"), bytes };
  } finally {
    await fh.close();
  }
}
function lfsObjectPath(gitDir2, pointer) {
  assertLfsOid(pointer.oid);
  return pointer.oid === LFS_EMPTY_OID && pointer.size === 0 ? "/dev/null" : join(gitDir2, lfsObjectRelPath(pointer.oid));
}
async function verifyLfsObject(gitDir2, pointer) {
  const objectPath = lfsObjectPath(gitDir2, pointer);
  if (objectPath === "/dev/null") return { objectPath, present: true, verified: true, actualSize: 0, actualOid: LFS_EMPTY_OID };
  let info;
  try {
    info = await stat(objectPath);
  } catch (err) {
    const code = err.code;
    return { objectPath, present: false, verified: false, problem: code === "ENOENT" ? `LFS object ${pointer.oid} is not in the local store (${objectPath})` : `cannot read ${objectPath}: ${err.message}` };
  }
  if (!info.isFile()) return { objectPath, present: false, verified: false, problem: `${objectPath} is not a regular file` };
  let actual;
  try {
    actual = await hashFile(objectPath);
  } catch (err) {
    return { objectPath, present: true, verified: false, actualSize: info.size, problem: `cannot read ${objectPath}: ${err.message}` };
  }
  const result = { objectPath, present: true, verified: false, actualSize: actual.bytes, actualOid: actual.sha256 };
  if (actual.bytes !== pointer.size) result.problem = `LFS object ${pointer.oid} is ${actual.bytes} bytes, its pointer says ${pointer.size} (truncated or corrupt)`;
  else if (actual.sha256 !== pointer.oid) result.problem = `LFS object ${pointer.oid} is corrupt: its bytes hash to ${actual.sha256}`;
  else if (pointer.extensions?.length) result.problem = `the pointer uses extensions (${pointer.extensions.map((e) => e.name).join(", ")}): the object is not the file's content`;
  else result.verified = true;
  return result;
}
async function copyVerifiedObject(objectPath, pointer, destination, options = {}) {
  assertLfsOid(pointer.oid);
  const expected = { oid: pointer.oid, size: pointer.size };
  if (pointer.extensions?.length) {
    throw new LfsPointerError("unsupported-extension", `the pointer uses extensions (${pointer.extensions.map((e) => e.name).join(", ")}): the stored object is not the file's content`);
  }
  let replace = false;
  const existing = await inspectDestination(destination, pointer);
  if (existing.kind === "same") return { sha256: pointer.oid, bytes: pointer.size, already: true };
  if (existing.kind === "pointer" && options.replacePointerFile) replace = true;
  else if (existing.kind !== "absent") throw conflict(destination, pointer, existing);
  let source;
  try {
    source = await open(objectPath, "r");
  } catch (err) {
    if (err.code === "ENOENT") throw new LfsObjectMissingError(objectPath, pointer.oid);
    throw err;
  }
  const dir = dirname(destination);
  let madeDir;
  let tmp;
  try {
    const size = (await source.stat()).size;
    if (size !== pointer.size) {
      const actual = await hashFile(objectPath);
      throw new LfsObjectMismatchError(objectPath, expected, { oid: actual.sha256, size: actual.bytes });
    }
    madeDir = await mkdir(dir, { recursive: true });
    tmp = `${destination}.restore-tmp-${randomBytes(6).toString("hex")}`;
    const hash = createHash("sha256");
    const bytes = await copyHashing(source, tmp, hash);
    const sha256 = hash.digest("hex");
    if (sha256 !== pointer.oid || bytes !== pointer.size) throw new LfsObjectMismatchError(objectPath, expected, { oid: sha256, size: bytes });
    if (replace) {
      await rename(tmp, destination);
      tmp = void 0;
    } else {
      const placed = await placeWithoutOverwrite(tmp, destination, pointer);
      tmp = void 0;
      if (placed === "existed") return { sha256, bytes, already: true };
    }
    await fsyncDir(dir);
    if (madeDir) await fsyncDir(dirname(madeDir));
    madeDir = void 0;
    return { sha256, bytes, already: false };
  } finally {
    await source.close();
    if (tmp) await unlink(tmp).catch(() => {
    });
    if (madeDir) await removeMadeDirs(dir, madeDir);
  }
}
async function copyHashing(source, target, hash) {
  const out = await open(target, "wx", 420);
  const buffers = [takeBuffer(), takeBuffer()];
  let writing = Promise.resolve();
  try {
    let which2 = 0;
    let pos = 0;
    for (; ; ) {
      const buf = buffers[which2];
      const { bytesRead } = await source.read(buf, 0, CHUNK, pos);
      if (bytesRead === 0) break;
      const chunk = buf.subarray(0, bytesRead);
      hash.update(chunk);
      await writing;
      writing = writeAll(out, chunk, pos);
      pos += bytesRead;
      which2 ^= 1;
    }
    await writing;
    await out.sync();
    return pos;
  } finally {
    await writing.catch(() => {
    });
    await out.close();
    if (spareBuffers.length < 16) spareBuffers.push(...buffers);
  }
}
var spareBuffers = [];
var takeBuffer = () => spareBuffers.pop() ?? Buffer.allocUnsafe(CHUNK);
async function writeAll(fh, chunk, position) {
  let done = 0;
  while (done < chunk.length) {
    const { bytesWritten } = await fh.write(chunk, done, chunk.length - done, position + done);
    done += bytesWritten;
  }
}
var conflict = (destination, pointer, found) => new LfsDestinationConflictError(destination, { oid: pointer.oid, size: pointer.size }, found);
async function inspectDestination(destination, pointer) {
  let info;
  try {
    info = await lstat(destination);
  } catch (err) {
    if (err.code === "ENOENT") return { kind: "absent" };
    throw err;
  }
  if (!info.isFile()) return { kind: "other", size: info.size };
  if (info.size !== pointer.size) {
    if (info.size >= LFS_POINTER_MAX_BYTES) return { kind: "file", size: info.size };
    const fh = await open(destination, "r");
    try {
      const buf = new Uint8Array(info.size);
      const { bytesRead } = await fh.read(buf, 0, info.size, 0);
      const text = buf.subarray(0, bytesRead);
      if (isLfsPointerText(text)) {
        let p;
        try {
          p = parseLfsPointer(text);
        } catch {
          p = void 0;
        }
        if (p && p.oid === pointer.oid && p.size === pointer.size) return { kind: "pointer", size: info.size };
      }
    } finally {
      await fh.close();
    }
    return { kind: "file", size: info.size };
  }
  const actual = await hashFile(destination);
  if (actual.sha256 === pointer.oid && actual.bytes === pointer.size) return { kind: "same" };
  return { kind: "file", size: actual.bytes, oid: actual.sha256 };
}
async function placeWithoutOverwrite(tmp, destination, pointer) {
  try {
    await link(tmp, destination);
  } catch (err) {
    const code = err.code;
    if (code === "EEXIST") {
      await unlink(tmp);
      const now2 = await inspectDestination(destination, pointer);
      if (now2.kind === "same") return "existed";
      throw conflict(destination, pointer, now2.kind === "absent" ? { kind: "other", size: 0 } : now2);
    }
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP" && code !== "EMLINK" && code !== "ENOSYS") throw err;
    const now = await inspectDestination(destination, pointer);
    if (now.kind !== "absent") {
      await unlink(tmp);
      if (now.kind === "same") return "existed";
      throw conflict(destination, pointer, now);
    }
    await rename(tmp, destination);
    return "placed";
  }
  await unlink(tmp);
  return "placed";
}
async function fsyncDir(dir) {
  let fh;
  try {
    fh = await open(dir, "r");
    await fh.sync();
  } catch (err) {
    const code = err.code;
    if (code !== "EISDIR" && code !== "EINVAL" && code !== "EPERM") throw err;
  } finally {
    await fh?.close();
  }
}
async function removeMadeDirs(dir, firstMade) {
  for (let d = dir; d.length >= firstMade.length; d = dirname(d)) {
    try {
      await rmdir(d);
    } catch {
      return;
    }
    if (d === firstMade) return;
  }
}

// src/engines/lance/doctor.ts
init_inspect();
async function diagnoseLance(tableDir, options = {}) {
  const inspection = await inspectTable(tableDir);
  const { currentVersion, latestCompleteVersion } = inspection;
  const findings = [...inspection.findings];
  const current = inspection.versions.find((v2) => v2.version === currentVersion);
  const broken = inspection.versions.filter((v2) => v2.version > (latestCompleteVersion ?? -1) && !v2.complete);
  const needed = /* @__PURE__ */ new Map();
  for (const v2 of broken) {
    for (const p of v2.missing) needed.set(p, "missing");
    for (const p of v2.pointers) needed.set(p, "pointer");
    for (const w of v2.wrongSize) needed.set(w.path, "wrong-size");
  }
  const restorable = [];
  const unrestorable = [];
  let lfsRepo = options.lfsRepo ?? "";
  if (needed.size) {
    try {
      lfsRepo ||= await gitTopLevel(tableDir);
      const git2 = await gitDir(lfsRepo);
      const realTable = await realpath(tableDir);
      const repoPath = (p) => relative2(lfsRepo, join3(realTable, p));
      const pointers = await findPointers(lfsRepo, [...needed.keys()].map(repoPath));
      let checked = 0;
      for (const [path, now] of needed) {
        const found = pointers.get(repoPath(path));
        options.onProgress?.({ checked: ++checked, of: needed.size });
        if (!found) {
          unrestorable.push({ path, reason: "no LFS pointer for it in the working tree, at HEAD or in history" });
          continue;
        }
        const object = await verifyLfsObject(git2, found.pointer);
        if (object.verified) restorable.push({ path, oid: found.pointer.oid, size: found.pointer.size, now, source: found.source });
        else unrestorable.push({ path, reason: object.problem ?? `LFS object ${found.pointer.oid} is not usable` });
      }
    } catch (err) {
      for (const path of needed.keys()) unrestorable.push({ path, reason: err.message });
    }
  }
  if (!current.complete) {
    findings.push({
      code: "CURRENT_VERSION_INCOMPLETE",
      message: `version ${currentVersion} (the one Lance reads, ${current.rows} rows) lacks ${current.missing.length} files, has ${current.pointers.length} LFS pointers in place of content and ${current.wrongSize.length} files of the wrong size; scans touching them fail with "Not found"`
    });
  }
  if (latestCompleteVersion === null) findings.push({ code: "NO_COMPLETE_VERSION", message: "no version of the table has all its files" });
  if (restorable.length) findings.push({ code: "RESTORABLE_FROM_LFS", message: `${restorable.length} files can be restored from verified LFS objects` });
  for (const u of unrestorable) findings.push({ code: "UNRESTORABLE", message: `${u.path}: ${u.reason}` });
  if (inspection.orphans.length) findings.push({ code: "ORPHAN_FILES", message: `${inspection.orphans.length} files in data/ are referenced by no version` });
  return {
    engine: "lance",
    path: tableDir,
    lfsRepo,
    healthy: current.complete,
    currentVersion,
    currentRows: current.rows,
    latestCompleteVersion,
    brokenVersions: broken.map((v2) => v2.version).sort((a, b) => a - b),
    missingCount: needed.size,
    versions: inspection.versions.map((v2) => ({ version: v2.version, rows: v2.rows, complete: v2.complete, missing: v2.missing, pointers: v2.pointers, wrongSize: v2.wrongSize.map((w) => w.path) })),
    restorable,
    unrestorable,
    orphans: inspection.orphans,
    findings
  };
}

// src/activities/lance.ts
init_inspect();
import { ApplicationFailure as ApplicationFailure2 } from "@temporalio/activity";

// src/activities/failures.ts
import { ApplicationFailure } from "@temporalio/activity";
function invalidInput(message, details) {
  return ApplicationFailure.create({ type: "InvalidInput", message, nonRetryable: true, details: details === void 0 ? [] : [details] });
}
function safetyViolation(message, details) {
  return ApplicationFailure.create({ type: "SafetyViolation", message, nonRetryable: true, details: details === void 0 ? [] : [details] });
}

// src/activities/files.ts
import { createHash as createHash2 } from "node:crypto";
import { createReadStream } from "node:fs";
import { copyFile, mkdir as mkdir2, readdir as readdir2, rename as rename2, stat as stat3, writeFile } from "node:fs/promises";
import { dirname as dirname3, join as join4, relative as relative3 } from "node:path";
async function sha256File(path) {
  const hash = createHash2("sha256");
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk);
  return hash.digest("hex");
}
async function exists(path) {
  return stat3(path).then(() => true, () => false);
}
async function moveRecorded(from, to) {
  const [source, target] = await Promise.all([exists(from), exists(to)]);
  if (!source && target) return { from, to, sha256: await sha256File(to) };
  if (!source) throw safetyViolation(`cannot move ${from}: it is gone and ${to} does not hold it`);
  if (target) throw safetyViolation(`cannot move ${from} to ${to}: the destination exists; refusing to overwrite`);
  const sha256 = await sha256File(from);
  await mkdir2(dirname3(to), { recursive: true });
  await rename2(from, to);
  return { from, to, sha256 };
}

// src/activities/progress.ts
import { Context, getClient, log } from "@temporalio/activity";

// src/workflows/messages.ts
import { defineQuery, defineSignal, defineUpdate } from "@temporalio/workflow";
var progressQuery = defineQuery("progress");
var approveUpdate = defineUpdate("approve");
var stepSignal = defineSignal("stepProgress");

// src/workflows/names.ts
import { defineSearchAttributeKey, SearchAttributeType } from "@temporalio/common";
var RunbookName = defineSearchAttributeKey("RunbookName", SearchAttributeType.KEYWORD);
var RunbookTarget = defineSearchAttributeKey("RunbookTarget", SearchAttributeType.KEYWORD);
var TriggeredBy = defineSearchAttributeKey("TriggeredBy", SearchAttributeType.KEYWORD);
var RunbookOutcome = defineSearchAttributeKey("RunbookOutcome", SearchAttributeType.KEYWORD);
var STEP_ACTIVITY_PREFIX = "step:";

// src/activities/progress.ts
var SIGNAL_EVERY_MS = 2e3;
var lastSignalled = /* @__PURE__ */ new WeakMap();
async function signalStep(info, heartbeat) {
  if (!info.activityId.startsWith(STEP_ACTIVITY_PREFIX) || !info.workflowExecution) return;
  const { workflowId, runId } = info.workflowExecution;
  try {
    await getClient().workflow.getHandle(workflowId, runId).signal(stepSignal, { activityId: info.activityId, attempt: info.attempt, heartbeat });
  } catch (err) {
    log.debug("step progress signal not delivered", { error: String(err) });
  }
}
function reportProgress(detail) {
  const ctx = Context.current();
  ctx.heartbeat(detail);
  const now = Date.now();
  if (now - (lastSignalled.get(ctx) ?? 0) < SIGNAL_EVERY_MS) return;
  lastSignalled.set(ctx, now);
  void signalStep(ctx.info, detail);
}

// src/activities/lance.ts
function asFailure(err) {
  const name = err?.name;
  if (name === "UnsafePathError") return safetyViolation(err.message);
  if (name === "LanceFormatError" || name === "LfsPointerError") return invalidInput(err.message);
  if (name === "LfsObjectMismatchError") return safetyViolation(err.message);
  return err;
}
async function guarded(work) {
  try {
    return await work();
  } catch (err) {
    throw asFailure(err);
  }
}
async function restoreLanceFiles(args) {
  return guarded(async () => {
    const git2 = await gitDir(args.lfsRepo);
    const resumed = activityInfo().heartbeatDetails ?? { done: 0, bytes: 0 };
    const progress = { ...resumed };
    const moved = [];
    const stale = await removeStaleTempFiles(args.tableDir, args.files);
    let copied = 0;
    for (const file of args.files.slice(resumed.done)) {
      const destination = resolveInsideTable(args.tableDir, file.path);
      if (file.now !== "missing") {
        const replaced = await moveRecorded(destination, join5(args.replacedDir, file.path)).catch((err) => {
          if (err.message.includes("it is gone")) return void 0;
          throw err;
        });
        if (replaced) moved.push(replaced);
      }
      const result = await copyVerifiedObject(join5(git2, lfsObjectRelPath(file.oid)), { oid: file.oid, size: file.size }, destination);
      if (!result.already) copied += 1;
      progress.done += 1;
      progress.bytes += file.size;
      reportProgress(progress);
      if (args.pauseMs) await sleep(args.pauseMs);
    }
    return { restored: args.files.length, resumedAfter: resumed.done, copiedThisAttempt: copied, staleTempFilesRemoved: stale, bytes: progress.bytes, filesMoved: moved };
  });
}
async function removeStaleTempFiles(tableDir, files) {
  const ours2 = new Set(files.map((f) => resolveInsideTable(tableDir, f.path)));
  const dirs = new Set([...ours2].map((p) => dirname4(p)));
  let removed = 0;
  for (const dir of dirs) {
    for (const name of await readdir3(dir).catch(() => [])) {
      const at = name.indexOf(".restore-tmp-");
      if (at > 0 && ours2.has(join5(dir, name.slice(0, at)))) {
        await unlink2(join5(dir, name));
        removed += 1;
      }
    }
  }
  return removed;
}

// src/demo/lance-incident.ts
import { chmod, mkdir as mkdir3, mkdtemp, readdir as readdir4, readFile as readFile2, realpath as realpath2, rm, writeFile as writeFile2 } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join as join6 } from "node:path";
import * as lancedb2 from "@lancedb/lancedb";
import { execa as execa2 } from "execa";
var TABLE = "images";
var SEED_OLD_VERSION = 61;
var SEED_NEW_VERSION = 421;
var U64_MAX2 = (1n << 64n) - 1n;
function imageRows(from, count) {
  return Array.from({ length: count }, (_, k) => {
    const id = from + k;
    return { id, name: `img-${String(id).padStart(4, "0")}.jpg`, vector: Array.from({ length: 8 }, (_2, j) => Math.fround(Math.sin(id * 8 + j))) };
  });
}
async function buildLanceIncident(options = {}) {
  const { newRows = 386, missing = 295, scheme = "v1", corruptObjects = 0, versions = 2 } = options;
  const oldRows = options.oldRows ?? Math.min(30, newRows - missing);
  const appended = newRows - oldRows;
  if (!Number.isInteger(oldRows) || oldRows < 1) throw new Error(`oldRows must be a positive integer, got ${oldRows}`);
  if (!Number.isInteger(newRows) || appended < 1) throw new Error(`newRows (${newRows}) must be an integer larger than oldRows (${oldRows})`);
  if (!Number.isInteger(missing) || missing < 1 || missing > appended) throw new Error(`missing must be 1..${appended} (the data files only the newest version has), got ${missing}`);
  if (!Number.isInteger(corruptObjects) || corruptObjects < 0 || corruptObjects > missing) throw new Error(`corruptObjects must be 0..${missing}, got ${corruptObjects}`);
  if (versions === "seed" && (oldRows > SEED_OLD_VERSION || SEED_OLD_VERSION + appended > SEED_NEW_VERSION)) {
    throw new Error(`versions 'seed' (61 -> 421) needs oldRows <= 61 and newRows - oldRows <= 360`);
  }
  if (versions !== "seed" && !(versions >= 2)) throw new Error(`versions must be 'seed' or a number >= 2, got ${versions}`);
  const started = performance.now();
  let gitMs = 0;
  let lancedbMs = 0;
  const dir = options.dir ?? await mkdtemp(join6(tmpdir(), "lance-incident-"));
  await mkdir3(dir, { recursive: true });
  const repoRoot = await realpath2(dir);
  const cleanup = () => rm(repoRoot, { recursive: true, force: true });
  const git2 = async (...args) => {
    const t = performance.now();
    const result = await execa2("git", args, { cwd: repoRoot, env: { GIT_TERMINAL_PROMPT: "0" } });
    gitMs += performance.now() - t;
    return result.stdout;
  };
  try {
    await git2("init", "--quiet", "-b", "main");
    await git2("config", "user.name", "Lance Incident");
    await git2("config", "user.email", "lance-incident@example.invalid");
    await git2("config", "commit.gpgsign", "false");
    await git2("lfs", "install", "--local");
    await writeFile2(join6(repoRoot, ".gitattributes"), "*.lance filter=lfs diff=lfs merge=lfs -text\n");
    const dbDir = join6(repoRoot, "db");
    const tableDir = join6(dbDir, `${TABLE}.lance`);
    const dataDir = join6(tableDir, "data");
    const listData = async () => (await readdir4(dataDir)).filter((f) => f.endsWith(".lance")).sort();
    let t = performance.now();
    const db = await lancedb2.connect(dbDir);
    const table = await db.createTable(TABLE, imageRows(0, 1), {
      storageOptions: { new_table_enable_v2_manifest_paths: scheme === "v2" ? "true" : "false" }
    });
    for (let id = 1; id < oldRows; id++) await table.add(imageRows(id, 1));
    const padTo = async (version) => {
      while (await table.version() < version) await table.delete("id < 0");
    };
    if (versions === "seed") await padTo(SEED_OLD_VERSION);
    const oldVersion = await table.version();
    const oldFiles = new Set(await listData());
    lancedbMs += performance.now() - t;
    await pruneVersions(tableDir, [oldVersion], 1);
    await git2("add", "-A");
    await git2("commit", "--quiet", "-m", `images: ${oldRows} rows (version ${oldVersion})`);
    t = performance.now();
    if (versions === "seed") await padTo(SEED_NEW_VERSION - appended);
    for (let id = oldRows; id < newRows; id++) await table.add(imageRows(id, 1));
    const newVersion = await table.version();
    table.close();
    db.close();
    const allFiles = await listData();
    lancedbMs += performance.now() - t;
    if (allFiles.length !== newRows) throw new Error(`expected ${newRows} data files, lancedb wrote ${allFiles.length}`);
    const keepNewest = versions === "seed" ? 1 : versions - 1;
    await pruneVersions(tableDir, [oldVersion], keepNewest);
    await git2("add", "-A");
    await git2("commit", "--quiet", "-m", `images: ${newRows} rows (version ${newVersion})`);
    const onlyNew = allFiles.filter((f) => !oldFiles.has(f));
    const missingNames = onlyNew.slice(0, missing);
    for (const f of missingNames) await rm(join6(dataDir, f));
    const missingFiles = missingNames.map((f) => `data/${f}`);
    const gitDir2 = join6(repoRoot, ".git");
    const corruptedFiles = missingFiles.slice(0, corruptObjects);
    for (const file of corruptedFiles) {
      const pointer = parseLfsPointer(await git2("cat-file", "blob", `HEAD:db/${TABLE}.lance/${file}`));
      if (!pointer) throw new Error(`HEAD:${file} is not an LFS pointer: is git-lfs installed?`);
      const objectPath = join6(gitDir2, lfsObjectRelPath(pointer.oid));
      const bytes = await readFile2(objectPath);
      for (let i = 0; i < bytes.length; i++) bytes[i] = bytes[i] ^ 255;
      await chmod(objectPath, 420);
      await writeFile2(objectPath, bytes);
    }
    await assertIncident(dbDir, { oldVersion, newVersion, oldRows, newRows });
    return {
      repoRoot,
      dbDir,
      tableName: TABLE,
      tableDir,
      gitDir: gitDir2,
      oldVersion,
      newVersion,
      oldRows,
      newRows,
      dataFiles: allFiles.map((f) => `data/${f}`),
      missingFiles,
      corruptedFiles,
      timings: { lancedbMs: Math.round(lancedbMs), gitMs: Math.round(gitMs), totalMs: Math.round(performance.now() - started) },
      cleanup
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
function manifestVersion(name) {
  const m = /^(\d+)\.manifest$/.exec(name);
  if (!m) return void 0;
  return m[1].length === 20 ? Number(U64_MAX2 - BigInt(m[1])) : Number(m[1]);
}
async function pruneVersions(tableDir, keep, newest) {
  const versionsDir = join6(tableDir, "_versions");
  const all = (await readdir4(versionsDir)).flatMap((f) => {
    const v2 = manifestVersion(f);
    return v2 === void 0 ? [] : [{ f, v: v2 }];
  });
  all.sort((a, b) => b.v - a.v);
  const kept = /* @__PURE__ */ new Set([...keep, ...all.slice(0, newest).map((x) => x.v)]);
  for (const { f, v: v2 } of all) if (!kept.has(v2)) await rm(join6(versionsDir, f));
  const txnDir = join6(tableDir, "_transactions");
  for (const f of await readdir4(txnDir)) {
    const readVersion = Number(/^(\d+)-/.exec(f)?.[1]);
    if (!kept.has(readVersion + 1)) await rm(join6(txnDir, f));
  }
}
async function assertIncident(dbDir, want) {
  const db = await lancedb2.connect(dbDir);
  const table = await db.openTable(TABLE);
  try {
    const version = await table.version();
    if (version !== want.newVersion) throw new Error(`incident: lancedb opens version ${version}, expected ${want.newVersion}`);
    const count = await table.countRows();
    if (count !== want.newRows) throw new Error(`incident: countRows() = ${count}, expected ${want.newRows}`);
    const scan = await table.query().toArray().then(
      (rows) => new Error(`incident: a full scan returned ${rows.length} rows instead of failing`),
      (err) => err
    );
    if (!/Not found/.test(scan.message) || !scan.message.includes("data/")) throw new Error(`incident: the full scan did not fail with "Not found \u2026 data/\u2026": ${scan.message}`);
    await table.checkout(want.oldVersion);
    const oldRows = (await table.query().toArray()).length;
    if (oldRows !== want.oldRows) throw new Error(`incident: version ${want.oldVersion} scans ${oldRows} rows, expected ${want.oldRows}`);
  } finally {
    table.close();
    db.close();
  }
}

// bench/restore.ts
var OURS = "ours: restoreLanceFiles";
var CP_SHA = "cp + sha256sum";
var CP_SHA_SYNC = "cp + sha256sum + sync";
var quiet = { log() {
}, trace() {
}, debug() {
}, info() {
}, warn() {
}, error() {
} };
async function restoreCase(label, options) {
  const started = performance.now();
  const incident = await buildLanceIncident(options);
  const buildMs = performance.now() - started;
  const sandbox = await mkdtemp2(join7(tmpdir2(), "bench-restore-"));
  try {
    const diagnosis = await diagnoseLance(incident.tableDir);
    const files = diagnosis.restorable;
    if (files.length !== incident.missingFiles.length || diagnosis.unrestorable.length) {
      throw new Error(`${label}: diagnosis found ${files.length} restorable and ${diagnosis.unrestorable.length} unrestorable files, expected ${incident.missingFiles.length} restorable`);
    }
    const bytes = files.reduce((sum, f) => sum + f.size, 0);
    const objectsDir = join7(incident.gitDir, "lfs", "objects");
    const objects = files.map((f) => lfsObjectRelPath(f.oid).replace(/^lfs\/objects\//, ""));
    const oids = files.map((f) => f.oid);
    const baselineDir = join7(sandbox, "copies");
    const ours2 = {
      name: OURS,
      run: async () => {
        const env = new MockActivityEnvironment(void 0, { logger: quiet });
        const args = { tableDir: incident.tableDir, lfsRepo: incident.repoRoot, files, replacedDir: join7(sandbox, "replaced") };
        const result = await env.run(restoreLanceFiles, args);
        if (result.copiedThisAttempt !== files.length) throw new Error(`${label}: restore copied ${result.copiedThisAttempt} of ${files.length} files`);
      },
      // The restored files are verified copies of LFS objects: removing them puts the incident back.
      reset: () => removeAll(files.map((f) => join7(incident.tableDir, f.path)))
    };
    const baseline = (name, sync) => ({
      name,
      prepare: () => mkdir4(baselineDir).then(() => void 0),
      run: async () => {
        await execa3("xargs", ["-0", "cp", "-t", baselineDir, "--"], { cwd: objectsDir, input: objects.join("\0") });
        const sums = await execa3("xargs", ["-0", "sha256sum", "--"], { cwd: baselineDir, input: oids.join("\0") });
        const lines = sums.stdout.split("\n");
        const bad = lines.filter((line) => line.slice(0, 64) !== line.slice(66));
        if (lines.length !== files.length || bad.length) throw new Error(`${label}: sha256sum checked ${lines.length} files, ${bad.length} mismatched`);
        if (sync) await execa3("xargs", ["-0", "sync", "--"], { cwd: baselineDir, input: [...oids, "."].join("\0") });
      },
      reset: () => rm2(baselineDir, { recursive: true, force: true })
    });
    return {
      label,
      files: files.length,
      bytes,
      buildMs,
      variants: [ours2, baseline(CP_SHA, false), baseline(CP_SHA_SYNC, true)],
      cleanup: async () => {
        await rm2(sandbox, { recursive: true, force: true });
        await incident.cleanup();
      }
    };
  } catch (err) {
    await rm2(sandbox, { recursive: true, force: true });
    await incident.cleanup();
    throw err;
  }
}
async function removeAll(paths) {
  for (const p of paths) await rm2(p, { force: true });
}

// bench/.scratch/rprof.ts
var which = process.argv[2] ?? "seed";
var c = await restoreCase(which, which === "seed" ? { versions: "seed" } : { newRows: 3860, missing: 2950 });
var ours = c.variants[0];
var only = process.env.ONLY ?? "ours";
var v = only === "ours" ? ours : c.variants.find((x) => x.name.endsWith(only === "sync" ? "sync" : "sha256sum"));
for (let i = 0; i < Number(process.env.N ?? 5); i++) {
  await v.prepare?.();
  if (process.env.MARK) process.stderr.write("MARK start\n");
  const t = performance.now();
  await v.run();
  const ms = performance.now() - t;
  await v.reset?.();
  console.log(v.name, ms.toFixed(0));
}
await c.cleanup();
