// Who may approve what on this host: the `approvals` part of the host configuration file. A signature
// proves which allowed_signers principal signed; this policy says whether that principal may speak
// for the identity named in the statement, and whether that identity's person may approve the runbook.
import { basename, isAbsolute } from 'node:path';
import { z } from 'zod';
import { isRunbookType } from '../workflows/inputs';
import { verifyStatement, TrustError } from './sshsig';
import type { ApprovalStatement, RequestStatement } from './statements';

// Identities are namespaced so a token name can't collide with a chat user or an SSH principal:
// bare SSH principals (`alice`, `alice@host-a`), and `<namespace>:<id>` (`slack:U024BE7LH`, `api:deploy-bot`).
const BARE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}(@[A-Za-z0-9][A-Za-z0-9.-]{0,253})?$/;
const NAMESPACED = /^([a-z][a-z0-9-]{0,31}):[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$/;
/** What the workflow records for a requester whose signature did not hold; never an identity of its own. */
export const UNVERIFIED_PREFIX = 'unverified:';

export function isIdentity(value: string): boolean {
  const ns = NAMESPACED.exec(value);
  return ns ? ns[1] !== 'unverified' : BARE.test(value);
}

const identity = z.string().refine(isIdentity, 'must be an identity: a bare SSH principal (alice, alice@host) or namespace:id (slack:U024BE7LH, api:deploy-bot); the namespace "unverified" is reserved');
const PERSON = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const runbookName = z.string().refine((r) => r === '*' || isRunbookType(r), 'must be a runbook name (serviceRestart, lanceRestore, …) or "*"');

/**
 * An identity glob: `*` matches any run of characters within a name (never across `:`). A glob must
 * start with a literal prefix (`slack:*`, `ops-*`): `*`, `*:*` and `*@host` would vouch for anyone.
 */
const identityGlob = z
  .string()
  .regex(
    /^[a-z][a-z0-9-]{0,31}:[A-Za-z0-9._@+*-]+$|^[A-Za-z0-9][A-Za-z0-9._@*-]{0,254}$/,
    'must be an identity or a glob with a literal prefix, such as "slack:*", "api:deploy-*" or "ops-*" ("*" alone would vouch for anyone)',
  );

function globMatches(glob: string, id: string): boolean {
  const pattern = glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^:]*');
  return new RegExp(`^${pattern}$`).test(id);
}

export const approvalPolicySchema = z
  .strictObject({
    allowedSigners: z.string().refine(isAbsolute, 'must be an absolute path to an OpenSSH allowed_signers file'),
    /** A service key that signs for users it authenticated: principal → identity globs it may vouch for. */
    // Record keys are checked below: zod reports a bad key only as "Invalid key in record".
    vouchers: z.record(z.string(), z.array(identityGlob)).default({}),
    people: z.record(
      z.string(),
      z.strictObject({
        identities: z.array(identity).min(1),
        runbooks: z.array(runbookName).min(1),
      }),
    ),
  })
  .superRefine((policy, ctx) => {
    for (const principal of Object.keys(policy.vouchers)) {
      if (!BARE.test(principal)) ctx.addIssue({ code: 'custom', path: ['vouchers', principal], message: 'must be an allowed_signers principal: a bare name or user@host, without ":"' });
    }
    for (const person of Object.keys(policy.people)) {
      if (!PERSON.test(person)) ctx.addIssue({ code: 'custom', path: ['people', person], message: 'a person\'s name is letters, digits, ".", "_" or "-"' });
    }
    // One identity, one person: otherwise "is the approver the requester?" has two answers.
    const owner = new Map<string, string>();
    for (const [person, { identities }] of Object.entries(policy.people)) {
      identities.forEach((id, i) => {
        const other = owner.get(id);
        if (other && other !== person) ctx.addIssue({ code: 'custom', path: ['people', person, 'identities', i], message: `${id} is already an identity of ${other}: an identity belongs to one person` });
        owner.set(id, person);
      });
    }
  });

export type ApprovalPolicy = z.output<typeof approvalPolicySchema>;

export interface VerifiedIdentity {
  /** The identity the statement names (approver or requester), proven by the signature. */
  identity: string;
  person: string;
  /** The allowed_signers principal whose key signed: the identity itself, or a voucher. */
  signer: string;
  /** `SHA256:…` of the signing key. */
  fingerprint: string;
}

export function personOf(policy: ApprovalPolicy, id: string): string | undefined {
  return Object.entries(policy.people).find(([, p]) => p.identities.includes(id))?.[0];
}

/** Voucher principals whose globs cover the identity: the signers, besides the identity itself, that may speak for it. */
function vouchersFor(policy: ApprovalPolicy, id: string): string[] {
  return Object.entries(policy.vouchers)
    .filter(([, globs]) => globs.some((g) => globMatches(g, id)))
    .map(([principal]) => principal);
}

const show = (value: unknown) => JSON.stringify(String(value).slice(0, 80));

