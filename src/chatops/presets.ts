// What a chat or API caller may set: with a preset, only the keys it lists as `open`; without one,
// anything, but only where a start rule grants `freeInput` (service.ts checks that once the target
// is known). Both surfaces send their explicit keys here, so a dotted key typed in chat and the
// same key nested in an API body meet the same rule.
import { z } from 'zod';
import { InvalidRequestError } from '../client';
import { isRunbookType, runbooks } from '../workflows/inputs';
import { isInputKey, type RolesFile } from './access';

/** Chosen per request and authorized per person (approval=auto by a start rule), never by a preset. */
export const CONTROL_KEYS = ['mode', 'approval'] as const;
/** Never from a caller: who asks is the authenticated identity, and the service signs the request. */
const CALLER_NEVER = {
  requestedBy: 'runs are requested by whoever is authenticated',
  request: 'the chat service signs the request itself',
} as const;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Every key a caller set, as dotted paths down to the first value that is not a non-empty object
 * (lists are values). Keys that are not input keys (dots inside a name, `__proto__`) are refused.
 */
export function explicitKeys(input: Record<string, unknown>, prefix = ''): string[] {
  const keys: string[] = [];
  for (const [k, v] of Object.entries(input)) {
    const path = prefix ? `${prefix}.${k}` : k;
    // A dot inside one JSON key would read as a path here and as a plain name to the schema.
    if (k.includes('.') || !isInputKey(path)) throw new InvalidRequestError(`\`${path}\` is not an input key (letters, digits, _ and -, dotted)`);
    if (isObject(v) && Object.keys(v).length) keys.push(...explicitKeys(v, path));
    else keys.push(path);
  }
  return keys;
}

/** Objects merge key by key (explicit wins); anything else, lists included, is replaced. */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (!isObject(base) || !isObject(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = deepMerge(base[k], v);
  return out;
}

const covers = (open: string, key: string) => key === open || key.startsWith(`${open}.`);

export interface StartRequest {
  /** The runbook named; optional when a preset names it. */
  runbook?: string;
  preset?: string;
  /** The caller's own keys, control keys (mode, approval) included. */
  input: Record<string, unknown>;
}

export interface ResolvedRequest {
  runbook: string;
  /** The preset's input with the explicit keys merged over it. */
  input: Record<string, unknown>;
  preset?: string;
}

/**
 * Chat and the API name services; the host's services file says what they are. An inline spec
 * (argv, env, pidfile) is refused here whatever the worker allows, from a caller or a preset.
 */
export const INLINE_SERVICE = 'service must name a service declared in the host\'s services file (e.g. "images-api"): chat and the API never send inline service specs';

/** Throws InvalidRequestError naming the key and the preset; nothing is started. */
export function resolveRequest(presets: RolesFile['presets'], request: StartRequest): ResolvedRequest {
  const resolved = resolveKeys(presets, request);
  if (!isRunbookType(resolved.runbook)) throw new InvalidRequestError(`unknown runbook "${resolved.runbook}"; known: ${Object.keys(runbooks).join(', ')}`);
  // The schema drops keys it does not know; a caller's `env` or `cwd` is refused instead, by name.
  const schema = runbooks[resolved.runbook].input;
  const known = schema instanceof z.ZodObject ? Object.keys(schema.shape) : undefined;
  const stray = known && Object.keys(resolved.input).find((k) => !known.includes(k));
  if (stray) throw new InvalidRequestError(`\`${stray}\` is not an input of ${resolved.runbook}; its inputs: ${known.filter((k) => !['requestedBy', 'request'].includes(k)).join(', ')}`);
  if (resolved.input.service !== undefined && typeof resolved.input.service !== 'string') throw new InvalidRequestError(INLINE_SERVICE);
  return resolved;
}

function resolveKeys(presets: RolesFile['presets'], request: StartRequest): ResolvedRequest {
  const keys = explicitKeys(request.input);
  for (const key of keys) {
    const top = key.split('.')[0]!;
    if (Object.hasOwn(CALLER_NEVER, top)) throw new InvalidRequestError(`${top} cannot be set: ${CALLER_NEVER[top as keyof typeof CALLER_NEVER]}`);
  }
  if (request.preset === undefined) {
    if (!request.runbook) throw new InvalidRequestError('no runbook named: name a runbook or a preset');
    return { runbook: request.runbook, input: request.input };
  }
  const name = request.preset;
  if (!Object.hasOwn(presets, name)) {
    const known = Object.keys(presets);
    throw new InvalidRequestError(`unknown preset @${name}; ${known.length ? `known: ${known.map((p) => `@${p}`).join(', ')}` : 'none are defined'}`);
  }
  const preset = presets[name]!;
  if (request.runbook && request.runbook !== preset.runbook) throw new InvalidRequestError(`preset @${name} is for ${preset.runbook}, not ${request.runbook}`);
  const fixed = keys.find((key) => !(CONTROL_KEYS as readonly string[]).includes(key.split('.')[0]!) && !preset.open.some((open) => covers(open, key)));
  if (fixed !== undefined) {
    throw new InvalidRequestError(`\`${fixed}\` is fixed by preset @${name}; open keys: ${preset.open.length ? preset.open.join(', ') : 'none'}`);
  }
  return { runbook: preset.runbook, input: deepMerge(structuredClone(preset.input), request.input) as Record<string, unknown>, preset: name };
}
