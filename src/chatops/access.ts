// Who may do what from chat and the JSON API: the roles file (Slack users, roles, presets) and the
// tokens file (bearer tokens for bots), both zod-validated, and the checks made before any start or
// approval. A file that fails validation names itself and the field, like runbook inputs do.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { describeIssues, isRunbookType, runbooks } from '../workflows/inputs';

const runbookName = z.string().min(1).refine((name) => name === '*' || isRunbookType(name), {
  message: `must be "*" or a runbook: ${Object.keys(runbooks).join(', ')}`,
});

const rule = z.strictObject({
  runbook: runbookName.describe('a runbook name, or "*" for every runbook'),
  targets: z.array(z.string().min(1)).min(1, 'must list at least one target glob ("*" for all)')
    .describe('globs over the RunbookTarget, e.g. "*/exec/demo-*": "*" matches any characters, "/" included; "?" one character'),
});

/** A glob with nothing literal in it but "/" matches every target. */
const matchesEverything = (glob: string) => /^[*?/]+$/.test(glob);

const startRule = rule
  .extend({
    auto: z.boolean().default(false)
      .describe('may start with approval=auto (no second person); without it every run from chat or the API needs approval'),
    freeInput: z.boolean().default(false)
      .describe('may start without a preset, setting any input field; without it chat and API starts name a preset and set only its open keys'),
  })
  .superRefine((r, ctx) => {
    // A run nobody approves should be one somebody scoped: auto on every target is refused, not warned.
    const broad = r.auto ? r.targets.find(matchesEverything) : undefined;
    if (broad) ctx.addIssue({ code: 'custom', path: ['targets'], message: `"${broad}" matches every target, and "auto": true runs without a second person: name the hosts or services (e.g. "*/exec/demo-*")` });
  });

const role = z.strictObject({
  start: z.array(startRule).default([]),
  approve: z.array(rule).default([]),
  read: z.array(rule).default([]).describe('runs whose status, progress and report this role may read (API GET /api/runs…)'),
});

/** An input key as typed in chat or listed in a preset's `open`: dotted names and list indexes. */
export const SEGMENT = /^(?:[A-Za-z_][A-Za-z0-9_-]*|\d+)$/;
export const FORBIDDEN_SEGMENTS = new Set(['__proto__', 'prototype', 'constructor']);
export function isInputKey(key: string): boolean {
  const segments = key.split('.');
  return segments.every((s) => SEGMENT.test(s) && !FORBIDDEN_SEGMENTS.has(s)) && !/^\d/.test(segments[0]!);
}

const personName = z.string().trim().min(1).max(200);

export const rolesFileSchema = z
  .strictObject({
    users: z.record(
      z.string().regex(/^[A-Z0-9]+$/, 'must be a Slack user ID such as U024BE7LH'),
      z.strictObject({ name: personName.describe('shown in chat; the identity is slack:<user ID>'), roles: z.array(z.string().min(1)) }),
    ),
    roles: z.record(z.string().min(1), role),
    presets: z
      .record(
        z.string().regex(/^[A-Za-z0-9._-]{1,100}$/, 'must be a simple name'),
        z.strictObject({
          runbook: z.string().refine(isRunbookType, { message: `must be a runbook: ${Object.keys(runbooks).join(', ')}` }),
          input: z.record(z.string(), z.unknown()),
          open: z.array(z.string().refine(isInputKey, 'must be an input key (dotted names, e.g. "waitHealthySeconds" or "checks")')).default([])
            .describe('the input keys chat and API may set with this preset; every other key is fixed'),
        }),
      )
      .default({}),
  })
  .superRefine((file, ctx) => {
    const names = new Map<string, string>();
    for (const [id, user] of Object.entries(file.users)) {
      user.roles.forEach((r, i) => {
        if (!Object.hasOwn(file.roles, r)) ctx.addIssue({ code: 'custom', path: ['users', id, 'roles', i], message: `unknown role "${r}"` });
      });
      // Identities are slack:<id>; unique display names keep chat messages unambiguous.
      const other = names.get(user.name);
      if (other) ctx.addIssue({ code: 'custom', path: ['users', id, 'name'], message: `"${user.name}" is already the name of ${other}: display names must be unique` });
      names.set(user.name, id);
    }
    for (const [name, preset] of Object.entries(file.presets)) {
      for (const key of RESERVED_KEYS) {
        if (Object.hasOwn(preset.input, key)) ctx.addIssue({ code: 'custom', path: ['presets', name, 'input', key], message: `${key} cannot be preset: ${RESERVED_WHY[key]}` });
      }
      if (preset.input.service !== undefined && typeof preset.input.service !== 'string') {
        ctx.addIssue({ code: 'custom', path: ['presets', name, 'input', 'service'], message: 'must name a service declared in the host\'s services file: the host owns argv, env and files, presets never carry them' });
      }
      preset.open.forEach((key, i) => {
        const top = key.split('.')[0] as (typeof RESERVED_KEYS)[number];
        if ((RESERVED_KEYS as readonly string[]).includes(top)) ctx.addIssue({ code: 'custom', path: ['presets', name, 'open', i], message: `${top} cannot be opened: ${RESERVED_WHY[top]}` });
      });
    }
  });

