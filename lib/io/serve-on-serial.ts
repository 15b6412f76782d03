import { SerialPort } from 'serialport';
import { OpenFailedError } from './errors';

/**
 * Opens `path` (typically one end of a pseudo-terminal pair) with serialport at `baudRate`
 * and resolves with the open port, a Duplex a simulator can `attach()` to, so the simulator
 * answers whatever opens the other end. Unlocked, so it never collides with the driver's lock
 * on the other end. Rejects with `OpenFailedError` naming the path. Close it with
 * `port.close()` (or `destroy()`) when done.
 */
export function openSerialEndpoint(path: string, baudRate: number): Promise<SerialPort> {
  return new Promise((resolve, reject) => {
    const port = new SerialPort({ path, baudRate, autoOpen: false, lock: false });
    port.open((error) => {
      if (error) reject(new OpenFailedError(path, error.message, error));
      else resolve(port);
    });
  });
}
