// Signing and verifying statements with OpenSSH's own `ssh-keygen -Y` (SSHSIG). We never parse or
// build signatures ourselves: ssh-keygen and the host's allowed_signers file decide.
import { access, constants, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { execa } from 'execa';
import { SIGNATURE_NAMESPACE, statementIdentity, statementText, type Statement } from './statements';

/** A signature or signer that does not hold. The message says why, without signature bytes or host paths. */
export class TrustError extends Error {
  override name = 'TrustError' as const;
}

/** The signing key can't be used (missing, unreadable, passphrase-protected without an agent). */
export class SigningError extends Error {
  override name = 'SigningError' as const;
}

export const MAX_SIGNATURE_BYTES = 8192;
const SSH_KEYGEN = process.env.RUNBOOK_SSH_KEYGEN || 'ssh-keygen';
const TIMEOUT_MS = 10_000;
/** Principals we try at most per signature: each is one ssh-keygen run. */
const MAX_CANDIDATES = 8;
const ARMOR = /^-----BEGIN SSH SIGNATURE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END SSH SIGNATURE-----\r?\n?$/;
// What ssh-keygen says about a signature it can't read (as opposed to one it reads and rejects).
const MALFORMED = /couldn't parse|invalid format|version \d+ is larger|incomplete message|missing header|sshsig_/i;
// Principals we hand to `-I`: no whitespace, commas, patterns or control characters that could mean more than one.
const PRINCIPAL = /^[A-Za-z0-9._@:+-]{1,200}$/;

// Never prompt: no controlling terminal (detached), and the passphrase asker is `false`, so an
// encrypted key the agent does not hold fails instead of reading the statement from stdin.
const noPrompt = { detached: true, env: { SSH_ASKPASS: 'false', SSH_ASKPASS_REQUIRE: 'force', DISPLAY: '' }, timeout: TIMEOUT_MS, reject: false } as const;

async function sshKeygen(args: string[], input?: string) {
  const r = await execa(SSH_KEYGEN, args, { ...noPrompt, ...(input === undefined ? { stdin: 'ignore' as const } : { input }) });
  if (r.timedOut) throw new Error(`${SSH_KEYGEN} -Y ${args[1]} took longer than ${TIMEOUT_MS / 1000}s`);
  if (r.exitCode === undefined) {
    const code = (r as { code?: string }).code;
    throw new Error(code === 'ENOENT' ? `${SSH_KEYGEN} not found: install openssh-client` : `${SSH_KEYGEN} could not run (${code ?? 'killed'})`);
  }
  return { ok: r.exitCode === 0, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** Signs the statement's text with the key (a private key file, or a public one whose key an agent holds). */
export async function signStatement(keyFile: string, statement: Statement): Promise<string> {
  try {
    await access(keyFile, constants.R_OK);
  } catch (err) {
    throw new SigningError(`signing key ${keyFile}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : 'cannot be read'}`);
  }
  const r = await sshKeygen(['-Y', 'sign', '-f', keyFile, '-n', SIGNATURE_NAMESPACE], statementText(statement));
  if (!r.ok) {
    const why = /passphrase/i.test(r.stderr)
      ? `it is passphrase-protected and no ssh-agent holds it (ssh-add ${keyFile}, or use a key without a passphrase)`
      : /load (public )?key|invalid format|not a key/i.test(r.stderr)
        ? 'it is not an SSH key'
        : r.stderr.trim().split('\n').at(-1) || 'ssh-keygen refused it';
    throw new SigningError(`signing key ${keyFile}: ${why}`);
  }
  const signature = r.stdout.trim() + '\n';
  if (!ARMOR.test(signature)) throw new SigningError(`signing key ${keyFile}: ssh-keygen printed no signature`);
  return signature;
}

function checkArmor(signature: string | undefined): string {
  if (signature === undefined || signature === null || signature === '') throw new TrustError('no signature');
  if (typeof signature !== 'string') throw new TrustError('malformed signature: not text');
  if (Buffer.byteLength(signature) > MAX_SIGNATURE_BYTES) throw new TrustError(`malformed signature: longer than ${MAX_SIGNATURE_BYTES} bytes`);
  const text = signature.endsWith('\n') ? signature : `${signature}\n`;
  if (!ARMOR.test(text)) throw new TrustError('malformed signature: not an armored "BEGIN SSH SIGNATURE" block');
  return text;
}

export interface VerifiedSigner {
  /** The allowed_signers principal the signature verified for. */
  signer: string;
  /** The signing key's fingerprint, `SHA256:…`. */
  fingerprint: string;
}

type Attempt = { principal: string; ok: boolean; stdout: string; stderr: string };

function reasonOf(a: Attempt, file: string): string {
  if (/namespace does not match/i.test(a.stderr)) return `wrong namespace: the signature was not made for "${SIGNATURE_NAMESPACE}"`;
  if (/not permitted for use in signature namespace/i.test(a.stderr)) return `the key of ${a.principal} may not sign "${SIGNATURE_NAMESPACE}" in ${file}`;
  if (/incorrect signature|verification failed/i.test(a.stderr)) return 'the signature does not match this statement (another run, digest, decision or signer)';
  if (MALFORMED.test(a.stderr)) return 'malformed signature';
  if (/expired|not yet valid|valid-/i.test(a.stderr)) return `the key of ${a.principal} is not valid now in ${file}`;
  return `the key is not in ${file} for ${a.principal}`;
}

/**
 * Verifies `signature` over the statement against an OpenSSH allowed_signers file. The signer is the
 * first principal for which ssh-keygen verifies it: `prefer` first (the policy's candidates, such as
 * the statement's own identity), then those `find-principals` lists for the key. Throws TrustError.
 */
export async function verifyStatement(allowedSignersFile: string, statement: Statement, signature: string | undefined, prefer: string[] = []): Promise<VerifiedSigner> {
  const file = basename(allowedSignersFile);
  const armored = checkArmor(signature);
  try {
    await access(allowedSignersFile, constants.R_OK);
  } catch {
    throw new TrustError(`allowed_signers file ${file} cannot be read on this host`);
  }
  const text = statementText(statement);
  const dir = await mkdtemp(join(tmpdir(), 'runbook-sig-'));
  try {
    const sigFile = join(dir, 'statement.sig');
    await writeFile(sigFile, armored, { mode: 0o600, flag: 'wx' });
    const found = await sshKeygen(['-Y', 'find-principals', '-s', sigFile, '-f', allowedSignersFile, '-n', SIGNATURE_NAMESPACE]);
    // Exit 255 both for an unknown key and for a signature ssh-keygen can't read; stderr tells which.
    if (!found.ok && MALFORMED.test(found.stderr)) throw new TrustError('malformed signature');
    const listed = found.ok ? found.stdout.split('\n').map((l) => l.trim()).filter(Boolean) : [];
    const candidates = [...new Set([...prefer, ...listed, statementIdentity(statement)])].filter((p) => PRINCIPAL.test(p)).slice(0, MAX_CANDIDATES);
    const attempts: Attempt[] = [];
    for (const principal of candidates) {
      const r = await sshKeygen(['-Y', 'verify', '-f', allowedSignersFile, '-I', principal, '-n', SIGNATURE_NAMESPACE, '-s', sigFile], text);
      const attempt = { principal, ...r };
      if (r.ok) {
        const good = /^Good "[^"]*" signature for (.+) with \S+ key (SHA256:[A-Za-z0-9+/=]+)\s*$/m.exec(r.stdout + r.stderr);
        if (!good) throw new TrustError('ssh-keygen verified the signature but printed no key fingerprint');
        return { signer: principal, fingerprint: good[2]! };
      }
      attempts.push(attempt);
    }
    // The most telling failure: one for a principal the key is listed under, else the first.
    const telling = attempts.find((a) => listed.includes(a.principal)) ?? attempts[0];
    if (!listed.length) {
      if (telling && /namespace does not match/i.test(telling.stderr)) throw new TrustError(reasonOf(telling, file));
      throw new TrustError(`the signing key is not in ${file}`);
    }
    throw new TrustError(telling ? reasonOf(telling, file) : `no principal of the signing key in ${file} can be checked`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
