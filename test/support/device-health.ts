import type { Device, DeviceHealth } from '../../lib/device';

/** Resolves when `device` reports `status` (and `also` holds; at once if it already does); rejects after `ms`. */
export function waitForStatus(device: Device, status: DeviceHealth['status'], ms = 15_000, also: (h: DeviceHealth) => boolean = () => true): Promise<DeviceHealth> {
  if (device.status === status && also(device.health)) return Promise.resolve(device.health);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      device.off('health', onHealth);
      reject(new Error(`${device.name} did not become ${status} within ${ms} ms (now ${device.status}: ${device.health.detail})`));
    }, ms);
    const onHealth = (h: DeviceHealth) => {
      if (h.status !== status || !also(h)) return;
      clearTimeout(timer);
      device.off('health', onHealth);
      resolve(h);
    };
    device.on('health', onHealth);
  });
}

/**
 * Resolves when `device` emits `'owed-stop'` (its link came back and it wrote the stop it owed)
 * and that stop is acknowledged; rejects with the acknowledgement's error.
 */
export function owedStopAcknowledged(device: Device): Promise<void> {
  return new Promise((resolve, reject) => device.once('owed-stop', (ack: Promise<void>) => ack.then(resolve, reject)));
}
