import type { Device } from '../device/device';
import type { Cancellation } from '../scope/reasons';

/** A device's stop debt changed (the cell's `'stop-debt'` event). */
export interface StopDebtChange {
  cell: string;
  device: string;
  /** True: the device is not known to be stopped and safe (reset is refused); false: it is again. */
  owes: boolean;
  /** Why it owes, or how the debt was settled. */
  why: string;
  /** Who cleared it by hand (`AbortContext.clearDevice`), or null. */
  source: string | null;
}

/** Why a device is not known to be stopped and safe, and what would settle it. */
export interface StopDebt {
  why: string;
  /** Settling needs a successful safe routine as well as an acknowledged stop (false after a halt). */
  needsSafe: boolean;
  /** Told (`'stop-debt'`); the passing debt every device has while its stop is under way is not. */
  announced: boolean;
}

/**
 * The cell's ledger of devices not known to be stopped and safe. Recording a debt also tells
 * the device (`oweStop`), so its driver writes the stop first when its link returns; settling
 * clears it there too. Changes that matter to an operator are announced through `announce`.
 */
export class StopDebts {
  private readonly debts = new Map<Device, StopDebt>();

  constructor(
    private readonly cell: string,
    private readonly announce: (change: StopDebtChange) => void,
  ) {}

  get(device: Device): StopDebt | undefined {
    return this.debts.get(device);
  }

  has(device: Device): boolean {
    return this.debts.has(device);
  }

  /** Every device that owes, with why. */
  list(): { device: string; why: string }[] {
    return [...this.debts].map(([d, debt]) => ({ device: d.name, why: debt.why }));
  }

  /**
   * Record that `device` owes its stop, and why. `quiet`: the passing debt of a stop under way,
   * announced only if it is still owed when the stop ends (a later, loud `incur`).
   */
  incur(device: Device, why: string, needsSafe: boolean, reason: Cancellation, quiet = false): void {
    const before = this.debts.get(device);
    const announced = !quiet || before?.announced === true;
    this.debts.set(device, { why, needsSafe, announced });
    device.oweStop(reason);
    if (announced && (before?.why !== why || !before.announced)) this.announce({ cell: this.cell, device: device.name, owes: true, why, source: null });
  }

  /** The device is known stopped and safe again (`why`), or was cleared by hand by `source`. */
  settle(device: Device, why: string, source: string | null = null): void {
    const debt = this.debts.get(device);
    this.debts.delete(device);
    device.clearOwedStop();
    if (debt?.announced) this.announce({ cell: this.cell, device: device.name, owes: false, why, source });
  }

  /** Forget a device that left the cell. */
  forget(device: Device): void {
    this.debts.delete(device);
  }
}
