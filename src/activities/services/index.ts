import type { ServiceSpec } from '../../workflows/inputs';
import { containerControl } from './container';
import { execControl } from './exec';
import { systemdControl } from './systemd';
import type { ServiceControl } from './types';

export type { ServiceAction, ServiceControl, ServiceStatus } from './types';

export function serviceControl(spec: ServiceSpec): ServiceControl {
  switch (spec.adapter) {
    case 'exec':
      return execControl(spec);
    case 'systemd':
      return systemdControl(spec);
    case 'container':
      return containerControl(spec);
  }
}
