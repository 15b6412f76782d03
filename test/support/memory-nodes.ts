import { registerDeviceKind, ConnectedDevice } from '../../nodes/shared/device-nodes';
import { deviceFields } from '../../nodes/shared/node-fields';
import { RedAPI } from '../../nodes/shared/red';
import { MEMORY_OPERATIONS, MemoryDevice } from './memory-device';

/** Every memory device created by the test node set, by name, so tests can inspect them. */
const memoryDevices = new Map<string, MemoryDevice & ConnectedDevice>();

class ConnectedMemoryDevice extends MemoryDevice implements ConnectedDevice {
  async open(): Promise<void> {}
  async close(): Promise<void> {}
}

/**
 * A test-only node set (`workcell-memory-device` config + `workcell-memory` action) built with
 * the same factory every shipped device kind uses, over the in-memory device.
 */
function memoryNodes(RED: RedAPI): void {
  registerDeviceKind(RED, {
    configType: 'workcell-memory-device',
    actionType: 'workcell-memory',
    kind: 'memory',
    operations: MEMORY_OPERATIONS,
    fields: deviceFields({}),
    create(config) {
      const d = new ConnectedMemoryDevice(config.name);
      memoryDevices.set(d.name, d);
      return d;
    },
  });
}
memoryNodes.devices = memoryDevices;
export = memoryNodes;
