/** CRC-16/Modbus (polynomial 0xA001 reflected, initial 0xFFFF), by a 256-entry table. */
const TABLE = (() => {
  const table = new Uint16Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xa001 : c >>> 1;
    table[n] = c;
  }
  return table;
})();

/**
 * The CRC of `bytes[start, end)`. On the wire it follows the frame low byte first; computed
 * over a whole frame including its CRC, a good frame gives 0.
 */
export function crc16(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let crc = 0xffff;
  for (let i = start; i < end; i++) crc = (crc >>> 8) ^ TABLE[(crc ^ bytes[i]) & 0xff];
  return crc;
}
