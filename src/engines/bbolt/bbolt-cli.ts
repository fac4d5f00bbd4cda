// The real bbolt CLI (go.etcd.io/bbolt/cmd/bbolt v1.4.3, built by set-up into .tools/bin, or
// BBOLT_CLI) as referee and surgeon for etcd's bbolt files. `bboltCheck` is `bbolt check`, read-only,
// reported as data: the errors it prints, or the panic it dies of, or that it never ended. The
// surgery commands always write a NEW file and never touch the source: each refuses an output that
// exists or is the source, runs the CLI into a temporary file beside the output, fsyncs it and links
// it into place only when the command succeeded. Engine code: execa only, no Temporal.
//
// What v1.4.3 does, measured (test/engines/bbolt-cli.test.ts pins it):
// - `check` opens the file read-only (a shared flock: it waits while a writer such as etcd holds the
//   db, hence the timeout), prints each error line, then "N errors found" (exit 1), or "OK" (exit 0).
// - Without a persisted freelist (etcd: NoFreelistSync) the open walks the whole tree, and a branch
//   that points at itself or shares a child PANICS there ("panic: freepages: failed to get all
//   reachable pages (page P: multiple references (stack: [...]))", exit 2).
// - With a freelist the open succeeds and `tx.Check` recurses through the cycle without end,
//   printing "page P: multiple references (stack: [P P …])" lines that grow by one id each: it never
//   finishes by itself. `maxErrors` stops it.
// - A truncated file crashes it (exit 2): "fatal error: fault" (SIGSEGV in the mmap) or
//   "panic: invalid freelist page: …", from one run to the next.
// - A bad checksum on the older meta page is not seen at all ("OK"); a file whose both metas are bad
//   does not open ("Error: checksum error", exit 1).
// - Surgery commands read the page size and high-water mark from meta page 0 (magic checked only,
//   not the checksum), and `revert-meta-page` copies the older meta (by txid, valid or not) over the
//   newer one: when the OLDER meta is the bad one, its output opens nowhere.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { link, lstat, open, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { AbortError } from '../../format/logstore/errors';

/** The tag set-up builds (scripts/setup.cjs BBOLT_VERSION); the flags below are this version's. */
export const BBOLT_CLI_VERSION = '1.4.3';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** BBOLT_CLI, else `<repo>/.tools/bin/bbolt` (built by `npm test`, `npm start` and `npm run bench`). */
export function bboltCliPath(): string {
  const path = process.env.BBOLT_CLI || `${repoRoot}.tools/bin/bbolt`;
  if (!existsSync(path)) {
    throw new Error(`the bbolt CLI is not built: ${path} does not exist; run npm test or npm start once to build it (go install go.etcd.io/bbolt/cmd/bbolt@v${BBOLT_CLI_VERSION}, with Go), or set BBOLT_CLI to a bbolt binary`);
  }
  return path;
}

/** The CLI failed: it refused (its "Error: …" line), crashed (a Go panic or fatal error), or was stopped. */
export class BboltCliError extends Error {
  override name = 'BboltCliError' as const;
  constructor(
    readonly args: string[],
    /** The CLI's own words: the text after "Error: ", or the panic / fatal error line. */
    readonly cliMessage: string,
    readonly exitCode: number | undefined,
    readonly panicked: boolean,
  ) {
    super(`bbolt ${args.join(' ')}: ${cliMessage}`);
  }
}

/** A surgery refused before the CLI ran: the output exists or is the source, or an option is out of range. */
export class BboltSurgeryRefusedError extends Error {
  override name = 'BboltSurgeryRefusedError' as const;
}

const DEFAULT_TIMEOUT_MS = 10 * 60_000;
const STDERR_KEPT = 64 * 1024;
const LINE_KEPT = 2000;

const cut = (line: string): string => (line.length > LINE_KEPT ? `${line.slice(0, LINE_KEPT)}… (${line.length - LINE_KEPT} more characters)` : line);

interface RunOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
  /** Each stdout line; returning false stops the CLI (SIGKILL). */
  onLine: (line: string) => boolean;
}

interface RunResult {
  exitCode: number | undefined;
  timedOut: boolean;
  /** onLine asked to stop. */
  stopped: boolean;
  /** The first 64 KiB of stderr. */
  stderr: string;
  /** The text of the CLI's last "Error: …" line, when it printed one. */
  error?: string;
  /** "panic: …" or "fatal error: … [signal …]": the Go runtime's crash, when it crashed. */
  crash?: string;
  durationMs: number;
}

