// Hostile runbook input against a host's services file: argv, env and cwd smuggled in as inline
// specs, undeclared services and checks, option-like names, path escapes from the data roots
// (`..`, symlinks, prefix look-alikes), aliases of one table, out-of-range timeouts, and forged,
// replayed, wrong-run, wrong-digest and self-approvals. Every case runs inside `expectUntouched`.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { resolveResources } from '../../src/activities/resources';
import { stopService } from '../../src/activities/service';
import { verifyApproval } from '../../src/activities/trust';
import { hostFileSchema } from '../../src/host/host-file';
import { requireUnderDataRoots } from '../../src/host/data-roots';
import { resolveService } from '../../src/host/services';
import { signStatement } from '../../src/trust/sshsig';
import type { ApprovalStatement } from '../../src/trust/statements';
import { serviceRestartInput, lanceRestoreInput, logStoreRecoverInput, etcdRecoverInput, etcdSnapshotInput, describeIssues } from '../../src/workflows/inputs';
import { buildEtcdCandidate, diagnoseEtcd, swapEtcdMember } from '../../src/activities/etcd';
import { diagnoseLogStore, restoreLogTails, swapLogStore, truncateLogTails } from '../../src/activities/logstore';
import { claimScratch } from '../../src/engines/logstore/candidates';
import { doctorLogStore } from '../../src/engines/logstore/doctor';
import { resolveTarget } from '../../src/workflows/targets';
import { approvalKeys, keyRing, type ApprovalKeys, type KeyRing } from '../trust/keys';
import { expectUntouched, makeSandbox, type Sandbox } from './sandbox';