export type RolesFile = z.output<typeof rolesFileSchema>;
export type Role = RolesFile['roles'][string];

export const tokensFileSchema = z.strictObject({
  tokens: z.array(
    z.strictObject({
      token_sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be the lowercase hex sha256 of the token'),
      name: z.string().regex(/^[A-Za-z0-9._-]{1,100}$/, 'must be a simple name (letters, digits, ".", "_", "-")')
        .describe('the bot acts as api:<name> (TriggeredBy, approver)'),
      roles: z.array(z.string().min(1)),
    }),
  ),
}).superRefine((file, ctx) => {
  const seen = new Map<string, number>();
  file.tokens.forEach((token, i) => {
    if (seen.has(token.name)) ctx.addIssue({ code: 'custom', path: ['tokens', i, 'name'], message: `"${token.name}" is already the name of tokens.${seen.get(token.name)}: one name is one identity (api:${token.name})` });
    seen.set(token.name, i);
  });
});

export type TokensFile = z.output<typeof tokensFileSchema>;

/** Input keys no preset sets: who asks, the signed request, and the two choices granted per person. */
export const RESERVED_KEYS = ['requestedBy', 'request', 'mode', 'approval'] as const;
const RESERVED_WHY: Record<(typeof RESERVED_KEYS)[number], string> = {
  requestedBy: 'the run is requested by whoever starts it',
  request: 'the chat service signs the request itself',
  mode: 'chat users choose it with --plan',
  approval: 'approval=auto is granted per role ("auto": true on a start rule), never by a preset',
};

export class ConfigFileError extends Error {
  override name = 'ConfigFileError' as const;
}

