// A real podman (Debian's, vfs driver, no daemon) with its own storage in a temp folder, declared as
// the test host's `containerEngines.podman`, holding images built by `podman import` and containers
// created the way compose names and labels them.
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { updateHostFile } from '../../src/host/host-file';
import { testServicesFile } from './service';

export const COMPOSE_LABEL = 'com.docker.compose.project';

export interface TestPodman {
  argv: string[];
  run(args: string[]): Promise<string>;
  /** Imports a rootfs of `bytes` random bytes as image `ref`; returns its ID. */
  image(ref: string, bytes: number): Promise<string>;
  /** Creates a container (never started: `run` does not work here) of `image`, labelled for `project` if given. */
  container(name: string, image: string, project?: string): Promise<void>;
}

/** A podman storage under `dir`, declared as the test host's podman. */
export async function makePodman(dir: string): Promise<TestPodman> {
  await mkdir(dir, { recursive: true });
  const argv = ['podman', '--storage-driver', 'vfs', '--root', join(dir, 'root'), '--runroot', join(dir, 'runroot')];
  const policy = join(dir, 'policy.json');
  await writeFile(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
  await updateHostFile(testServicesFile(), (file) => ({ ...file, containerEngines: { ...file.containerEngines, podman: argv } }));
  const run = async (args: string[]) => (await execa(argv[0]!, [...argv.slice(1), ...args], { env: { TMPDIR: dir } })).stdout;
  let n = 0;
  return {
    argv,
    run,
    async image(ref, bytes) {
      const rootfs = join(dir, `rootfs-${++n}`);
      await mkdir(join(rootfs, 'bin'), { recursive: true });
      await writeFile(join(rootfs, 'bin', 'app'), randomBytes(bytes));
      const tar = `${rootfs}.tar`;
      await execa('tar', ['-cf', tar, '-C', rootfs, '.']);
      return (await run(['import', '--quiet', '--signature-policy', policy, tar, ref])).trim();
    },
    async container(name, image, project) {
      await run(['create', '--name', name, ...(project ? ['--label', `${COMPOSE_LABEL}=${project}`] : []), image, '/bin/app']);
    },
  };
}
