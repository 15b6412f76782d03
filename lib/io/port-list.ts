import { SerialPort } from 'serialport';

/** A serial port the system reports, with what it says about the device behind it. */
export interface SerialPortEntry {
  path: string;
  manufacturer?: string;
  serialNumber?: string;
  vendorId?: string;
  productId?: string;
  pnpId?: string;
}

export interface SerialPortList {
  ports: SerialPortEntry[];
  /** Set when the system could not list its ports (e.g. no `udevadm` in a container); `ports` is then empty. */
  error?: string;
}

/**
 * Lists the serial ports through `SerialPort.list()`. Never rejects: when listing fails it
 * resolves with no ports and `error` saying why, so an editor can show the reason and let the
 * user type a path. Empty fields are left out.
 */
export async function listSerialPorts(list: () => Promise<Array<Record<string, unknown>>> = SerialPort.list as never): Promise<SerialPortList> {
  try {
    const found = await list();
    const ports = found.map((info) => {
      const entry: SerialPortEntry = { path: String(info.path) };
      for (const key of ['manufacturer', 'serialNumber', 'vendorId', 'productId', 'pnpId'] as const) {
        const value = info[key];
        if (typeof value === 'string' && value !== '') entry[key] = value;
      }
      return entry;
    });
    return { ports };
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    return { ports: [], error: `the system cannot list its serial ports: ${why}` };
  }
}
