// `/runbook <name> key=value … [@preset] [--plan]`: the slash command's text to a runbook name, a
// preset and the keys typed. Values are JSON when they parse as JSON, else plain strings; keys may
// be dotted (`checks.0=http`). Every problem names the argument it is about. Which keys may be set
// is decided in presets.ts, the same for chat and the API.
import { isInputKey, type RolesFile } from './access';

export class CommandError extends Error {
  override name = 'CommandError' as const;
}

export interface ParsedCommand {
  /** The runbook named (or implied by a leading preset). */
  runbook: string;
  /** Only the keys typed; presets.ts merges them over the preset's input if they are open. */
  input: Record<string, unknown>;
  plan: boolean;
  preset?: string;
}

/** Slack sends `&`, `<`, `>` escaped, links as `<url>` or `<url|label>`, and clients may curl quotes. */
export function normalizeSlackText(text: string): string {
  return text
    .replace(/<((?:https?|mailto):[^|>]+)(?:\|[^>]*)?>/g, '$1')
    .replace(/[\u201c\u201d\u201e\u201f\u2033]/g, '"')
    .replace(/[\u2018\u2019\u201a\u201b\u2032]/g, "'")
    .replace(/\u00a0/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** Splits on whitespace outside quotes, brackets and braces, so `checks=[{"url": "x"}]` is one token. */
export function tokenize(text: string): string[] {
  const tokens: string[] = [];
  let current = '';
  let quote: '"' | "'" | undefined;
  const closers: string[] = [];
  let inToken = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quote) {
      current += ch;
      if (ch === '\\' && quote === '"' && i + 1 < text.length) current += text[++i];
      else if (ch === quote) quote = undefined;
      continue;
    }
    if (/\s/.test(ch) && closers.length === 0) {
      if (inToken) tokens.push(current);
      current = '';
      inToken = false;
      continue;
    }
    inToken = true;
    current += ch;
    if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '[') closers.push(']');
    else if (ch === '{') closers.push('}');
    else if (ch === ']' || ch === '}') {
      if (closers.at(-1) !== ch) throw new CommandError(`malformed argument \`${current}\`: unbalanced "${ch}"`);
      closers.pop();
    }
  }
  if (quote) throw new CommandError(`malformed argument \`${current}\`: unterminated ${quote} quote`);
  if (closers.length) throw new CommandError(`malformed argument \`${current}\`: missing "${closers.at(-1)}"`);
  if (inToken) tokens.push(current);
  return tokens;
}

/** `42` → 42, `true` → true, `[1]` → [1], `"a b"` → "a b", `'a b'` → "a b", `web` → "web". */
export function parseValue(raw: string): unknown {
  if (raw.length >= 2 && raw.startsWith("'") && raw.endsWith("'")) return raw.slice(1, -1);
  try {
    return JSON.parse(raw);
  } catch {
    if (/^["[{]/.test(raw)) throw new CommandError(`value \`${raw}\` is not valid JSON`);
    return raw;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Sets `a.b.0.c` in `target`, creating objects (or arrays for numeric segments) on the way. */
function setPath(target: Record<string, unknown>, key: string, value: unknown, token: string): void {
  const segments = key.split('.');
  let node: Record<string, unknown> | unknown[] = target;
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    const last = i === segments.length - 1;
    const index = /^\d+$/.test(segment) ? Number(segment) : undefined;
    if (Array.isArray(node) !== (index !== undefined)) {
      throw new CommandError(`malformed argument \`${token}\`: ${segments.slice(0, i).join('.')} is ${Array.isArray(node) ? 'a list (use a number)' : 'an object (use a name)'}`);
    }
    const container = node as Record<string | number, unknown>;
    const slot: string | number = index ?? segment;
    if (last) {
      if (container[slot] !== undefined) throw new CommandError(`malformed argument \`${token}\`: ${key} is given twice`);
      container[slot] = value;
      return;
    }
    const nextIsIndex = /^\d+$/.test(segments[i + 1]!);
    if (container[slot] === undefined) container[slot] = nextIsIndex ? [] : {};
    const next = container[slot];
    if (!isObject(next) && !Array.isArray(next)) {
      throw new CommandError(`malformed argument \`${token}\`: ${segments.slice(0, i + 1).join('.')} already has a value`);
    }
    node = next;
  }
}

export const USAGE = 'usage: `/runbook <runbook> [@preset] key=value … [--plan]` (values are JSON when they parse as JSON; dotted keys such as `checks.0=http`; with a preset only its open keys)';

export function parseCommand(text: string, presets: RolesFile['presets']): ParsedCommand {
  const tokens = tokenize(normalizeSlackText(text));
  if (!tokens.length) throw new CommandError(`no runbook named; ${USAGE}`);
  let runbook: string | undefined;
  let presetName: string | undefined;
  let plan = false;
  const explicit: Record<string, unknown> = {};
  tokens.forEach((token, i) => {
    if (token === '--plan') {
      plan = true;
    } else if (token.startsWith('--')) {
      throw new CommandError(`unknown option \`${token}\`; the only option is --plan`);
    } else if (token.startsWith('@')) {
      if (presetName) throw new CommandError(`only one preset per command (\`@${presetName}\` and \`${token}\`)`);
      presetName = token.slice(1);
      if (!Object.hasOwn(presets, presetName)) {
        const known = Object.keys(presets);
        throw new CommandError(`unknown preset \`${token}\`; ${known.length ? `known: ${known.map((p) => `@${p}`).join(', ')}` : 'none are defined'}`);
      }
    } else if (i === 0) {
      if (token.includes('=')) throw new CommandError(`the first word must be the runbook (or an @preset), not \`${token}\`; ${USAGE}`);
      runbook = token;
    } else {
      const eq = token.indexOf('=');
      if (eq <= 0) throw new CommandError(`malformed argument \`${token}\`: expected key=value`);
      const key = token.slice(0, eq);
      if (!isInputKey(key)) {
        throw new CommandError(`malformed argument \`${token}\`: \`${key}\` is not a key (letters, digits, _ and -, dotted)`);
      }
      let value: unknown;
      try {
        value = parseValue(token.slice(eq + 1));
      } catch (err) {
        throw new CommandError(`malformed argument \`${token}\`: ${(err as Error).message}`);
      }
      setPath(explicit, key, value, token);
    }
  });
  const preset = presetName ? presets[presetName]! : undefined;
  if (preset && runbook && runbook !== preset.runbook) {
    throw new CommandError(`preset @${presetName} is for ${preset.runbook}, not ${runbook}`);
  }
  runbook ??= preset?.runbook;
  if (!runbook) throw new CommandError(`no runbook named; ${USAGE}`);
  return { runbook, input: explicit, plan, ...(presetName ? { preset: presetName } : {}) };
}
