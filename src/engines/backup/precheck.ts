// What a backup checks before it writes anything (incident §2): the target is on a mount of the
// required type (an unmounted CIFS share is a plain folder on the root disk, and the seed's backup
// filled that disk silently), the target takes a write, and its filesystem has room for the
// estimate with a margin. Engine code: node:fs only; the mount table is the kernel's own.
import { randomBytes } from 'node:crypto';
import { open, readFile, realpath, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { formatBytes } from '../../cli/format';
import { freeBytes, nearestExisting } from '../free-space';

export { freeBytes } from '../free-space';

/** A backup step refused to start: the target is not what it must be. Nothing was written. */
export class BackupRefusedError extends Error {
  override name = 'BackupRefusedError' as const;
}

export interface Mount {
  mountPoint: string;
  fsType: string;
  /** What is mounted: a device, `//server/share`, or a name like `proc`. */
  source: string;
  options: string[];
}

/** The fields of /proc/*\/mounts escape space, tab, newline and backslash as `\040`, `\011`, `\012`, `\134`. */
const unescape = (field: string) => field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));

/** The lines of /proc/self/mounts (fstab format), in mount order. */
export function parseMounts(text: string): Mount[] {
  return text
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => {
      const [source = '', mountPoint = '', fsType = '', options = ''] = line.split(' ');
      return { source: unescape(source), mountPoint: unescape(mountPoint), fsType: unescape(fsType), options: unescape(options).split(',') };
    });
}

const isUnder = (path: string, mountPoint: string) => mountPoint === '/' || path === mountPoint || path.startsWith(`${mountPoint}/`);

/**
 * The mount that holds `path` (or, if it does not exist yet, would hold it: its nearest existing
 * parent's), after symlinks are resolved: the longest mount point that is a prefix of the real
 * path; of equal ones the last mounted, which is the one on top. `path` is that real path.
 */
export async function mountOf(path: string): Promise<Mount & { path: string }> {
  const real = await realpath(await nearestExisting(path));
  const mounts = parseMounts(await readFile('/proc/self/mounts', 'utf8'));
  let best: Mount | undefined;
  for (const m of mounts) if (isUnder(real, m.mountPoint) && m.mountPoint.length >= (best?.mountPoint.length ?? 0)) best = m;
  if (!best) throw new BackupRefusedError(`${path}: no mount in /proc/self/mounts holds ${real}`);
  return { ...best, path: real };
}

/**
 * Types that are one another under another name in /proc/mounts: `mount -t smb3` is the cifs
 * module and shows as smb3; NFS v4 shows as nfs4.
 */
const SAME_TYPE: Record<string, string[]> = { cifs: ['cifs', 'smb3'], smb3: ['smb3', 'cifs'], nfs: ['nfs', 'nfs4'] };

/** Refuses unless `target` is on a mount of type `fsType`: a plain folder where a share should be mounted is the seed's silent failure. */
export async function requireMountType(target: string, fsType: string): Promise<Mount & { path: string }> {
  const mount = await mountOf(target);
  if (!(SAME_TYPE[fsType] ?? [fsType]).includes(mount.fsType)) {
    throw new BackupRefusedError(`${target} is on ${mount.mountPoint} (${mount.fsType}), not a ${fsType} mount: is the share mounted?`);
  }
  return mount;
}

/**
 * Creates, writes, fsyncs and removes a uniquely named file in `target`: a read-only, full or
 * dropped share fails here, before any real output. The refusal names the target and the errno.
 */
export async function writeProbe(target: string): Promise<void> {
  const probe = join(target, `.runbook-write-probe-${process.pid}-${randomBytes(6).toString('hex')}`);
  let created = false;
  try {
    const fh = await open(probe, 'wx');
    created = true;
    try {
      await fh.writeFile('runbook write probe\n');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await unlink(probe);
    created = false;
  } catch (err) {
    if (created) await unlink(probe).catch(() => {});
    const e = err as NodeJS.ErrnoException;
    throw new BackupRefusedError(`${target} is not writable: ${e.message}`, { cause: err }); // Node's message starts with the errno: `EROFS: read-only file system, open …`
  }
}

/**
 * Refuses when the filesystem of `target` has less than `estimateBytes × margin` free, naming the
 * numbers: what the seed's 50 GB root disk needed before a 10 GB images.tar was started on it.
 */
export async function requireSpace(target: string, estimateBytes: number, margin: number): Promise<{ needed: number; free: number }> {
  if (!Number.isFinite(estimateBytes) || estimateBytes < 0) throw new RangeError(`estimate ${estimateBytes}: must be a number of bytes ≥ 0`);
  if (!Number.isFinite(margin) || margin < 1) throw new RangeError(`margin ${margin}: must be a number ≥ 1`);
  const needed = Math.ceil(estimateBytes * margin);
  const free = await freeBytes(target);
  if (free < needed) {
    const { mountPoint } = await mountOf(target);
    throw new BackupRefusedError(
      `${target} needs ${formatBytes(needed)} (estimate ${formatBytes(estimateBytes)} × ${margin}), ${formatBytes(free)} free on ${mountPoint} (${needed} > ${free} bytes)`,
    );
  }
  return { needed, free };
}