async function readJson(what: string, path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigFileError(`${what} ${path}: cannot read it: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ConfigFileError(`${what} ${path}: not JSON: ${(err as Error).message}`);
  }
}

export function parseRolesFile(data: unknown, path = '(roles)'): RolesFile {
  const parsed = rolesFileSchema.safeParse(data);
  if (!parsed.success) throw new ConfigFileError(`roles file ${path}: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

export function parseTokensFile(data: unknown, roles: RolesFile, path = '(tokens)'): TokensFile {
  const parsed = tokensFileSchema.safeParse(data);
  if (!parsed.success) throw new ConfigFileError(`tokens file ${path}: ${describeIssues(parsed.error)}`);
  parsed.data.tokens.forEach((token, i) =>
    token.roles.forEach((r, j) => {
      if (!Object.hasOwn(roles.roles, r)) throw new ConfigFileError(`tokens file ${path}: tokens.${i}.roles.${j}: unknown role "${r}" (roles are defined in the roles file)`);
    }),
  );
  return parsed.data;
}

export async function loadRolesFile(path: string): Promise<RolesFile> {
  return parseRolesFile(await readJson('roles file', path), path);
}

export async function loadTokensFile(path: string, roles: RolesFile): Promise<TokensFile> {
  return parseTokensFile(await readJson('tokens file', path), roles, path);
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** Somebody the service knows: a Slack user from the roles file, or a bot with a token. */
export interface Principal {
  /**
   * The identity in requests, approvals and TriggeredBy: `slack:<user ID>` or `api:<token name>`,
   * so a token named like a person, or like an SSH principal, is never that person.
   */
  id: string;
  /** Shown beside the identity in chat; never used to decide anything. */
  name: string;
  roles: string[];
}

export const slackIdentity = (userId: string) => `slack:${userId}`;
export const apiIdentity = (tokenName: string) => `api:${tokenName}`;

/** `alice (slack:U024ALICE)`, or just `api:deploy-bot` where the name adds nothing. */
export function label(principal: Principal): string {
  return principal.id === apiIdentity(principal.name) ? principal.id : `${principal.name} (${principal.id})`;
}

export function chatUser(roles: RolesFile, userId: string): Principal | undefined {
  const user = Object.hasOwn(roles.users, userId) ? roles.users[userId] : undefined;
  return user ? { id: slackIdentity(userId), name: user.name, roles: user.roles } : undefined;
}

/**
 * The bot whose token this is. Every stored hash is compared (constant time, fixed length), so the
 * time taken says nothing about which token, or how much of one, matched.
 */
export function tokenHolder(tokens: TokensFile | undefined, presented: string): Principal | undefined {
  const digest = Buffer.from(sha256Hex(presented), 'hex');
  let found: TokensFile['tokens'][number] | undefined;
  for (const token of tokens?.tokens ?? []) {
    if (timingSafeEqual(digest, Buffer.from(token.token_sha256, 'hex')) && !found) found = token;
  }
  return found ? { id: apiIdentity(found.name), name: found.name, roles: found.roles } : undefined;
}

/** `*` matches any run of characters (including `/`), `?` one character; everything else literally. */
export function globMatch(glob: string, text: string): boolean {
  const pattern = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${pattern}$`, 's').test(text);
}

export type Action = 'start' | 'approve' | 'read';
type Rule = { runbook: string; targets: string[]; auto?: boolean; freeInput?: boolean };

function rulesOf(roles: RolesFile, principal: Principal, kind: Action): Rule[] {
  return principal.roles.flatMap((r) => (Object.hasOwn(roles.roles, r) ? roles.roles[r]![kind] : []));
}

export type Decision = { ok: true } | { ok: false; reason: string };

/** Has this principal any rule of this kind? Checked before the run is even looked at. */
export function mayDoAny(roles: RolesFile, principal: Principal, kind: Action): Decision {
  return rulesOf(roles, principal, kind).length ? { ok: true } : { ok: false, reason: `${label(principal)} has no role that may ${kind} runs` };
}

/**
 * May this principal start (or approve, or read) this runbook at all, whatever the target? A start
 * without a preset needs a rule granting free input, checked here before the input is even read.
 */
export function mayUseRunbook(roles: RolesFile, principal: Principal, kind: Action, runbook: string, needs: StartNeeds = {}): Decision {
  const rules = rulesOf(roles, principal, kind).filter((r) => r.runbook === '*' || r.runbook === runbook);
  if (!rules.length) return { ok: false, reason: `${label(principal)} has no role that may ${kind} ${runbook}` };
  if (needs.freeInput && !rules.some((r) => r.freeInput)) return { ok: false, reason: FREE_INPUT_REFUSED(principal, runbook) };
  return { ok: true };
}

const FREE_INPUT_REFUSED = (principal: Principal, runbook: string, target?: string) =>
  `${label(principal)} may start ${runbook}${target ? ` on ${target}` : ''} only with a preset (no start rule grants "freeInput"); name one with @preset`;

export interface StartNeeds {
  /** approval=auto asked for: a matching rule must grant `auto`. */
  auto?: boolean;
  /** No preset: a matching rule must grant `freeInput`. */
  freeInput?: boolean;
}

export function authorize(roles: RolesFile, principal: Principal, kind: Action, runbook: string, target: string, needs: StartNeeds = {}): Decision {
  const byRunbook = mayUseRunbook(roles, principal, kind, runbook);
  if (!byRunbook.ok) return byRunbook;
  const who = label(principal);
  const matching = rulesOf(roles, principal, kind).filter((r) => (r.runbook === '*' || r.runbook === runbook) && r.targets.some((g) => globMatch(g, target)));
  if (!matching.length) return { ok: false, reason: `${who} may not ${kind} ${runbook} on target ${target}` };
  if (needs.freeInput && !matching.some((r) => r.freeInput)) {
    return { ok: false, reason: FREE_INPUT_REFUSED(principal, runbook, target) };
  }
  if (needs.auto && !matching.some((r) => r.auto && (!needs.freeInput || r.freeInput))) {
    return { ok: false, reason: `${who} may not start ${runbook} on ${target} with approval=auto (no start rule grants "auto")` };
  }
  return { ok: true };
}
