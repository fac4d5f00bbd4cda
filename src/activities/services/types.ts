import { invalidInput } from '../failures';
import type { CommandRecord } from '../../workflows/report';

export interface ServiceStatus {
  running: boolean;
  pid?: number;
  /** The engine's own words: `active`, `exited`, `no live process for pid 123`. */
  detail: string;
}

/** What stop and start did. `already` is true when the service was in that state: nothing was run. */
export interface ServiceAction {
  already: boolean;
  pid?: number;
  commands: CommandRecord[];
}

/** One way of controlling a service. Stop and start are idempotent: reaching the state is success. */
export interface ServiceControl {
  status(): Promise<ServiceStatus>;
  stop(): Promise<ServiceAction>;
  start(): Promise<ServiceAction>;
}

/** A unit or container name that starts with `-` could be read as an option by the engine's CLI. */
export function refuseOptionLike(what: string, name: string): void {
  if (name === '' || name.startsWith('-')) throw invalidInput(`${what} ${JSON.stringify(name)}: a name may not be empty or start with "-"`);
}
