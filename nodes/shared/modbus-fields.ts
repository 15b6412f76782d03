import { choice, configNode, fieldTable, milliseconds, number, seconds, text } from './editor-fields';

/**
 * The fields of the `workcell-modbus` bus node (nodes/modbus.ts, nodes/modbus.html). Ranges are
 * the editor's; change both together. The address is checked by the bus when it is made (as a
 * device's address is by its transport).
 */
export const MODBUS_FIELDS = fieldTable(
  {
    name: text('name'),
    /** `tcp://host:port` (502 when left out) or a serial device path; blank when `serial` names the line. */
    address: text('address', { editorDefault: 'tcp://192.168.1.10:502', absent: '', trim: true }),
    /** A `workcell-serial` node whose line (address and settings) the bus takes instead. */
    serial: configNode('serial connection'),
    /** `auto`: Modbus TCP for a tcp:// address, RTU for a serial line; `rtu` for RTU through a serial server's TCP port. */
    framing: choice('framing', ['auto', 'tcp', 'rtu'], 'auto'),
    baudRate: number('baud rate', { min: 50, max: 4_000_000, integer: true, default: 9600 }),
    parity: choice('parity', ['none', 'even', 'odd'], 'none'),
    stopBits: choice('stop bits', [1, 2], 1),
    timeout: milliseconds('reply timeout', { min: 1, max: 60_000, default: 1000 }),
    maxInFlight: number('requests in flight', { min: 1, max: 64, integer: true, default: 16 }),
    backoffMin: seconds('shortest reconnect delay', { min: 0, max: 3600, default: 0.5 }),
    backoffMax: seconds('longest reconnect delay', { min: 0, max: 3600, default: 15 }),
  },
  (v) =>
    v.backoffMax < v.backoffMin
      ? [{ field: 'longest reconnect delay', sentence: `longest reconnect delay (${v.backoffMax / 1000} s) must not be shorter than the shortest (${v.backoffMin / 1000} s)` }]
      : [],
);
