// Hostile runbook input against a host's services file: argv, env and cwd smuggled in as inline
// specs, undeclared services and checks, option-like names, path escapes from the data roots
// (`..`, symlinks, prefix look-alikes), aliases of one table, out-of-range timeouts, and forged,
// replayed, wrong-run, wrong-digest and self-approvals. Every case runs inside `expectUntouched`.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
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
import { serviceRestartInput, lanceRestoreInput, logStoreRecoverInput, etcdRecoverInput, etcdSnapshotInput, fullBackupInput, verifyBackupInput, describeIssues } from '../../src/workflows/inputs';
import type { ApplicationFailure } from '@temporalio/common';
import { planBackup, prunePacks, startPack } from '../../src/activities/backup';
import { asFailure } from '../../src/activities/interceptors';
import { verifyPack } from '../../src/activities/verify-backup';
import { buildEtcdCandidate, copyEtcdMember, diagnoseEtcd, swapEtcdMember } from '../../src/activities/etcd';
import { diagnoseLogStore, restoreLogTails, swapLogStore, truncateLogTails } from '../../src/activities/logstore';
import { claimScratch } from '../../src/engines/logstore/candidates';
import { doctorLogStore } from '../../src/engines/logstore/doctor';
import { resolveTarget } from '../../src/workflows/targets';
import { approvalKeys, keyRing, type ApprovalKeys, type KeyRing } from '../trust/keys';
import { expectUntouched, makeSandbox, treeDigest, type Sandbox } from './sandbox';

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
  const invalidInput = (schema: typeof serviceRestartInput | typeof lanceRestoreInput | typeof logStoreRecoverInput | typeof etcdRecoverInput | typeof etcdSnapshotInput | typeof fullBackupInput | typeof verifyBackupInput, input: unknown, reason: RegExp) =>
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
    test('a data dir whose member/ is a symlink out of the roots: refused before anything is read', async () => {
      const linked = join(data, 'linked.etcd');
      await mkdir(linked, { recursive: true });
      await symlink(sb.outside, join(linked, 'member')).catch(() => undefined);
      await refusedBy(() => diagnoseEtcd({ dataDir: linked, member: 'default', peerUrl: 'http://localhost:2380', scratchDir: join(data, '.q', 'p') }), /linked\.etcd\/member is a symlink; refusing to read or move it/);
      await refusedBy(() => copyEtcdMember({ dataDir: linked, destination: join(data, '.q', 'copy'), expectDbSha256: '0'.repeat(64) }), /member is a symlink/);
    });
    test('a scratch folder inside the data dir', () => refusedBy(() => diagnoseEtcd({ dataDir: data, member: 'default', peerUrl: 'http://localhost:2380', scratchDir: join(data, 'p') }), /inside the etcd data dir/));
    test('a candidate recipe naming a file outside the roots as the snapshot to restore', () =>
      refusedBy(() => buildEtcdCandidate({ dataDir: dataDir(), copy: join(data, '.q', 'copy'), work: join(data, '.q', 'work'), recipe: { id: 'snapshot', file: join(sb.outside, 'secret'), sha256: '0'.repeat(64), bytes: 10, mtime: '' }, member: 'default', peerUrl: 'http://localhost:2380', expect }), /snapshot .* outside/));
    test('a swap handed an operator\'s folder as the candidate', () => refusedBy(() => swapEtcdMember({ dataDir: dataDir(), recovered: join(data, 'someone'), aside: join(data, '.q', 'damaged'), copy: join(data, '.q', 'copy') }), /is not a copy this tool recovered/));
  });

  describe('backups (fullBackup, verifyBackup)', () => {
    // The steps are hostile-input surfaces too: anyone who reaches the Temporal frontend can schedule
    // one directly, with any pack name, manifest or target.
    const target = () => join(data, 'backups');
    const backup = (over: Record<string, unknown>) => ({ host: 'h', target: target(), volumes: [join(data, 'images.lance')], ...over });
    const plan = (over: Partial<Parameters<typeof planBackup>[0]>) => planBackup({ target: target(), sqlite: [], volumes: [], includeImages: false, engine: 'docker', spaceMargin: 1.2, ...over });
    const secret = () => join(sb.outside, 'passwd');
    // Manifests naming files outside their pack (each pack holds one), and what each refusal says.
    const escapes: Array<{ name: string; path: () => string; reason: RegExp }> = [
      { name: 'dotdot', path: () => '../../etc/passwd', reason: /files\.0\.path: must be sqlite\/<name>, volumes\/<name>\.tar or images\.tar/ },
      { name: 'dotdot-outside', path: () => '../../../../outside/passwd', reason: /files\.0\.path: must be sqlite\/<name>/ },
      { name: 'absolute', path: () => '/etc/passwd', reason: /files\.0\.path: must be sqlite\/<name>/ },
      { name: 'absolute-outside', path: secret, reason: /files\.0\.path: must be sqlite\/<name>/ },
      { name: 'inner-dotdot', path: () => 'sqlite/..', reason: /files\.0\.path: must stay inside the pack/ },
    ];
    const packOf = (name: string) => join(data, 'packs', name, 'backup-20200101T000000Z');
    /** A target as pruning finds it: complete packs, and what only looks like one. */
    const nightly = async (dir: string, withOldest: boolean) => {
      const folder = async (name: string, files: Record<string, string> = {}) => {
        await mkdir(join(dir, name), { recursive: true });
        for (const [file, text] of Object.entries(files)) {
          await mkdir(join(dir, name, file, '..'), { recursive: true });
          await writeFile(join(dir, name, file), text);
        }
      };
      await mkdir(dir);
      if (withOldest) await folder('backup-20200101T000000Z', { 'manifest.json': '{}', 'sqlite/0-app.db': 'old' });
      await folder('backup-20200102T000000Z', { 'manifest.json': '{}', 'volumes/0-v.tar': 'kept' });
      await folder('backup-20200103T000000Z', { 'volumes/0-v.tar': 'no manifest: not complete' });
      await folder('backup-20200104T000000Z/manifest.json'); // a folder named manifest.json
      await folder('backup-20200105T000000Z', { 'data.txt': 'its manifest is a symlink' });
      await symlink(secret(), join(dir, 'backup-20200105T000000Z', 'manifest.json'));
      await symlink(join(sb.outside, 'pack'), join(dir, 'backup-20200106T000000Z')); // a pack that is a symlink out
      await folder('.partial-backup-20191231T000000Z', { 'sqlite/0-app.db': 'an older incomplete pack' });
      await folder('.partial-backup-20200107T000000Z', { 'manifest.json': '{}' }); // incomplete, even with a manifest
      await writeFile(join(dir, 'backup-20200108T000000Z'), 'a file, not a pack');
      await folder('notes', { 'manifest.json': '{}' });
      await folder('backup-20200101T000000Z.old', { 'manifest.json': '{}' });
    };
    let seesReads = false;
    const atime = async (file: string) => (await stat(file)).atimeMs;
    before(async () => {
      await writeFile(secret(), 'root:x:0:0::/root:/bin/sh\n');
      await mkdir(join(sb.outside, 'pack'));
      await writeFile(join(sb.outside, 'pack', 'manifest.json'), '{}');
      for (const { name, path } of escapes) {
        await mkdir(packOf(name), { recursive: true });
        const entry = { path: path(), kind: path().startsWith('sqlite') ? 'sqlite' : 'volume', bytes: 26, sha256: '0'.repeat(64) };
        await writeFile(join(packOf(name), 'manifest.json'), JSON.stringify({ pack: 'backup-20200101T000000Z', files: [entry], images: [] }));
      }
      await nightly(join(data, 'nightly'), true);
      // Whether this filesystem records a read in the file's atime (relatime does when atime is older
      // than mtime): then the cases below also prove the file outside was never opened.
      await utimes(secret(), new Date('2000-01-01T00:00:00Z'), new Date());
      await readFile(secret());
      seesReads = (await atime(secret())) > Date.parse('2001-01-01T00:00:00Z');
    });
    const refusedAs = (type: string, work: () => Promise<unknown>, reason: RegExp) =>
      expectUntouched(sb, async () => {
        const err = await work().then(() => assert.fail('not refused'), (e: unknown) => e);
        assert.match((err as Error).message, reason);
        assert.equal((asFailure(err, 1) as ApplicationFailure).type, type, (err as Error).message);
      });

    test('a relative target, pack or compose file', () => {
      invalidInput(fullBackupInput, backup({ target: 'backups' }), /target: must be an absolute path/);
      invalidInput(fullBackupInput, backup({ sqlite: ['app.db'] }), /sqlite\.0: must be an absolute path/);
      invalidInput(fullBackupInput, backup({ includeImages: true, compose: { file: 'compose.yml' } }), /compose\.file: must be an absolute path/);
      invalidInput(verifyBackupInput, { host: 'h', pack: 'backups/backup-20200101T000000Z' }, /pack: must be an absolute path/);
    });
    test('a compose project with uppercase letters, a leading "-", a slash or nothing', () => {
      for (const project of ['Shop', '-p', '--project-directory=/', 'a/b', '']) invalidInput(fullBackupInput, backup({ includeImages: true, compose: { project } }), /compose\.project: must be a compose project name/);
    });
    test('a target filesystem type with "/", spaces or an option', () => {
      for (const targetFsType of ['cifs/../ext4', 'ci fs', 'cifs -o remount', '-t', '']) invalidInput(fullBackupInput, backup({ targetFsType }), /targetFsType: must be a filesystem type/);
    });
    test('an engine other than docker or podman, keep 0', () => {
      invalidInput(fullBackupInput, backup({ engine: '/bin/sh' }), /engine: /);
      invalidInput(fullBackupInput, backup({ keep: 0 }), /keep: /);
    });
    test('nothing to back up', () => invalidInput(fullBackupInput, { host: 'h', target: target() }, /sqlite: nothing to back up: give sqlite, volumes or includeImages/));
    test('includeImages without a compose project or file', () => {
      invalidInput(fullBackupInput, { host: 'h', target: target(), includeImages: true }, /compose: includeImages needs compose\.project or compose\.file/);
      invalidInput(fullBackupInput, { host: 'h', target: target(), includeImages: true, compose: {} }, /compose: includeImages needs compose\.project or compose\.file/);
    });
    test('a sqlite database outside the data roots, or reached through a symlink out: planBackup refuses (HostRefused)', async () => {
      await refusedAs('HostRefused', () => plan({ sqlite: [secret()] }), /sqlite\.0 .*: outside this host's data roots/);
      await refusedAs('HostRefused', () => plan({ sqlite: [join(data, 'escape', 'passwd')] }), new RegExp(`sqlite\\.0 .* resolves to ${secret()}, outside`));
    });
    test('a target, volume or compose file outside the data roots: planBackup refuses (HostRefused)', async () => {
      await refusedAs('HostRefused', () => plan({ target: join(sb.outside, 'backups'), volumes: [join(data, 'images.lance')] }), /target .*: outside this host's data roots/);
      await refusedAs('HostRefused', () => plan({ volumes: [join(data, 'escape')] }), /volumes\.0 .* resolves to/);
      await refusedAs('HostRefused', () => plan({ includeImages: true, compose: { file: join(sb.outside, 'compose.yml') } }), /compose\.file .*: outside/);
    });
    for (const { name, path, reason } of escapes) {
      test(`verifyPack on a manifest naming ${name === 'absolute-outside' ? 'a file outside by its absolute path' : path()}: refused naming the field, nothing outside read`, () =>
        expectUntouched(sb, async () => {
          await utimes(secret(), new Date('2000-01-01T00:00:00Z'), new Date());
          const before = await atime(secret());
          await assert.rejects(verifyPack({ pack: packOf(name) }), (err: ApplicationFailure) => {
            assert.equal(err.type, 'InvalidInput');
            assert.match(err.message, /manifest\.json: not a fullBackup manifest: /);
            assert.match(err.message, reason);
            return true;
          });
          if (seesReads) assert.equal(await atime(secret()), before, `${secret()} was read`);
        }));
    }
    test('startPack with a pack name that is not backup-<UTC time>: refused before anything is written', async () => {
      for (const pack of ['../../../outside/x', 'backup-20200101T000000Z/../../../../outside', '.partial-backup-20200101T000000Z', 'backup-2020', 'backup-20200101T000000Z\n', '']) {
        await refusedAs('InvalidInput', () => startPack({ target: target(), pack, sources: [], imageBytes: 0, spaceMargin: 1.2 }), /pack name .*not backup-<UTC time>/s);
      }
    });
    // Outside a worker there is no Temporal claim to take: the pack's claim is taken as free (full-backup.test.ts has the real one).
    const withoutClaims = async <T>(_path: string, work: () => Promise<T>) => ({ done: await work() });
    test('pruneBackups on a target reached through a symlink out of the roots (HostRefused)', () =>
      refusedAs('HostRefused', () => prunePacks({ target: join(data, 'escape', 'pack'), keep: 1 }, withoutClaims), /target .* resolves to/));
    test('pruneBackups with fewer complete packs than keep deletes nothing', () =>
      expectUntouched(sb, async () => {
        assert.deepEqual(await prunePacks({ target: join(data, 'nightly'), keep: 2 }, withoutClaims), { kept: ['backup-20200101T000000Z', 'backup-20200102T000000Z'], deleted: [], inUse: [], incompleteUntouched: ['.partial-backup-20191231T000000Z', '.partial-backup-20200107T000000Z'] });
      }));
    test('pruneBackups orders whole-second names (before 0.8.0) and millisecond names by time, and keeps the newest', async () => {
      const mixed = join(data, 'mixed');
      for (const pack of ['backup-20200101T000000.500Z', 'backup-20200101T000000Z', 'backup-20191231T235959.999Z']) {
        await mkdir(join(mixed, pack), { recursive: true });
        await writeFile(join(mixed, pack, 'manifest.json'), '{}');
      }
      const out = await prunePacks({ target: mixed, keep: 1 }, withoutClaims);
      assert.deepEqual(out.deleted.map((d) => d.pack), ['backup-20191231T235959.999Z', 'backup-20200101T000000Z']);
      assert.deepEqual(out.kept, ['backup-20200101T000000.500Z']);
    });
    test('pruneBackups deletes only complete packs: never a folder without manifest.json (or with a linked or folder one), a symlinked pack, a .partial-* one, or a look-alike', async () => {
      const expected = join(sb.root, '..', 'expected-nightly');
      await nightly(expected, false);
      try {
        const outside = await treeDigest(sb.outside);
        const out = await prunePacks({ target: join(data, 'nightly'), keep: 1 }, withoutClaims);
        assert.deepEqual(out.deleted.map((d) => d.pack), ['backup-20200101T000000Z']);
        assert.deepEqual(out.kept, ['backup-20200102T000000Z']);
        assert.equal(await treeDigest(join(data, 'nightly')), await treeDigest(expected), 'the tree is the same as one where only the oldest complete pack never existed');
        assert.equal(await treeDigest(sb.outside), outside, 'nothing outside changed');
      } finally {
        await rm(expected, { recursive: true, force: true });
      }
    });
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
