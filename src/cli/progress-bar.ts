// Progress bars for `start --wait` on a terminal, driven by the heartbeat details a running step
// reports (mirrored into the `progress` query): `{ done, bytes }` of the Lance restore, `{ checked, of }`
// of its diagnosis, `{ scannedRows }` of its verification, `{ polls }` of the wait steps, `{ url, tries }`
// of smoke checks. The totals come from the run's input and its plan (the declared checks: its service view).
import cliProgress from 'cli-progress';
import type { LanceFacts } from '../activities/lance';
import type { Plan, StepRecord } from '../workflows/report';
import { brief, formatBytes } from './format';

export interface BarSpec {
  value: number;
  /** Absent when nothing says how far there is to go: a counter without a bar. */
  total?: number;
  unit: string;
  detail: string;
  /** `limit`: the total is a limit the step gives up at (polls, tries), so no ETA is shown. */
  kind?: 'work' | 'limit';
}

export interface BarContext {
  /** The run's input with its defaults (the schema's output). */
  input?: Record<string, unknown>;
  plan?: Plan;
}

const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const positive = (v: unknown): number | undefined => (isNumber(v) && v > 0 ? v : undefined);

/** What the bars need of lanceRestore's plan facts (src/activities/lance.ts LanceFacts). */
type PlanFacts = Partial<Pick<LanceFacts, 'currentRows' | 'missingCount' | 'restorable' | 'restorableBytes'> & { strategy: string }> & {
  /** The service as the host declared it (serviceRestart, lanceRestore with a backend): its checks by name. */
  service?: { checks?: Record<string, { url?: string; retries?: number } | undefined> };
};

/** What to draw for a running step's latest heartbeat; undefined when there is nothing to show. */
export function barSpec(step: Pick<StepRecord, 'name'>, heartbeat: unknown, context: BarContext = {}): BarSpec | undefined {
  if (heartbeat === undefined || heartbeat === null) return undefined;
  if (typeof heartbeat !== 'object') return { value: 0, unit: '', detail: brief(heartbeat, 80) };
  const h = heartbeat as Record<string, unknown>;
  const input = context.input ?? {};
  const facts = (context.plan?.observations ?? {}) as PlanFacts;

  // restoreLanceFiles: files restored and verified so far, of the plan's restorable files.
  if (isNumber(h.done) && isNumber(h.bytes)) {
    const totalBytes = facts.restorableBytes;
    return {
      value: h.done,
      total: positive(facts.restorable?.count) ?? positive(facts.missingCount),
      unit: 'files',
      detail: `${formatBytes(h.bytes)}${totalBytes ? ` of ${formatBytes(totalBytes)}` : ''}`,
    };
  }
  // diagnoseLance: data files checked, of those the table's versions need.
  if (isNumber(h.checked) && isNumber(h.of)) return { value: h.checked, total: positive(h.of), unit: 'files checked', detail: '' };
  // verifyLanceTable: rows read by the full scan, of the rows the table must have.
  if (isNumber(h.scannedRows)) {
    const expected = positive(input.expectedRows) ?? (facts.strategy === 'full-restore' ? positive(facts.currentRows) : undefined);
    return { value: h.scannedRows, total: expected, unit: 'rows scanned', detail: '' };
  }
  // waitServiceDown / waitServiceHealthy: a poll every half second until the step's limit.
  if (isNumber(h.polls)) {
    const seconds = positive(/down/i.test(step.name) ? input.waitDownSeconds : input.waitHealthySeconds);
    const http = h.http as { status?: number; problem?: string } | undefined;
    const detail = [typeof h.status === 'string' ? h.status : '', http ? `http ${http.status ?? http.problem ?? '?'}` : ''].filter(Boolean).join(', ');
    return { value: h.polls, total: seconds ? seconds * 2 : undefined, unit: 'polls', detail, kind: 'limit' };
  }
  // runSmokeChecks: tries of the check being retried, of its retries + 1 (the host's declared check, as the plan showed it).
  if (typeof h.url === 'string' && isNumber(h.tries)) {
    const checks = Object.values(facts.service?.checks ?? {});
    const check = checks.find((c) => c?.url === h.url);
    return { value: h.tries, total: isNumber(check?.retries) ? check.retries + 1 : undefined, unit: 'tries', detail: `${h.url} → ${h.status ?? h.problem ?? '?'}`, kind: 'limit' };
  }
  // Anything else with a count and a total.
  const total = positive(h.total) ?? positive(h.of);
  const value = [h.done, h.count, h.value].find(isNumber);
  if (value !== undefined) return { value, total, unit: '', detail: '' };
  return { value: 0, unit: '', detail: brief(heartbeat, 80) };
}

/** `8s`, `2m05s`; `?` until two samples tell a rate (cli-progress passes "NULL" or "INF" then). */
function eta(seconds: unknown): string {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

const WORK = '  {label} [{bar}] {value}/{total} {unit} {percentage}% ETA {eta_formatted} {detail}';
const LIMIT = '  {label} [{bar}] {value}/{total} {unit} {detail}';
const COUNTER = '  {label} {counter} {detail}';

/**
 * One live bar under the step lines, on a terminal. `line` prints a step line above it (the bar is
 * cleared first and redrawn by the next `show`).
 */
export class StepBars {
  private bar?: cliProgress.SingleBar;
  private key?: string;
  private format?: string;
  private value = 0;

  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {}

  line(text: string): void {
    this.clear();
    this.stream.write(`${text}\n`);
  }

  show(key: string, label: string, spec: BarSpec): void {
    const format = !spec.total ? COUNTER : spec.kind === 'limit' ? LIMIT : WORK;
    const payload = { label, unit: spec.unit, detail: spec.detail, counter: `${spec.value}${spec.unit ? ` ${spec.unit}` : ''}` };
    const total = spec.total ?? 1;
    const value = spec.total ? Math.min(spec.value, total) : 0;
    if (this.bar && this.key === key && this.format === format) {
      if (spec.total && total !== this.bar.getTotal()) this.bar.setTotal(total);
      // A value only when it moved: every sample feeds the ETA, and a repeated one would slow it.
      if (value !== this.value) this.bar.update(value, payload);
      else this.bar.update(payload);
      this.value = value;
      return;
    }
    this.clear();
    this.bar = new cliProgress.SingleBar(
      { stream: this.stream, format, formatTime: eta, barsize: 24, hideCursor: true, clearOnComplete: true, linewrap: false, fps: 5, etaBuffer: 20, barCompleteChar: '█', barIncompleteChar: '░' },
    );
    this.key = key;
    this.format = format;
    this.value = value;
    this.bar.start(total, value, payload);
  }

  clear(): void {
    this.bar?.stop();
    this.bar = undefined;
    this.key = undefined;
  }
}