describe('hostile runbook input', () => {
  let sb: Sandbox;
  let hostDir: string;
  let hostFile: string;
  let data: string;
  let ring: KeyRing;
  let keys: ApprovalKeys;
  const envBefore = process.env.RUNBOOK_SERVICES_FILE;

  before(async () => {
    sb = await makeSandbox('input');
    data = join(sb.root, 'data');
    await mkdir(join(data, 'images.lance'), { recursive: true });
    await symlink(sb.outside, join(data, 'escape'));
    await symlink(join(data, 'images.lance'), join(data, 'alias.lance'));
    await mkdir(`${sb.root}/data-evil/t.lance`, { recursive: true });
    // Stores whose own files point out of the store, and a folder of someone's where a scratch copy would go.
    await mkdir(join(data, 'index.db'));
    await writeFile(join(data, 'index.db', 'CURRENT'), 'MANIFEST-000001\n');
    await mkdir(join(data, 'linked.db'));
    await writeFile(join(sb.outside, 'secret'), 'not a manifest\n');
    await symlink(join(sb.outside, 'secret'), join(data, 'linked.db', 'CURRENT'));
    await mkdir(join(data, 'linked-manifest.db'));
    await writeFile(join(data, 'linked-manifest.db', 'CURRENT'), 'MANIFEST-000001\n');
    await symlink(join(sb.outside, 'secret'), join(data, 'linked-manifest.db', 'MANIFEST-000001'));
    await mkdir(join(data, 'someone'));
    await writeFile(join(data, 'someone', 'notes.txt'), 'mine\n');
    ring = await keyRing();
    const cast = await approvalKeys(ring);
    keys = cast.keys;
    const { allowedSigners } = cast;
    // The host's own file lives outside the sandbox: it is the host's word, not the attacker's.
    hostDir = await mkdtemp(join(tmpdir(), 'hostile-host-'));
    hostFile = join(hostDir, 'services.json');
    await writeFile(hostFile, JSON.stringify({
      trust: 'signed',
      dataRoots: [data],
      services: {
        api: {
          adapter: 'exec',
          start: [process.execPath, '-e', 'setInterval(() => {}, 1e6)', sb.marker],
          pidFile: join(sb.root, 'api.pid'),
          checks: { root: { url: 'http://127.0.0.1:9/' } },
        },
      },
      approvals: {
        allowedSigners,
        vouchers: { chatops: ['slack:*'] },
        people: { alice: { identities: ['alice', 'slack:UALICE'], runbooks: ['*'] }, bob: { identities: ['bob'], runbooks: ['serviceRestart'] } },
      },
    }));
    process.env.RUNBOOK_SERVICES_FILE = hostFile;
  });
  after(async () => {
    if (envBefore === undefined) delete process.env.RUNBOOK_SERVICES_FILE;
    else process.env.RUNBOOK_SERVICES_FILE = envBefore;
    await sb?.cleanup();
    await ring?.close();
    await rm(hostDir, { recursive: true, force: true });
  });

  const refusedBy = async (work: () => Promise<unknown>, reason: RegExp) => {
    await expectUntouched(sb, () => assert.rejects(work, reason));
  };
  const invalidInput = (schema: typeof serviceRestartInput | typeof lanceRestoreInput | typeof logStoreRecoverInput | typeof etcdRecoverInput | typeof etcdSnapshotInput, input: unknown, reason: RegExp) =>
    expectUntouched(sb, async () => {
      const parsed = schema.safeParse(input);
      assert.equal(parsed.success, false, 'the schema accepted hostile input');
      assert.match(describeIssues(parsed.error!), reason);
    });

  const inline = (extra: Record<string, unknown>) => ({ name: 'evil', adapter: 'exec', start: [process.execPath, '-e', 'process.exit(0)', sb.marker], pidFile: join(sb.root, 'evil.pid'), ...extra });

  describe('services the host did not declare', () => {
    test('an undeclared name is refused, naming the declared ones', () => refusedBy(() => resolveService('images-api'), /service images-api is not declared.*\(declared: api\)/));
    test('argv injection: an inline spec running node -e is refused', () => refusedBy(() => resolveService(inline({}) as never), /inline service specs are refused on this host/));
    test('env injection: an inline spec with NODE_OPTIONS and LD_PRELOAD is refused', () => refusedBy(() => resolveService(inline({ env: { NODE_OPTIONS: '--require /tmp/x.js', LD_PRELOAD: '/tmp/x.so' } }) as never), /inline service specs are refused/));
    test('cwd injection: an inline spec with cwd / is refused', () => refusedBy(() => resolveService(inline({ cwd: '/' }) as never), /inline service specs are refused/));
    test('a pidfile pointing at /proc in an inline spec is refused', () => refusedBy(() => resolveService(inline({ pidFile: '/proc/1/stat' }) as never), /inline service specs are refused/));
    test('a check the service does not declare is refused', () => refusedBy(() => resolveService('api', ['root', 'metadata']), /declares no check metadata/));
    test('a step given a digest other than the planned one refuses to act', () => refusedBy(() => stopService({ ref: 'api', digest: '0'.repeat(64) }), /changed in this host's services file since the plan/));
    test('a claim of an undeclared service is refused before anything', () => refusedBy(() => resolveResources([{ kind: 'service', key: 'service:h:ghost', service: 'ghost' }]), /not declared/));
  });

  describe('names that could be options or paths', () => {
    test('a service name starting with "-"', () => invalidInput(serviceRestartInput, { host: 'h', service: '--help' }, /service/));
    test('a service name with a slash', () => invalidInput(serviceRestartInput, { host: 'h', service: '../../etc/passwd' }, /service/));
    test('a check name starting with "-"', () => invalidInput(serviceRestartInput, { host: 'h', service: 'api', checks: ['-x'] }, /checks\.0/));
    test('more than 20 checks', () => invalidInput(serviceRestartInput, { host: 'h', service: 'api', checks: Array.from({ length: 21 }, (_, i) => `c${i}`) }, /checks/));
    test('a host name with a space', () => invalidInput(serviceRestartInput, { host: 'h -x', service: 'api' }, /host: must be a hostname/));
    const hostFileRefuses = (services: unknown, reason: RegExp) =>
      expectUntouched(sb, async () => {
        const parsed = hostFileSchema.safeParse({ services });
        assert.equal(parsed.success, false);
        assert.match(describeIssues(parsed.error!), reason);
      });
    test('a systemd unit starting with "-" in a services file', () => hostFileRefuses({ a: { adapter: 'systemd', unit: '--host=evil.service' } }, /unit: must be a systemd unit name/));
    test('a systemd unit without a suffix', () => hostFileRefuses({ a: { adapter: 'systemd', unit: 'nginx' } }, /unit/));
    test('a container named like an option', () => hostFileRefuses({ a: { adapter: 'container', container: '--privileged' } }, /container: must be a container name/));
    test('a check URL that is not http(s)', () => hostFileRefuses({ a: { adapter: 'systemd', unit: 'a.service', checks: { x: { url: 'file:///etc/shadow' } } } }, /url/));
    test('an environment variable name with "="', () => hostFileRefuses({ a: { adapter: 'exec', start: ['/bin/true'], pidFile: '/run/a.pid', env: { 'A=B': '1' } } }, /env/));
  });

  describe('data paths outside the declared roots', () => {
    test('a table outside every root', () => refusedBy(() => requireUnderDataRoots({ tableDir: join(sb.outside, 't.lance') }), /tableDir .* outside this host's data roots/));
    test('a ".." escape', () => refusedBy(() => requireUnderDataRoots({ tableDir: `${data}/../../outside/t.lance` }), /tableDir .*outside this host's data roots/));
    test('a symlink inside the root pointing outside', () => refusedBy(() => requireUnderDataRoots({ tableDir: join(data, 'escape', 't.lance') }), new RegExp(`resolves to ${sb.outside}/t.lance`)));
    test('a root look-alike prefix (data-evil next to data)', () => refusedBy(() => requireUnderDataRoots({ tableDir: `${sb.root}/data-evil/t.lance` }), /outside this host's data roots/));
    test('a quarantine folder outside', () => refusedBy(() => requireUnderDataRoots({ tableDir: join(data, 'images.lance'), quarantineDir: sb.outside }), /quarantineDir .* outside/));
    test('an LFS repository outside', () => refusedBy(() => requireUnderDataRoots({ lfsRepo: '/' }), /lfsRepo \/: outside/));
    test('a relative path', () => refusedBy(() => requireUnderDataRoots({ tableDir: 'data/images.lance' }), /must be an absolute path/));
    test('a path with a NUL byte', () => invalidInput(lanceRestoreInput, { host: 'h', tableDir: `${data}/t\0.lance` }, /tableDir: must be an absolute path/));
    test('aliases of one table are one target: /t, /t/, //t, /a/../t', () =>
      expectUntouched(sb, async () => {
        const ids = [`${data}/images.lance`, `${data}/images.lance/`, `/${data}/images.lance`, `${data}/x/../images.lance`].map(
          (tableDir) => resolveTarget('lanceRestore', { ...lanceRestoreInput.parse({ host: 'h', tableDir }), host: 'h' }).workflowId,
        );
        assert.equal(new Set(ids).size, 1, ids.join(' '));
      }));
    test('a symlinked alias of a table claims the same resource', () =>
      expectUntouched(sb, async () => {
        const [a, b] = await Promise.all([join(data, 'images.lance'), join(data, 'alias.lance')].map((path) => resolveResources([{ kind: 'path', key: `path:h:${path}`, path }])));
        assert.deepEqual(a, b);
      }));
  });

  describe('LevelDB/Pebble stores (logStoreRecover)', () => {
    // The store's own files are hostile too: the doctor follows no link, and every step checks what
    // it is handed, since anyone who reaches the Temporal frontend can schedule a step directly.
    const store = () => join(data, 'index.db');
    const quarantine = () => join(data, '.runbook-quarantine');
    test('an engine the runbook does not know', () => invalidInput(logStoreRecoverInput, { host: 'h', dir: store(), engine: 'rocksdb' }, /engine/));
    test('a policy the runbook does not know', () => invalidInput(logStoreRecoverInput, { host: 'h', dir: store(), engine: 'goleveldb', policy: 'yolo' }, /policy/));
    test('a relative store path', () => invalidInput(logStoreRecoverInput, { host: 'h', dir: 'data/index.db', engine: 'goleveldb' }, /dir: must be an absolute path/));
    test('a store reached through a symlink out of the roots', () => refusedBy(() => diagnoseLogStore({ dir: join(data, 'escape', 'index.db'), engine: 'goleveldb', scratchDir: join(quarantine(), 'p') }), new RegExp(`dir .* resolves to ${sb.outside}/index.db`)));
    test('a scratch folder outside the roots', () => refusedBy(() => diagnoseLogStore({ dir: store(), engine: 'goleveldb', scratchDir: join(sb.outside, 'scratch') }), /quarantineDir .* outside/));
    test('CURRENT is a symlink to a file outside', () => refusedBy(() => doctorLogStore('leveldb', join(data, 'linked.db')), /CURRENT.*symlink/));
    test('the MANIFEST is a symlink to a file outside', () => refusedBy(() => doctorLogStore('leveldb', join(data, 'linked-manifest.db')), /MANIFEST-000001 is a symlink; refusing to follow it/));
    test('a truncation naming a path instead of a log file', () => refusedBy(() => truncateLogTails({ dir: store(), snapshot: join(quarantine(), 'snap'), truncations: [{ file: '../../outside/secret', validBytes: 0, fileBytes: 10 }] }), /not the name of a MANIFEST or WAL file/));
    test('an undo told to write a file that is not a log', () => refusedBy(() => restoreLogTails({ dir: store(), snapshot: join(quarantine(), 'snap'), truncations: [{ file: 'LOCK', validBytes: 0, fileBytes: 10 }] }), /not the name of a MANIFEST or WAL file/));
    test('a scratch folder that is someone\'s data is neither used nor removed', () => refusedBy(() => claimScratch(join(data, 'someone')), /was not made by this tool; refusing to use or remove it/));
    test('a swap handed an operator\'s folder as the recovered copy', () => refusedBy(() => swapLogStore({ dir: store(), recovered: join(data, 'someone'), aside: join(quarantine(), 'damaged'), snapshot: join(quarantine(), 'snap') }), /is not a copy this tool recovered/));
  });

  describe('etcd data dirs and snapshots (etcdRecover, etcdSnapshot)', () => {
    const dataDir = () => join(data, 'default.etcd');
    const etcd = (over: Record<string, unknown>) => ({ host: 'h', dataDir: dataDir(), clientUrl: 'http://127.0.0.1:2379', service: 'etcd', ...over });
    const expect = { healthy: true, findings: 0, revision: 1, liveKeys: 0, revisions: 0, consistentIndex: 1 };
    test('a client URL with a path, credentials or an option riding along', () => {
      for (const clientUrl of ['http://127.0.0.1:2379/v3', 'http://root:pw@127.0.0.1:2379', 'http://127.0.0.1:2379 --insecure-skip-tls-verify', '--endpoints=http://evil:2379', 'file:///etc/passwd']) {
        invalidInput(etcdRecoverInput, etcd({ clientUrl }), /clientUrl: must be an etcd client URL/);
        invalidInput(etcdSnapshotInput, { host: 'h', clientUrl, snapshotDir: join(data, 'snapshots') }, /clientUrl: must be an etcd client URL/);
      }
    });
    test('a member name that is a path or an option', () => {
      for (const member of ['../x', 'a/b', '--data-dir=/', '']) invalidInput(etcdRecoverInput, etcd({ member }), /member: must be an etcd member name/);
    });
    test('a relative data dir', () => invalidInput(etcdRecoverInput, etcd({ dataDir: 'default.etcd' }), /dataDir: must be an absolute path/));
    test('no service to stop', () => invalidInput(etcdRecoverInput, { host: 'h', dataDir: dataDir(), clientUrl: 'http://127.0.0.1:2379' }, /service/));
    test('keep 0 snapshots', () => invalidInput(etcdSnapshotInput, { host: 'h', clientUrl: 'http://127.0.0.1:2379', snapshotDir: join(data, 'snapshots'), keep: 0 }, /keep/));
    test('a data dir reached through a symlink out of the roots', () => refusedBy(() => diagnoseEtcd({ dataDir: join(data, 'escape', 'default.etcd'), member: 'default', peerUrl: 'http://localhost:2380', scratchDir: join(data, '.q', 'p') }), /dataDir .* resolves to/));
    test('a snapshot folder outside the roots', () => refusedBy(() => diagnoseEtcd({ dataDir: dataDir(), member: 'default', peerUrl: 'http://localhost:2380', snapshotDir: sb.outside, scratchDir: join(data, '.q', 'p') }), /snapshotDir .* outside/));
    test('a scratch folder inside the data dir', () => refusedBy(() => diagnoseEtcd({ dataDir: data, member: 'default', peerUrl: 'http://localhost:2380', scratchDir: join(data, 'p') }), /inside the etcd data dir/));
    test('a candidate recipe naming a file outside the roots as the snapshot to restore', () =>
      refusedBy(() => buildEtcdCandidate({ dataDir: dataDir(), copy: join(data, '.q', 'copy'), work: join(data, '.q', 'work'), recipe: { id: 'snapshot', file: join(sb.outside, 'secret'), sha256: '0'.repeat(64), bytes: 10, mtime: '' }, member: 'default', peerUrl: 'http://localhost:2380', expect }), /snapshot .* outside/));
    test('a swap handed an operator\'s folder as the candidate', () => refusedBy(() => swapEtcdMember({ dataDir: dataDir(), recovered: join(data, 'someone'), aside: join(data, '.q', 'damaged'), copy: join(data, '.q', 'copy') }), /is not a copy this tool recovered/));
  });

  describe('bounds', () => {
    test('approvalTimeout above 7d', () => invalidInput(serviceRestartInput, { host: 'h', service: 'api', approvalTimeout: '999d' }, /approvalTimeout: must be at most 7d/));
    test('hostWaitTimeout above 1h', () => invalidInput(serviceRestartInput, { host: 'h', service: 'api', hostWaitTimeout: '2h' }, /hostWaitTimeout: must be at most 1h/));
    test('a duration with a huge number', () => invalidInput(serviceRestartInput, { host: 'h', service: 'api', approvalTimeout: '99999999999999s' }, /approvalTimeout/));
    test('waitHealthySeconds above an hour', () => invalidInput(serviceRestartInput, { host: 'h', service: 'api', waitHealthySeconds: 1e9 }, /waitHealthySeconds/));
    test('fields the input does not have (an old smokeChecks, env) are refused, not dropped', () => invalidInput(serviceRestartInput, { host: 'h', service: 'api', smokeChecks: [{ url: 'http://169.254.169.254/' }], env: { LD_PRELOAD: '/x.so' } }, /smokeChecks: unknown field; env: unknown field/));
    test('an oversized request signature', () => invalidInput(serviceRestartInput, { host: 'h', service: 'api', request: { signature: 'x'.repeat(9000), at: new Date().toISOString() } }, /request\.signature/));
  });

  describe('approvals', () => {
    const run = { workflowId: 'serviceRestart:h/api', runId: 'run-1', digest: 'd'.repeat(64) };
    const statement = (approver: string, over: Partial<ApprovalStatement> = {}): ApprovalStatement => ({ kind: 'approval', ...run, decision: 'approve', approver, ...over });
    const verify = (approver: string, signature: string | undefined, requester = 'alice') => verifyApproval({ statement: statement(approver), signature, runbook: 'serviceRestart', requester });
    test('unsigned', () => refusedBy(() => verify('bob', undefined), /unsigned/));
    test('forged: mallory signs as bob', async () => refusedBy(async () => verify('bob', await signStatement(keys.mallory.file, statement('bob'))), /not in allowed_signers/));
    test('replayed from another run', async () => refusedBy(async () => verify('bob', await signStatement(keys.bob.file, statement('bob', { runId: 'run-0' }))), /does not match/));
    test('another digest', async () => refusedBy(async () => verify('bob', await signStatement(keys.bob.file, statement('bob', { digest: 'e'.repeat(64) }))), /does not match/));
    test('another workflow', async () => refusedBy(async () => verify('bob', await signStatement(keys.bob.file, statement('bob', { workflowId: 'serviceRestart:h/other' }))), /does not match/));
    test('a signed choice swapped for another', async () =>
      refusedBy(async () => verifyApproval({ statement: statement('bob', { choice: 'snapshot' }), signature: await signStatement(keys.bob.file, statement('bob', { choice: 'surgery' })), runbook: 'serviceRestart', requester: 'alice' }), /does not match/));
    test('a signature without a choice replayed with one', async () =>
      refusedBy(async () => verifyApproval({ statement: statement('bob', { choice: 'snapshot' }), signature: await signStatement(keys.bob.file, statement('bob')), runbook: 'serviceRestart', requester: 'alice' }), /does not match/));
    test('a rejection replayed as an approval', async () => refusedBy(async () => verify('bob', await signStatement(keys.bob.file, statement('bob', { decision: 'reject' }))), /does not match/));
    test('self-approval through a second identity (slack:UALICE is alice)', async () => refusedBy(async () => verify('slack:UALICE', await signStatement(keys.chatops.file, statement('slack:UALICE'))), /self-approval refused/));
    test('self-approval of an unverified request by the claimed name', async () => refusedBy(async () => verify('alice', await signStatement(keys.alice.file, statement('alice')), 'unverified:alice'), /self-approval refused/));
    test('the chat key vouching for a bare principal', async () => refusedBy(async () => verify('bob', await signStatement(keys.chatops.file, statement('bob'))), /may not vouch for bob/));
    test('a person approving a runbook outside theirs', async () =>
      refusedBy(async () => verifyApproval({ statement: statement('bob'), signature: await signStatement(keys.bob.file, statement('bob')), runbook: 'lanceRestore', requester: 'alice' }), /bob may not approve lanceRestore/));
    test('a tampered signature', async () =>
      refusedBy(async () => {
        const good = await signStatement(keys.bob.file, statement('bob'));
        const lines = good.split('\n');
        lines[2] = lines[2]!.replace(/[A-Za-z]/, (c) => (c === 'A' ? 'B' : 'A'));
        return verify('bob', lines.join('\n'));
      }, /bob/));
  });
});
