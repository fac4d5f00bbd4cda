// The short human report `start --wait` and `demo` print: outcome, each step with its state, tries,
// duration and evidence in a few words, what changed, notes. Lists (restorable files, commands,
// moves) appear as counts: the whole report is one `--json` away, and a report of hundreds of
// entries helps nobody at a terminal.
import type { Plan, RunbookReport } from '../workflows/report';
import { brief, duration, shortTime, table } from './format';

/** A plan as an approver reads it: summary, numbered actions, then the choices with the default marked. */
export function planText(plan: Plan | undefined, label = 'plan'): string {
  if (!plan) return `${label}: (none yet)\n`;
  const lines = [`${label}: ${plan.summary}`, ...plan.actions.map((a, i) => `  ${i + 1}. ${a}`)];
  if (plan.choices?.length) {
    lines.push('choices (runbook approve … --choice <id>):');
    for (const c of plan.choices) lines.push(`  ${c.id === plan.defaultChoice ? '*' : c.usable ? '-' : 'x'} ${c.id}: ${c.summary}${c.id === plan.defaultChoice ? ' (default)' : c.usable ? '' : ' (cannot be applied)'}`);
  }
  return `${lines.join('\n')}\n`;
}

/** A large list carried as a summary (`{ count, first, file, sha256 }`) instead of its items. */
function listCount(value: unknown): number | undefined {
  if (Array.isArray(value)) return value.length;
  if (value && typeof value === 'object' && typeof (value as { count?: unknown }).count === 'number') return (value as { count: number }).count;
  return undefined;
}

/**
 * A step's evidence in one line: lists as `key: count` first (what was found or done), then numbers,
 * then flags and short strings as `key=value`; nested objects, paths and output tails are left out.
 */
export function evidenceSummary(evidence: unknown, max = 100): string {
  if (evidence === undefined || evidence === null) return '';
  const count = listCount(evidence);
  if (count !== undefined) return `${count} item${count === 1 ? '' : 's'}`;
  if (typeof evidence !== 'object') return brief(String(evidence), max);
  const lists: string[] = [];
  const numbers: string[] = [];
  const others: string[] = [];
  for (const [key, value] of Object.entries(evidence)) {
    const n = listCount(value);
    if (n !== undefined) lists.push(`${key}: ${n}`);
    else if (typeof value === 'number') numbers.push(`${key}=${value}`);
    else if (typeof value === 'boolean' || (typeof value === 'string' && value.length <= 24)) others.push(`${key}=${value}`);
    // A nested state in the engine's own words (a service's status: `pid 123 alive`).
    else if (value && typeof value === 'object' && typeof (value as { detail?: unknown }).detail === 'string') others.push(`${key}: ${(value as { detail: string }).detail}`);
  }
  return brief([...lists, ...numbers, ...others].join(', '), max);
}

type Step = RunbookReport['steps'][number];

function stepTable(steps: Step[]): string {
  return table(
    steps.map((step, i) => ({ i: i + 1, step })),
    [
      { header: '#', value: (r) => r.i, align: 'right' },
      { header: 'STEP', value: (r) => r.step.name },
      { header: 'STATE', value: (r) => r.step.state },
      { header: 'TRIES', value: (r) => r.step.attempts, align: 'right' },
      { header: 'TOOK', value: (r) => duration(r.step.durationMs), align: 'right' },
      { header: 'EVIDENCE', value: (r) => (r.step.error ? `error: ${brief(r.step.error, 90)}` : evidenceSummary(r.step.evidence)) },
    ],
  );
}

const indent = (text: string, by = '    ') => text.replace(/\n$/, '').split('\n').map((line) => `${by}${line}`).join('\n');

// The pieces both the whole report and its one-line summary are made of.
const tookMs = (report: RunbookReport) => (report.startedAt && report.endedAt ? Date.parse(report.endedAt) - Date.parse(report.startedAt) : undefined);
const approvalText = (report: RunbookReport) =>
  report.approval
    ? `${report.approval.decision === 'approve' ? 'approved' : 'rejected'} by ${report.approval.approver} (plan ${report.approval.planDigest.slice(0, 12)}…)${report.approval.comment ? `: ${brief(report.approval.comment, 80)}` : ''}`
    : undefined;
function changedText(report: RunbookReport): string {
  const moved = report.filesMoved?.length ?? 0;
  const compensations = report.compensations ?? [];
  return report.changed
    ? `yes${moved ? `; ${moved} file${moved === 1 ? '' : 's'} moved` : ''}${compensations.length ? `; ${compensations.length} undo step${compensations.length === 1 ? '' : 's'} ran` : ''}`
    : 'no';
}
const runText = (report: RunbookReport) => `${report.runbook} on ${report.target} (${report.mode} mode)`;

/**
 * The report in one line, without its outcome (said next to it): what ran where, the approval,
 * whether anything changed, how long it took, and the error. `start --hosts --wait` prints one per host.
 */
export function reportLine(report: RunbookReport): string {
  const approval = approvalText(report);
  return [runText(report), ...(approval ? [approval] : []), `changed ${changedText(report)}`, `took ${duration(tookMs(report))}`, ...(report.error ? [`error: ${brief(report.error, 200)}`] : [])].join('; ');
}

/** The report as a person reads it; ends with a newline. */
export function formatReport(report: RunbookReport): string {
  const took = tookMs(report);
  const approval = approvalText(report);
  const compensations = report.compensations ?? [];
  const notes = report.notes ?? [];
  const lines = [
    `${report.outcome}: ${runText(report)}`,
    `  run        ${report.workflowId}`,
    `  asked by   ${report.triggeredBy}${approval ? `; ${approval}` : ''}`,
    ...(report.plan ? [`  plan       ${brief(report.plan.summary, 140)}`] : []),
    `  took       ${duration(took)} (${shortTime(report.startedAt)} → ${shortTime(report.endedAt)})`,
    `  changed    ${changedText(report)}`,
    ...(report.error ? [`  error      ${brief(report.error, 300)}`] : []),
    `  steps (${report.steps.length})`,
    indent(stepTable(report.steps)),
    ...(compensations.length ? [`  undo steps (${compensations.length})`, indent(stepTable(compensations))] : []),
    ...(notes.length ? [`  notes`, ...notes.slice(0, 5).map((n) => `    - ${brief(n, 200)}`), ...(notes.length > 5 ? [`    … and ${notes.length - 5} more`] : [])] : []),
    '  (the whole report: --json)',
  ];
  return `${lines.join('\n')}\n`;
}
