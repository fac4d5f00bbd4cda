// What a plan says a service step will do, exactly: the argv it runs, the environment keys it sets,
// the files it writes, the unit or container it names, the URLs it fetches. The approver reads
// these lines, and the approval digest covers them with the rest of the plan. Workflow-safe.
import type { HttpCheck, ServiceView } from './service-spec';

const quoted = (argv: string[]) => argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');

const check = (c: HttpCheck) => `GET ${c.url} expects ${c.expectStatus}${c.bodyMatch ? ` and a body matching /${c.bodyMatch}/` : ''}`;

export function stopAction(v: ServiceView): string {
  switch (v.adapter) {
    case 'exec':
      return v.stopArgv
        ? `stop ${v.name}: run ${quoted(v.stopArgv)}, if the process in ${v.pidFile} is ours (pid, start time and argv match)`
        : `stop ${v.name}: SIGTERM to the process in ${v.pidFile} if it is ours (pid, start time and argv match), SIGKILL after ${v.stopTimeoutSeconds}s`;
    case 'systemd':
      return `stop ${v.name}: systemctl stop -- ${v.unit}`;
    case 'container':
      return `stop ${v.name}: ${v.engine} stop -- ${v.container}`;
  }
}

export function startAction(v: ServiceView): string {
  switch (v.adapter) {
    case 'exec':
      return `start ${v.name}: run ${quoted(v.argv ?? [])}${v.cwd ? ` in ${v.cwd}` : ''} with environment ${(v.envKeys ?? []).join(', ')}, detached; pid, start time and argv to ${v.pidFile}${v.logFile ? `; output to ${v.logFile}` : ''}`;
    case 'systemd':
      return `start ${v.name}: systemctl start -- ${v.unit}`;
    case 'container':
      return `start ${v.name}: ${v.engine} start -- ${v.container}`;
  }
}

export function healthyAction(v: ServiceView, seconds: number): string {
  return `wait up to ${seconds}s until ${v.name} is running${v.health ? ` and ${check(v.health)}` : ''}`;
}

export function checkActions(v: ServiceView): string[] {
  return Object.entries(v.checks).map(([name, c]) => `smoke check ${name}: ${check(c)}`);
}
