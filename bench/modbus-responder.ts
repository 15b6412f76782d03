/**
 * The polling benchmark's Modbus TCP server: a minimal responder on `net`, in a process of its
 * own (started by bench/modbus-poll.ts with `fork`), so its work never shares the clients' event
 * loop. It answers every request in the same tick it arrives, all replies of one read in one
 * write, so the clients, not the server, are what is measured.
 *
 * It answers FC 3 (read holding registers): register `a` of unit `u` holds `(u << 8) | (a & 0xff)`,
 * so a client can tell a reply meant for another unit or another address; writes (FC 5, 6, 15,
 * 16) are acknowledged (nothing is stored);
 * anything else gets exception 01. The unit id is echoed, any unit answers.
 *
 * IPC: it sends `{type: 'port', port}` once listening. `{type: 'arm', id, writes}` → it answers
 * `{type: 'armed', id}`, then once `writes` write requests (FC 5, 6, 15, 16: stop and safe
 * writes) have arrived sends `{type: 'writes', id, first, last}` (process.hrtime.bigint() of the
 * first and last, ns as strings: CLOCK_MONOTONIC, the benchmark's clock), for a benchmark that
 * times a trip's stop writes under polling load. `{type: 'close'}` ends it.
 */
import * as net from 'node:net';

/** The value the responder keeps in register `address` of `unit`. */
export function registerValue(unit: number, address: number): number {
  return ((unit & 0xff) << 8) | (address & 0xff);
}

/** A count of write requests to report, once armed. */
let armed: { id: number; writes: number; seen: number; first: bigint } | undefined;

function sawWrite(): void {
  const a = armed;
  if (!a) return;
  const at = process.hrtime.bigint();
  if (a.seen++ === 0) a.first = at;
  if (a.seen === a.writes) {
    armed = undefined;
    process.send?.({ type: 'writes', id: a.id, first: String(a.first), last: String(at) });
  }
}

function serve(socket: net.Socket): void {
  socket.setNoDelay(true);
  socket.on('error', () => undefined);
  let partial: Buffer | undefined;
  socket.on('data', (chunk: Buffer) => {
    const bytes = partial ? Buffer.concat([partial, chunk]) : chunk;
    partial = undefined;
    const replies: Buffer[] = [];
    let at = 0;
    while (bytes.length - at >= 8) {
      const length = bytes.readUInt16BE(at + 4);
      const end = at + 6 + length;
      if (end > bytes.length) break;
      const unit = bytes[at + 6];
      const fc = bytes[at + 7];
      let pdu: Buffer;
      if (fc === 3) {
        const address = bytes.readUInt16BE(at + 8);
        const count = Math.min(125, bytes.readUInt16BE(at + 10));
        pdu = Buffer.allocUnsafe(2 + 2 * count);
        pdu[0] = 3;
        pdu[1] = 2 * count;
        for (let i = 0; i < count; i++) pdu.writeUInt16BE(registerValue(unit, address + i), 2 + 2 * i);
      } else if (fc === 5 || fc === 6 || fc === 15 || fc === 16) {
        sawWrite();
        pdu = Buffer.from(bytes.subarray(at + 7, at + 12));
      } else {
        pdu = Buffer.from([fc | 0x80, 1]);
      }
      const header = Buffer.allocUnsafe(7);
      bytes.copy(header, 0, at, at + 2);
      header.writeUInt16BE(0, 2);
      header.writeUInt16BE(pdu.length + 1, 4);
      header[6] = unit;
      replies.push(header, pdu);
      at = end;
    }
    if (at < bytes.length) partial = Buffer.from(bytes.subarray(at));
    if (replies.length) socket.write(Buffer.concat(replies));
  });
}

if (require.main === module) {
  const server = net.createServer(serve);
  server.listen(0, '127.0.0.1', () => {
    process.send!({ type: 'port', port: (server.address() as net.AddressInfo).port });
  });
  process.on('message', (m: { type: string; id: number; writes: number }) => {
    if (m.type === 'arm') {
      armed = { id: m.id, writes: m.writes, seen: 0, first: 0n };
      process.send!({ type: 'armed', id: m.id });
    } else if (m.type === 'close') {
      process.exit(0);
    }
  });
  process.on('disconnect', () => process.exit(0));
}
