// Real OpenSSH keys for the trust tests, made with ssh-keygen in a private temp dir.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';

export interface TestKey {
  file: string;
  publicKey: string;
  fingerprint: string;
}

export interface KeyRing {
  dir: string;
  key(name: string, passphrase?: string): Promise<TestKey>;
  /** Writes an allowed_signers file: one line per entry, `<principals> [options] <public key>`. */
  allowedSigners(lines: Array<[principals: string, key: TestKey, options?: string]>, name?: string): Promise<string>;
  /** A raw `ssh-keygen -Y sign` with any namespace, for signatures our code would never make. */
  rawSign(key: TestKey, text: string, namespace: string): Promise<string>;
  close(): Promise<void>;
}

export async function keyRing(): Promise<KeyRing> {
  const dir = await mkdtemp(join(tmpdir(), 'trust-test-'));
  const keys = new Map<string, TestKey>();
  return {
    dir,
    async key(name, passphrase = '') {
      const existing = keys.get(name);
      if (existing) return existing;
      const file = join(dir, name);
      await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-C', name, '-f', file]);
      const publicKey = (await readFile(`${file}.pub`, 'utf8')).trim();
      const fingerprint = (await execa('ssh-keygen', ['-l', '-f', `${file}.pub`])).stdout.split(' ')[1]!;
      const key = { file, publicKey, fingerprint };
      keys.set(name, key);
      return key;
    },
    async allowedSigners(lines, name = 'allowed_signers') {
      const file = join(dir, name);
      await writeFile(file, lines.map(([principals, key, options]) => `${principals} ${options ? `${options} ` : ''}${key.publicKey}\n`).join(''));
      return file;
    },
    async rawSign(key, text, namespace) {
      return (await execa('ssh-keygen', ['-Y', 'sign', '-f', key.file, '-n', namespace], { input: text })).stdout + '\n';
    },
    close: () => rm(dir, { recursive: true, force: true }),
  };
}

export type ApprovalKeys = Record<'alice' | 'bob' | 'mallory' | 'chatops', TestKey>;

/**
 * The cast of the approval tests: alice, bob and the chat service (`chatops`) in allowed_signers for
 * namespace runbook-approval; mallory has a key nobody lists.
 */
export async function approvalKeys(ring: KeyRing): Promise<{ keys: ApprovalKeys; allowedSigners: string }> {
  const keys = { alice: await ring.key('alice'), bob: await ring.key('bob'), mallory: await ring.key('mallory'), chatops: await ring.key('chatops') };
  const allowedSigners = await ring.allowedSigners((['alice', 'bob', 'chatops'] as const).map((name) => [name, keys[name], 'namespaces="runbook-approval"']));
  return { keys, allowedSigners };
}