/** Runs the CLI, streaming stdout line by line (check's output can grow without end), never longer than the timeout. */
async function runBbolt(args: string[], opts: RunOptions): Promise<RunResult> {
  const started = performance.now();
  const child = execa(bboltCliPath(), args, {
    reject: false,
    buffer: false,
    stdin: 'ignore',
    cancelSignal: opts.signal,
    timeout: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    killSignal: 'SIGKILL',
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    if (stderr.length < STDERR_KEPT) stderr += chunk.slice(0, STDERR_KEPT - stderr.length);
  });
  let stopped = false;
  const lines = (async () => {
    for await (const line of createInterface({ input: child.stdout!, crlfDelay: Infinity })) {
      if (stopped) continue; // drained: the child is being killed
      if (!opts.onLine(line)) {
        stopped = true;
        child.kill('SIGKILL');
      }
    }
  })();
  const [r] = await Promise.all([child, lines]);
  if (r.isCanceled) throw new AbortError(`bbolt ${args.join(' ')}`, opts.signal?.reason);
  const stderrLines = stderr.split('\n');
  const errorLines = stderrLines.filter((l) => l.startsWith('Error: '));
  const panicLine = stderrLines.find((l) => l.startsWith('panic: '));
  const fatalAt = stderrLines.findIndex((l) => l.startsWith('fatal error: '));
  const fatalSignal = fatalAt >= 0 ? stderrLines[fatalAt + 1] : undefined;
  const fatal = fatalAt >= 0 ? `${stderrLines[fatalAt]}${fatalSignal?.startsWith('[signal ') ? ` ${fatalSignal}` : ''}` : undefined;
  const crash = panicLine ?? fatal;
  return {
    exitCode: r.exitCode,
    timedOut: r.timedOut,
    stopped,
    stderr,
    ...(errorLines.length ? { error: errorLines.at(-1)!.slice('Error: '.length) } : {}),
    ...(crash ? { crash: cut(crash) } : {}),
    durationMs: Math.round(performance.now() - started),
  };
}

export interface BboltCheckOptions {
  signal?: AbortSignal;
  /** Kill the check after this long and report `timedOut` (default 10 min). */
  timeoutMs?: number;
  /**
   * Stop the check after this many error lines and report `stoppedEarly` (default 1000): on a cycle
   * with a persisted freelist it prints without end. At most the first 100 are kept in `errors`.
   */
  maxErrors?: number;
  /** `--from-page`: check the tree under this page only. */
  fromPage?: number;
}

export interface BboltCheckResult {
  /** The CLI printed "OK" and exited 0. */
  ok: boolean;
  /**
   * What it found, each line cut at 2000 characters: the check's error lines (the first 100), else
   * the panic or fatal error line, else the open error ("checksum error", "invalid database", …).
   */
  errors: string[];
  /** Error lines printed ("N errors found" when it finished; the count so far when stopped). */
  errorCount: number;
  /** It died of a Go panic or a fatal runtime error ("fatal error: fault" on a truncated file). */
  panicked: boolean;
  /** bbolt refused to open the file ("checksum error": both metas bad, "invalid database", …). */
  openError?: string;
  timedOut: boolean;
  /** Stopped after `maxErrors` error lines; the check had not finished. */
  stoppedEarly: boolean;
  /** undefined when it was killed (timeout, stoppedEarly). */
  exitCode: number | undefined;
  durationMs: number;
}

const ERRORS_KEPT = 100;

/** `bbolt check <file>`: read-only; the file is never changed. Throws only when the CLI cannot be understood (a broken binary) or on abort. */
export async function bboltCheck(file: string, opts: BboltCheckOptions = {}): Promise<BboltCheckResult> {
  const maxErrors = opts.maxErrors ?? 1000;
  const args = ['check', file, ...(opts.fromPage !== undefined ? ['--from-page', pageId(opts.fromPage, 'fromPage')] : [])];
  const errors: string[] = [];
  let errorCount = 0;
  let summary: number | undefined;
  let sawOk = false;
  const r = await runBbolt(args, {
    ...opts,
    onLine(line) {
      const found = /^(\d+) errors found$/.exec(line);
      if (found) summary = Number(found[1]);
      else if (line === 'OK' && errorCount === 0) sawOk = true;
      else {
        errorCount++;
        if (errors.length < ERRORS_KEPT) errors.push(cut(line));
      }
      return errorCount < maxErrors;
    },
  });
  const base = { timedOut: r.timedOut, stoppedEarly: r.stopped, exitCode: r.exitCode, durationMs: r.durationMs };
  if (r.exitCode === 0 && sawOk && errorCount === 0) return { ok: true, errors: [], errorCount: 0, panicked: false, ...base };
  if (r.crash) return { ok: false, errors: [...errors, r.crash], errorCount, panicked: true, ...base };
  if (r.timedOut || r.stopped) return { ok: false, errors, errorCount, panicked: false, ...base };
  if (r.exitCode === 1 && summary !== undefined) return { ok: false, errors, errorCount: summary, panicked: false, ...base };
  if (r.exitCode === 1 && r.error !== undefined && errorCount === 0) {
    return { ok: false, errors: [cut(r.error)], errorCount: 0, panicked: false, openError: cut(r.error), ...base };
  }
  throw new BboltCliError(args, `unexpected result (exit ${r.exitCode ?? 'none'}): ${(r.stderr || errors.join('\n')).trim().slice(0, 2000)}`, r.exitCode, false);
}

