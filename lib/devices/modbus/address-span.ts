/**
 * The smallest span of addresses that holds every one of `addresses` (at least one): a device
 * reads its inputs or registers in one request instead of one per entry.
 */
export function addressSpan(addresses: readonly number[]): { start: number; count: number } {
  const start = Math.min(...addresses);
  return { start, count: Math.max(...addresses) - start + 1 };
}
