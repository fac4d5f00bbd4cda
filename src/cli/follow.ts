// `start --wait` and `demo --wait`: follow a run's steps from the `progress` query until it ends.
// On a terminal, the running step's heartbeat drives a progress bar; otherwise (pipes, logs, tests)
// one line per change. Then the report on stdout: short and human, or whole as JSON with `json`.
// `start --hosts --wait` follows one run per host at once: each run's lines on stderr start with
// `[<host>] `, and its report is one line on stdout (`<host>\t<outcome>\t<summary>`, or one JSON line).
import { planText } from './report-text';
import type { WorkflowHandle } from '@temporalio/client';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow/codec-helpers';
import { progressOf, waitForReport } from '../client';
import { isRunbookType, runbooks } from '../workflows/inputs';
import type { RunbookProgress } from '../workflows/report';
import { EXIT } from './exit';
import { barSpec, StepBars, type BarContext } from './progress-bar';
import { brief } from './format';
import { formatReport, reportLine } from './report-text';

/** The run's input with its defaults, read from the start event: the totals the bars count to. */
async function runInput(handle: WorkflowHandle, runbook: string): Promise<Record<string, unknown> | undefined> {
  try {
    const history = await handle.fetchHistory();
    const payloads = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads;
    const raw = await decodeFromPayloadsAtIndex(handle.client.options.loadedDataConverter, 0, payloads);
    const parsed = isRunbookType(runbook) ? runbooks[runbook].input.safeParse(raw) : undefined;
    return (parsed?.success ? parsed.data : raw) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

export interface FollowOptions {
  /** Progress bars on stderr (default: when stderr is a terminal; never with `host`). */
  tty?: boolean;
  /** The whole report as JSON instead of the short one. */
  json?: boolean;
  /** One of several runs followed at once, on this host: labelled lines, and a one-line report. */
  host?: string;
}

/** Prints each step as it changes, until the run ends, then returns the exit code. */
export async function follow(handle: WorkflowHandle, options: FollowOptions = {}): Promise<number> {
  const { host } = options;
  // Bars of several runs would overwrite each other: with `host`, plain labelled lines.
  const bars = host === undefined && (options.tty ?? Boolean(process.stderr.isTTY)) ? new StepBars(process.stderr) : undefined;
  const labelled = (text: string) => (host === undefined ? text : `${text.replace(/\n$/, '').split('\n').map((line) => `[${host}] ${line}`).join('\n')}\n`);
  const say = (text: string) => (bars ? bars.line(text.replace(/\n$/, '')) : process.stderr.write(labelled(text)));
  const context: BarContext = {};
  let inputRead: Promise<void> | undefined;
  const seen = new Map<string, string>();
  let lastOutcome = '';
  let done = false;
  const showSteps = (steps: RunbookProgress['steps']) =>
    steps.forEach((step, i) => {
      const running = step.state === 'running';
      // On a terminal the heartbeat goes to the bar; in a log it is part of the line.
      const line = `${step.state}${step.attempts > 1 ? ` (attempt ${step.attempts})` : ''}${!bars && step.lastHeartbeat && running ? ` ${JSON.stringify(step.lastHeartbeat)}` : ''}`;
      if (seen.get(`${i}`) !== line) {
        seen.set(`${i}`, line);
        say(`  [${i + 1}] ${step.name}: ${line}\n`);
      }
      if (bars && running && step.lastHeartbeat !== undefined) {
        const spec = barSpec(step, step.lastHeartbeat, context);
        if (spec) bars.show(`${i}`, `[${i + 1}] ${step.name}`, spec);
      }
    });
  let polling = false;
  const watcher = setInterval(async () => {
    if (polling) return;
    polling = true;
    try {
      let progress: RunbookProgress;
      try {
        progress = await progressOf(handle);
      } catch {
        return; // not started yet, or already closed
      }
      if (done) return; // the final report has been shown; this answer may be older than it
      if (bars) {
        context.plan = progress.plan;
        inputRead ??= runInput(handle, progress.runbook).then((input) => void (context.input = input));
        await inputRead;
        if (done) return;
      }
      if (progress.outcome !== lastOutcome) {
        lastOutcome = progress.outcome;
        if (progress.outcome === 'AwaitingApproval') {
          say(planText(progress.plan));
          say(`awaiting approval by someone other than ${progress.triggeredBy}:\n  runbook approve ${handle.workflowId} --as <name> --digest ${progress.planDigest}\n`);
        }
      }
      showSteps(progress.steps);
    } finally {
      polling = false;
    }
  }, 1000);
  try {
    const finished = await waitForReport(handle);
    done = true;
    // Steps that ended after the last poll (often the last one) are only in the report.
    if (finished.report) showSteps(finished.report.steps);
    bars?.clear();
    const outcome = finished.report?.outcome ?? 'Failed';
    if (host !== undefined) {
      // One write per run: lines of runs ending together never interleave.
      const summary = finished.report ? reportLine(finished.report) : brief(finished.error ?? '', 300);
      process.stdout.write(options.json ? `${JSON.stringify({ host, workflowId: handle.workflowId, ...(finished.report ? { report: finished.report } : { error: finished.error }) })}\n` : `${host}\t${outcome}\t${summary}\n`);
    } else if (options.json) process.stdout.write(`${JSON.stringify(finished.report ?? { error: finished.error }, null, 2)}\n`);
    else if (finished.report) process.stdout.write(formatReport(finished.report));
    if (!finished.ok) process.stderr.write(labelled(`runbook: run ended ${outcome}: ${finished.report?.error ?? finished.error ?? ''}\n`));
    return finished.ok ? EXIT.ok : EXIT.failed;
  } finally {
    done = true;
    clearInterval(watcher);
    bars?.clear();
  }
}
