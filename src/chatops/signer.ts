// The chat service's own signature over what it forwards for a person it authenticated: approvals
// and start requests, signed with CHATOPS_SIGNING_KEY (an OpenSSH private key) through src/trust.
// The worker verifies them against its allowed_signers; without a key the service forwards
// unsigned, which only a worker in development trust mode accepts.
import { signStatement } from '../trust/sshsig';
import type { Statement } from '../trust/statements';

/** Signs one statement; tests pass a fake that records what it was asked to sign. */
export type Signer = (statement: Statement) => Promise<string>;

export const sshSigner = (keyFile: string): Signer => (statement) => signStatement(keyFile, statement);
