// Who asked and who approved, verified on the host that will change, against its own services
// file: its trust mode and its approvals policy (OpenSSH allowed_signers, vouchers, people). The
// statements come from the workflow's own state (its ID, run, current digest), never from the caller.
import { loadHostFile } from '../host/host-file';
import { samePerson, verifyApprovalSignature, verifyRequestSignature, UNVERIFIED_PREFIX } from '../trust/policy';
import { TrustError } from '../trust/sshsig';
import type { ApprovalStatement, RequestStatement } from '../trust/statements';
import type { VerifiedApproval, VerifiedRequester } from '../workflows/report';

export async function verifyRequest(args: { statement: RequestStatement; signature?: string }): Promise<VerifiedRequester> {
  const host = await loadHostFile();
  const name = args.statement.requestedBy;
  // Development trust takes names at their word; a signed host records an unproven name as such.
  const unproven = (reason: string): VerifiedRequester =>
    host.trust === 'development' ? { requester: name, verified: false, reason: `${reason} (development trust: the name is taken as given)` } : { requester: `${UNVERIFIED_PREFIX}${name}`, verified: false, reason };
  if (!host.approvals) return unproven('this host has no approvals policy to verify signatures with');
  const result = await verifyRequestSignature(host.approvals, args.statement, args.signature);
  if ('unverified' in result) return unproven(result.reason);
  return { requester: result.identity, verified: true, person: result.person, signer: result.signer, fingerprint: result.fingerprint };
}

export async function verifyApproval(args: { statement: ApprovalStatement; signature?: string; runbook: string; requester: string }): Promise<VerifiedApproval> {
  const host = await loadHostFile();
  const { statement, signature, runbook, requester } = args;
  // Development trust takes an unsigned approval, or any approval when there is no policy to check it with.
  if (host.trust === 'development' && (!signature || !host.approvals)) return { approver: statement.approver, verified: false };
  if (!host.approvals) {
    throw new TrustError(`${statement.decision} by ${statement.approver} refused: this host verifies signed approvals but its services file has no "approvals" policy (allowedSigners, people)`);
  }
  const verified = await verifyApprovalSignature(host.approvals, statement, signature, runbook);
  if (samePerson(host.approvals, verified.identity, requester)) {
    throw new TrustError(`self-approval refused: ${verified.identity} is ${verified.person}, who requested this run as ${requester}; a second person must approve it`);
  }
  return { approver: verified.identity, verified: true, person: verified.person, signer: verified.signer, fingerprint: verified.fingerprint };
}
