// Which SSH key the CLI signs approvals and start requests with (src/trust), and signing with it.
import { accessSync, constants, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { signStatement } from '../trust/sshsig';
import type { Statement } from '../trust/statements';
import { EXIT, ExitError } from './exit';

export const KEY_OPTION_HELP = 'SSH key to sign with (ssh-keygen -Y sign; an agent may hold it); default: RUNBOOK_SIGNING_KEY, else ~/.ssh/id_ed25519 if it exists, else unsigned';

/**
 * The key to sign with, or undefined to send unsigned. A key named explicitly (--key or
 * RUNBOOK_SIGNING_KEY) must be a readable file: exit 2 naming it, rather than silently not signing.
 */
export function signingKey(option: string | undefined, what: 'approval' | 'rejection' | 'request'): string | undefined {
  const [file, from] = option ? [option, '--key'] : process.env.RUNBOOK_SIGNING_KEY ? [process.env.RUNBOOK_SIGNING_KEY, 'RUNBOOK_SIGNING_KEY'] : [undefined, undefined];
  if (file && from) {
    try {
      if (!statSync(file).isFile()) throw new Error('not a file');
      accessSync(file, constants.R_OK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new ExitError(`${from} ${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'cannot be read' : (err as Error).message}`, EXIT.badInput);
    }
    return file;
  }
  const fallback = join(homedir(), '.ssh', 'id_ed25519');
  try {
    accessSync(fallback, constants.R_OK);
    return fallback;
  } catch {
    process.stderr.write(
      what === 'request'
        ? 'runbook: no signing key (--key, RUNBOOK_SIGNING_KEY or ~/.ssh/id_ed25519): the request is unsigned, so the run records its requester as unverified\n'
        : `runbook: no signing key (--key, RUNBOOK_SIGNING_KEY or ~/.ssh/id_ed25519): the ${what} is unsigned, and only a worker in development trust mode accepts it\n`,
    );
    return undefined;
  }
}

/** Signs, turning a key ssh-keygen can't use (passphrase without an agent, not a key) into exit 2. */
export async function signWith(keyFile: string, statement: Statement): Promise<string> {
  try {
    return await signStatement(keyFile, statement);
  } catch (err) {
    if ((err as Error).name === 'SigningError') throw new ExitError((err as Error).message, EXIT.badInput);
    throw err;
  }
}
