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

const startRule = rule.extend({
  auto: z.boolean().default(false)
    .describe('may start with approval=auto (no second person); without it every run from chat or the API needs approval'),
});

const role = z.strictObject({
  start: z.array(startRule).default([]),
  approve: z.array(rule).default([]),
});

const personName = z.string().trim().min(1).max(200);

export const rolesFileSchema = z
  .strictObject({
    users: z.record(
      z.string().regex(/^[A-Z0-9]+$/, 'must be a Slack user ID such as U024BE7LH'),
      z.strictObject({ name: personName.describe('becomes TriggeredBy and the approver name'), roles: z.array(z.string().min(1)) }),
    ),
    roles: z.record(z.string().min(1), role),
    presets: z
      .record(
        z.string().regex(/^[A-Za-z0-9._-]{1,100}$/, 'must be a simple name'),
        z.strictObject({
          runbook: z.string().refine(isRunbookType, { message: `must be a runbook: ${Object.keys(runbooks).join(', ')}` }),
          input: z.record(z.string(), z.unknown()),
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
      const other = names.get(user.name);
      if (other) ctx.addIssue({ code: 'custom', path: ['users', id, 'name'], message: `"${user.name}" is already the name of ${other}: names identify people in approvals and audit` });
      names.set(user.name, id);
    }
    for (const [name, preset] of Object.entries(file.presets)) {
      for (const key of RESERVED_KEYS) {
        if (Object.hasOwn(preset.input, key)) ctx.addIssue({ code: 'custom', path: ['presets', name, 'input', key], message: `${key} cannot be preset: ${RESERVED_WHY[key]}` });
      }
    }
  });

export type RolesFile = z.output<typeof rolesFileSchema>;
export type Role = RolesFile['roles'][string];

export const tokensFileSchema = z.strictObject({
  tokens: z.array(
    z.strictObject({
      token_sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be the lowercase hex sha256 of the token'),
      name: personName.describe('becomes TriggeredBy and the approver name'),
      roles: z.array(z.string().min(1)),
    }),
  ),
});

export type TokensFile = z.output<typeof tokensFileSchema>;

/** Input keys chat and API callers never set themselves. */
export const RESERVED_KEYS = ['requestedBy', 'mode', 'approval'] as const;
const RESERVED_WHY: Record<(typeof RESERVED_KEYS)[number], string> = {
  requestedBy: 'the run is requested by whoever starts it',
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
  name: string;
  roles: string[];
  /** Slack user ID, or `token:<name>`: kept in refusal logs. */
  id: string;
}

export function chatUser(roles: RolesFile, userId: string): Principal | undefined {
  const user = Object.hasOwn(roles.users, userId) ? roles.users[userId] : undefined;
  return user ? { name: user.name, roles: user.roles, id: userId } : undefined;
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
  return found ? { name: found.name, roles: found.roles, id: `token:${found.name}` } : undefined;
}

/** `*` matches any run of characters (including `/`), `?` one character; everything else literally. */
export function globMatch(glob: string, text: string): boolean {
  const pattern = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${pattern}$`, 's').test(text);
}

type Rule = { runbook: string; targets: string[]; auto?: boolean };

function rulesOf(roles: RolesFile, principal: Principal, kind: 'start' | 'approve'): Rule[] {
  return principal.roles.flatMap((r) => (Object.hasOwn(roles.roles, r) ? roles.roles[r]![kind] : []));
}

export type Decision = { ok: true } | { ok: false; reason: string };

/** May this principal start (or approve) this runbook at all, whatever the target? */
export function mayUseRunbook(roles: RolesFile, principal: Principal, kind: 'start' | 'approve', runbook: string): Decision {
  const any = rulesOf(roles, principal, kind).some((r) => r.runbook === '*' || r.runbook === runbook);
  return any ? { ok: true } : { ok: false, reason: `${principal.name} has no role that may ${kind} ${runbook}` };
}

export function authorize(
  roles: RolesFile,
  principal: Principal,
  kind: 'start' | 'approve',
  runbook: string,
  target: string,
  options: { auto?: boolean } = {},
): Decision {
  const byRunbook = mayUseRunbook(roles, principal, kind, runbook);
  if (!byRunbook.ok) return byRunbook;
  const matching = rulesOf(roles, principal, kind).filter((r) => (r.runbook === '*' || r.runbook === runbook) && r.targets.some((g) => globMatch(g, target)));
  if (!matching.length) return { ok: false, reason: `${principal.name} may not ${kind} ${runbook} on target ${target}` };
  if (options.auto && !matching.some((r) => r.auto)) {
    return { ok: false, reason: `${principal.name} may not start ${runbook} on ${target} with approval=auto (no start rule grants "auto")` };
  }
  return { ok: true };
}
