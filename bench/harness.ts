// Timing harness for the benchmarks: variants of one case run interleaved (the order rotates every
// round, so drift in machine load hits every variant alike), after untimed warm-up rounds; the
// figure reported is the median. Set-up and clean-up between runs are never timed.
import { execFileSync } from 'node:child_process';
import { realpath } from 'node:fs/promises';
import { loadavg, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { updateHostFile } from '../src/host/host-file';

export interface Variant {
  name: string;
  /** Untimed, before each run (warm-up runs included). */
  prepare?: () => Promise<void>;
  /** The timed work. May return extra timings (ms) measured inside it, reported as `<name>:<key>`. */
  run: () => Promise<Record<string, number> | void>;
  /** Untimed, after each run: put the sandbox back as it was before `run`. */
  reset?: () => Promise<void>;
}

export interface Samples {
  /** Variant name (or `<variant>:<key>` for an extra timing) -> ms of every timed run. */
  [name: string]: number[];
}

export async function interleave(variants: Variant[], options: { rounds: number; warmup: number }): Promise<Samples> {
  const samples: Samples = Object.fromEntries(variants.map((v) => [v.name, [] as number[]]));
  for (let round = -options.warmup; round < options.rounds; round++) {
    const shift = ((round % variants.length) + variants.length) % variants.length;
    const order = [...variants.slice(shift), ...variants.slice(0, shift)];
    for (const v of order) {
      await v.prepare?.();
      const t = performance.now();
      const extra = await v.run();
      const ms = performance.now() - t;
      await v.reset?.();
      if (round < 0) continue;
      samples[v.name]!.push(ms);
      for (const [key, value] of Object.entries(extra ?? {})) (samples[`${v.name}:${key}`] ??= []).push(value);
    }
  }
  return samples;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export const ms = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
/** `median [min–max]` of a sample list. */
export const spread = (xs: number[]) => `${ms(median(xs))} [${ms(Math.min(...xs))}–${ms(Math.max(...xs))}]`;
export const ratio = (ours: number[], base: number[]) => median(ours) / median(base);

/** A plain text table: first row is the header; columns are right-aligned except the first. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

/** One line on the machine: cores, load, the file system the sandboxes live on. */
export function machineState(): string {
  let fs = '?';
  try {
    fs = execFileSync('df', ['--output=fstype', tmpdir()], { encoding: 'utf8' }).trim().split('\n').pop()!;
  } catch {
    /* no GNU df: leave it unknown */
  }
  const load = loadavg().map((l) => l.toFixed(2)).join(' ');
  return `${cpus().length} cpus (${cpus()[0]?.model ?? '?'}), load ${load}, node ${process.version}, ${tmpdir()} on ${fs}`;
}

/**
 * The bench's host: a development services file in `dir` (data under the temp folder, no services
 * yet: a case declares its own), set as RUNBOOK_SERVICES_FILE for the steps run in this process.
 */
export async function benchHostFile(dir: string): Promise<string> {
  const path = join(dir, 'services.json');
  const dataRoots = [await realpath(tmpdir())];
  await updateHostFile(path, () => ({ trust: 'development', dataRoots, services: {} }));
  process.env.RUNBOOK_SERVICES_FILE = path;
  return path;
}

/** xorshift32 in [0, 1): the same sequence for a seed, so bench inputs are the same every build. */
export function* seededRandom(seed: number): Generator<number> {
  let x = seed >>> 0 || 1;
  for (;;) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    yield x / 2 ** 32;
  }
}