/** Checks signature and signer rules; returns the signer, or the reason as a TrustError. */
async function verifiedSigner(policy: ApprovalPolicy, statement: ApprovalStatement | RequestStatement, id: string, signature: string | undefined) {
  if (!isIdentity(id)) throw new TrustError(`${show(id)} is not an identity (a bare name, user@host, or namespace:id such as slack:U024BE7LH)`);
  const vouchers = vouchersFor(policy, id);
  const { signer, fingerprint } = await verifyStatement(policy.allowedSigners, statement, signature, [id, ...vouchers]);
  if (signer === id || vouchers.includes(signer)) return { signer, fingerprint };
  throw new TrustError(
    policy.vouchers[signer]
      ? `signed by key ${fingerprint} of ${signer}, which may not vouch for ${id}`
      : `signed by key ${fingerprint} of ${signer}, which is not ${id} and vouches for nobody`,
  );
}

/**
 * Verifies an approval on the host that will change: signed by the approver's own key or by a voucher
 * allowed to speak for it, and the approver's person may approve this runbook here. The statement
 * must be built from what the workflow knows (its ID, run, current digest), never taken from the
 * caller, so a signature of another run, digest or decision does not match. Throws TrustError.
 */
export async function verifyApprovalSignature(policy: ApprovalPolicy, statement: ApprovalStatement, signature: string | undefined, runbook: string): Promise<VerifiedIdentity> {
  const id = statement.approver;
  if (statement.kind !== 'approval') throw new TrustError('not an approval statement');
  if (signature === undefined || signature === '') throw new TrustError(`the ${statement.decision === 'approve' ? 'approval' : 'rejection'} by ${show(id)} is unsigned; this host accepts only ones signed with a key in ${basename(policy.allowedSigners)}`);
  let signer: { signer: string; fingerprint: string };
  try {
    signer = await verifiedSigner(policy, statement, id, signature);
  } catch (err) {
    if (err instanceof TrustError) throw new TrustError(`${statement.decision} by ${show(id)}: ${err.message}`);
    throw err;
  }
  const person = personOf(policy, id);
  if (!person) throw new TrustError(`${id} (key ${signer.fingerprint}) is not listed under approvals.people on this host`);
  const { runbooks } = policy.people[person]!;
  if (!runbooks.includes('*') && !(runbooks as string[]).includes(runbook)) throw new TrustError(`${person} may not ${statement.decision} ${runbook} on this host`);
  return { identity: id, person, ...signer };
}

/** A requester whose signature did not hold: recorded as `unverified:<name>`, with why. */
export interface Unverified {
  unverified: string;
  reason: string;
}

const CLOCK_SKEW_MS = 5 * 60_000;

/**
 * Verifies who asked for a run. A missing, invalid, too old or vouched-beyond-its-rights signature
 * gives `{ unverified: requestedBy }`, never an error: a run may be asked for without a key, it just
 * can't count as anyone's. A signer not listed under people is its own person. The statement must
 * come from the workflow's own ID, runbook, input digest and requestedBy.
 */
export async function verifyRequestSignature(
  policy: ApprovalPolicy,
  statement: RequestStatement,
  signature: string | undefined,
  maxAgeMs = 15 * 60_000,
  now = Date.now(),
): Promise<VerifiedIdentity | Unverified> {
  const id = statement.requestedBy;
  const unverified = (reason: string): Unverified => ({ unverified: id, reason });
  if (statement.kind !== 'request') return unverified('not a request statement');
  if (signature === undefined || signature === '') return unverified('unsigned');
  const at = Date.parse(statement.at);
  if (Number.isNaN(at)) return unverified(`signing time ${show(statement.at)} is not a time`);
  // A schedule's signature is for each of its runs, months later too: revoked by deleting the
  // schedule or taking the key out of allowed_signers.
  if (statement.scheduleId === undefined && now - at > maxAgeMs) return unverified(`signed at ${statement.at}, more than ${Math.round(maxAgeMs / 60_000)} min ago`);
  if (at - now > CLOCK_SKEW_MS) return unverified(`signed at ${statement.at}, in the future`);
  try {
    const signer = await verifiedSigner(policy, statement, id, signature);
    return { identity: id, person: personOf(policy, id) ?? id, ...signer };
  } catch (err) {
    if (err instanceof TrustError) return unverified(err.message);
    throw err;
  }
}

/**
 * Whether two identities are one person, for refusing self-approval through a second identity or
 * through an unverified requester claiming a name (`unverified:alice` is alice). Errs towards "same":
 * names compare case-insensitively, and a name that is a person's name counts as that person.
 */
export function samePerson(policy: ApprovalPolicy, a: string, b: string): boolean {
  const name = (x: string) => (x.startsWith(UNVERIFIED_PREFIX) ? x.slice(UNVERIFIED_PREFIX.length) : x).toLowerCase();
  const owners = (n: string) =>
    Object.entries(policy.people)
      .filter(([person, { identities }]) => person.toLowerCase() === n || identities.some((i) => i.toLowerCase() === n))
      .map(([person]) => person);
  const [na, nb] = [name(a), name(b)];
  if (na === nb) return true;
  const ofB = owners(nb);
  return owners(na).some((p) => ofB.includes(p));
}