function pageId(n: number, what: string): string {
  if (!Number.isSafeInteger(n) || n < 0) throw new BboltSurgeryRefusedError(`${what} must be a page id (an integer ≥ 0), got ${n}`);
  return String(n);
}

export interface BboltSurgeryOptions {
  signal?: AbortSignal;
  /** Default 10 min (the command copies the whole file first). */
  timeoutMs?: number;
}

export interface BboltSurgeryResult {
  /** The new file, absolute, fsynced. */
  output: string;
  /** What the CLI printed (stdout lines), e.g. "The meta page is reverted.". */
  messages: string[];
  /** Its "WARNING: …" lines. */
  warnings: string[];
  /**
   * It advised `bbolt surgery freelist abandon`: pages may be left neither referenced nor free in a
   * persisted freelist, so run `freelistAbandon` (then `freelistRebuild`) on the output before using
   * it. v1.4.3 advises it whenever branch elements are cleared or a page's overflow changes (and
   * after copy-page when a freelist is persisted), even on a db with no freelist, where it is moot.
   */
  freelistAbandonAdvised: boolean;
  durationMs: number;
}

/**
 * `bbolt surgery <command> <source> --output <tmp> <flags>`, then `tmp` linked to `output` (which
 * fails if `output` appeared meanwhile). The source is only read.
 */
