// systemd units through systemctl.
import type { z } from 'zod';
import type { systemdService } from '../../workflows/inputs';
import { runCommand } from '../commands';
import { invalidInput, notYet } from '../failures';
import { refuseOptionLike, type ServiceControl, type ServiceStatus } from './types';

export function systemdControl(spec: z.output<typeof systemdService>): ServiceControl {
  const unit = spec.name;
  const timeoutMs = (spec.stopTimeoutSeconds + 30) * 1000;

  // The unit goes after `--` so it is never read as an option; a leading `-` is refused outright too
  // (defence in depth: the input schema is the first check).
  async function status(): Promise<ServiceStatus> {
    refuseOptionLike('systemd unit', unit);
    const show = await runCommand(['systemctl', 'show', '--property=LoadState,ActiveState,SubState,MainPID', '--', unit], 30_000);
    if (show.exitCode !== 0) throw notYet(`systemctl show ${unit} failed: ${show.stderr.trim() || `exit ${show.exitCode}`}`);
    const props = Object.fromEntries(show.stdout.split('\n').filter(Boolean).map((l) => l.split('=', 2) as [string, string]));
    if (props.LoadState === 'not-found') throw invalidInput(`systemd unit ${unit} does not exist on this host`);
    const pid = Number(props.MainPID) || undefined;
    // reloading and deactivating units still have live processes: stopping must still wait for them.
    const running = ['active', 'reloading', 'deactivating'].includes(props.ActiveState ?? '');
    return { running, pid, detail: `${props.ActiveState}/${props.SubState}` };
  }

  async function change(verb: 'stop' | 'start', wantRunning: boolean) {
    const before = await status();
    if (before.running === wantRunning) return { already: true, pid: before.pid, commands: [] };
    const record = await runCommand(['systemctl', verb, '--', unit], timeoutMs);
    if (record.exitCode !== 0) throw notYet(`systemctl ${verb} ${unit} exited ${record.exitCode}: ${record.stderr.trim()}`, record);
    return { already: false, pid: (await status()).pid, commands: [record] };
  }

  return { status, stop: () => change('stop', false), start: () => change('start', true) };
}
