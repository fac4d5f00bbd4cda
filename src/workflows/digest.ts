// What an approver approves, as one sha256, and what changed between two diagnoses.
// Workflow-safe: no Node built-ins.
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import type { Plan } from './report';

/** JSON with object keys sorted, so equal values always give equal bytes. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}

/**
 * The approval digest covers the run, the plan and the whole effective input (defaults included):
 * a digest approves this plan of this run and nothing else.
 */
export function digestPlan(runId: string, plan: Plan, input: unknown): string {
  return bytesToHex(sha256(utf8ToBytes(canonicalJson({ runId, plan, input }))));
}

const MAX_DRIFT_LINES = 20;
const show = (v: unknown) => {
  const text = JSON.stringify(v) ?? 'nothing';
  return text.length > 80 ? `${text.slice(0, 77)}…` : text;
};

/** Every leaf that differs between the facts a plan was built on and the facts now, as `path: was → now`. */
export function diffFacts(before: unknown, after: unknown, path = ''): string[] {
  if (canonicalJson(before) === canonicalJson(after)) return [];
  const bothObjects = before && after && typeof before === 'object' && typeof after === 'object' && Array.isArray(before) === Array.isArray(after);
  if (!bothObjects) return [`${path || '(facts)'}: ${show(before)} → ${show(after)}`];
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
  const lines = keys.flatMap((key) => diffFacts((before as any)[key], (after as any)[key], path ? `${path}.${key}` : key));
  return lines.length > MAX_DRIFT_LINES ? [...lines.slice(0, MAX_DRIFT_LINES), `(and ${lines.length - MAX_DRIFT_LINES} more)`] : lines;
}