async function surgery(command: string[], source: string, output: string, flags: string[], opts: BboltSurgeryOptions): Promise<BboltSurgeryResult> {
  const src = resolve(source);
  const out = resolve(output);
  const what = `bbolt surgery ${command.join(' ')}`;
  if (out === src) throw new BboltSurgeryRefusedError(`${what}: the output ${out} is the source; surgery writes a new file`);
  const s = await stat(src).catch(() => undefined);
  if (!s?.isFile()) throw new BboltSurgeryRefusedError(`${what}: the source ${src} is not a file`);
  const taken = async () => (await lstat(out).catch(() => undefined)) !== undefined;
  if (await taken()) throw new BboltSurgeryRefusedError(`${what}: the output ${out} exists; surgery writes a new file only`);
  const tmp = join(dirname(out), `.${basename(out)}.bbolt-${process.pid}-${randomBytes(4).toString('hex')}`);
  const args = ['surgery', ...command, src, '--output', tmp, ...flags];
  const messages: string[] = [];
  try {
    const r = await runBbolt(args, {
      ...opts,
      onLine(line) {
        if (messages.length < 1000) messages.push(cut(line));
        return true;
      },
    });
    if (r.exitCode !== 0 || r.crash || r.timedOut) {
      const why = r.crash ?? (r.timedOut ? `timed out after ${r.durationMs} ms` : (r.error ?? `exit ${r.exitCode ?? 'none'}: ${r.stderr.trim().slice(0, 2000)}`));
      throw new BboltCliError(args.map((a) => (a === tmp ? out : a)), why, r.exitCode, Boolean(r.crash));
    }
    const fh = await open(tmp, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await link(tmp, out);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new BboltSurgeryRefusedError(`${what}: the output ${out} appeared while the surgery ran; left as it is`);
      throw err;
    }
    const dir = await open(dirname(out), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
    const warnings = messages.filter((m) => m.startsWith('WARNING:'));
    return { output: out, messages, warnings, freelistAbandonAdvised: messages.some((m) => m.includes('surgery freelist abandon')), durationMs: r.durationMs };
  } finally {
    await rm(tmp, { force: true });
  }
}

/**
 * `surgery revert-meta-page`: the older meta page (by txid, VALID OR NOT) copied over the newer one,
 * dropping the last transaction. Useful when the newer meta or the newer tree is damaged; when the
 * older meta is the bad one the output opens nowhere, so check the output.
 */
export async function revertMetaPage(source: string, output: string, opts: BboltSurgeryOptions = {}): Promise<BboltSurgeryResult> {
  return surgery(['revert-meta-page'], source, output, [], opts);
}

/**
 * `surgery clear-page-elements --pageId P --from-index F --to-index T`: removes elements [F, T) of a
 * branch or leaf page (T = -1: to the end). The page must be ≥ 2. Removing branch elements or
 * overflowing values leaves pages unreferenced: see `freelistAbandonAdvised`. Options out of range
 * reject with BboltSurgeryRefusedError before the CLI runs.
 */
export async function clearPageElements(source: string, output: string, at: { pageId: number; from: number; to: number }, opts: BboltSurgeryOptions = {}): Promise<BboltSurgeryResult> {
  if (!Number.isSafeInteger(at.pageId) || at.pageId < 2) throw new BboltSurgeryRefusedError(`clearPageElements: pageId must be an integer ≥ 2 (0 and 1 are the meta pages), got ${at.pageId}`);
  if (!Number.isSafeInteger(at.from) || at.from < 0) throw new BboltSurgeryRefusedError(`clearPageElements: from must be an integer ≥ 0, got ${at.from}`);
  if (!Number.isSafeInteger(at.to) || (at.to !== -1 && at.to <= at.from)) throw new BboltSurgeryRefusedError(`clearPageElements: to must be -1 (to the end) or greater than from (${at.from}), got ${at.to}`);
  return surgery(['clear-page-elements'], source, output, ['--pageId', String(at.pageId), '--from-index', String(at.from), '--to-index', String(at.to)], opts);
}

/** `surgery copy-page --from-page F --to-page T`: page F's bytes (with its overflow) written at page T, its id set to T. */
export async function copyPage(source: string, output: string, at: { from: number; to: number }, opts: BboltSurgeryOptions = {}): Promise<BboltSurgeryResult> {
  const from = pageId(at.from, 'copyPage from');
  const to = pageId(at.to, 'copyPage to');
  if (from === to) throw new BboltSurgeryRefusedError(`copyPage: from and to are the same page (${from})`);
  return surgery(['copy-page'], source, output, ['--from-page', from, '--to-page', to], opts);
}

/** `surgery freelist abandon`: both metas say "no freelist" (checksums recomputed); bbolt rebuilds it by walking the tree on the next open. */
export async function freelistAbandon(source: string, output: string, opts: BboltSurgeryOptions = {}): Promise<BboltSurgeryResult> {
  return surgery(['freelist', 'abandon'], source, output, [], opts);
}

/**
 * `surgery freelist rebuild`: opens the copy read-write so bbolt walks the tree and writes a freelist.
 * Refused by the CLI when the source persists a freelist (abandon it first); a damaged tree makes it
 * panic (BboltCliError with `panicked`).
 */
export async function freelistRebuild(source: string, output: string, opts: BboltSurgeryOptions = {}): Promise<BboltSurgeryResult> {
  return surgery(['freelist', 'rebuild'], source, output, [], opts);
}

export type MetaField = 'root' | 'freelist' | 'pgid' | 'pageSize';

/**
 * `surgery meta update --meta-page N [--fields k:v,…]`: sets the given fields of meta page N and in
 * any case rewrites its magic, version, flags and checksum. With no fields it re-blesses the page's
 * content as it is: only right when the damage was the checksum bytes themselves.
 */
export async function metaUpdate(source: string, output: string, at: { metaPage: 0 | 1; fields?: Partial<Record<MetaField, number>> }, opts: BboltSurgeryOptions = {}): Promise<BboltSurgeryResult> {
  if (at.metaPage !== 0 && at.metaPage !== 1) throw new BboltSurgeryRefusedError(`metaUpdate: metaPage must be 0 or 1, got ${String(at.metaPage)}`);
  const fields = Object.entries(at.fields ?? {}).map(([k, v]) => `${k}:${pageId(v, `metaUpdate ${k}`)}`);
  return surgery(['meta', 'update'], source, output, ['--meta-page', String(at.metaPage), ...(fields.length ? ['--fields', fields.join(',')] : [])], opts);
}

export interface MetaPageVerdict {
  page: 0 | 1;
  valid: boolean;
  /** bbolt's reason: "invalid database" (magic), "version mismatch", "checksum error". */
  error?: string;
}

/**
 * `surgery meta validate <file>`: each meta page's magic, version and checksum, read-only. Meta 1 is
 * read at the page size meta 0 states, whatever its state.
 */
export async function metaValidate(file: string, opts: BboltSurgeryOptions = {}): Promise<MetaPageVerdict[]> {
  const args = ['surgery', 'meta', 'validate', file];
  const verdicts: MetaPageVerdict[] = [];
  const r = await runBbolt(args, {
    ...opts,
    onLine(line) {
      const good = /^The meta page ([01]) is valid!$/.exec(line);
      const bad = /^WARNING: The meta page ([01]) isn't valid: (.*)!$/.exec(line);
      if (good) verdicts.push({ page: Number(good[1]) as 0 | 1, valid: true });
      else if (bad) verdicts.push({ page: Number(bad[1]) as 0 | 1, valid: false, error: bad[2]! });
      return true;
    },
  });
  if (r.exitCode === 0 && !r.crash && verdicts.length === 2) return verdicts;
  throw new BboltCliError(args, r.crash ?? r.error ?? (r.timedOut ? 'timed out' : `unexpected output (exit ${r.exitCode ?? 'none'})`), r.exitCode, Boolean(r.crash));
}
