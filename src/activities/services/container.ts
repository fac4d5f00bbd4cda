// Containers by name through the docker or podman CLI (same verbs, same output).
import type { z } from 'zod';
import type { containerService } from '../../workflows/inputs';
import { runCommand } from '../commands';
import { invalidInput, notYet } from '../failures';
import { refuseOptionLike, type ServiceControl, type ServiceStatus } from './types';

export function containerControl(spec: z.output<typeof containerService>): ServiceControl {
  const { engine, name } = spec;

  async function status(): Promise<ServiceStatus> {
    // `container inspect`, not `inspect`: plain inspect falls back to an image of that name, so a removed
    // container named like its image (`--name redis redis`) gave a template error instead of "no such container".
    // The name goes after `--` in every call so it is never read as an option; a leading `-` is
    // refused outright too (defence in depth: the input schema is the first check).
    refuseOptionLike('container', name);
    const inspect = await runCommand([engine, 'container', 'inspect', '--format', '{{.State.Status}} {{.State.Pid}}', '--', name], 30_000);
    if (inspect.exitCode !== 0) {
      if (/no such (container|object)/i.test(inspect.stderr)) throw invalidInput(`container ${name} does not exist (${engine})`);
      throw notYet(`${engine} inspect ${name} failed: ${inspect.stderr.trim() || `exit ${inspect.exitCode}`}`);
    }
    const [state = 'unknown', pid] = inspect.stdout.trim().split(/\s+/);
    return { running: state === 'running', pid: Number(pid) || undefined, detail: state };
  }

  async function change(args: string[], wantRunning: boolean) {
    const before = await status();
    if (before.running === wantRunning) return { already: true, pid: before.pid, commands: [] };
    const record = await runCommand([engine, ...args, '--', name], (spec.stopTimeoutSeconds + 60) * 1000);
    if (record.exitCode !== 0) throw notYet(`${engine} ${args[0]} ${name} exited ${record.exitCode}: ${record.stderr.trim()}`, record);
    return { already: false, pid: (await status()).pid, commands: [record] };
  }

  return {
    status,
    // -t: docker 28 deprecates --time for --timeout, podman 4 has only --time; both take -t.
    stop: () => change(['stop', '-t', String(spec.stopTimeoutSeconds)], false),
    start: () => change(['start'], true),
  };
}
