/**
 * The fan-out benchmark's fallback listener (WORKCELL_FANOUT_LISTENER=worker, or no C compiler
 * for the native one, bench/frame-listener.c, which stands in for the 100 controllers by default):
 * a worker thread (its own event loop) listening on 127.0.0.1, timestamping every stop frame as
 * it is received.
 *
 * Protocol with the main thread: it posts `{port}` once listening; the main thread posts
 * `{trip, expect}` before each trip; once `expect` frames of that trip have arrived the worker
 * posts `{trip, first, last}` (process.hrtime.bigint() of the first and last frame: the same
 * monotonic clock as the main thread's).
 */
import net from 'node:net';
import { parentPort } from 'node:worker_threads';

const port = parentPort!;
const expect = new Map<number, number>();
const seen = new Map<number, { count: number; first: bigint; last: bigint }>();

function frameArrived(trip: number, at: bigint): void {
  const s = seen.get(trip);
  if (s) {
    s.count++;
    s.last = at;
  } else {
    seen.set(trip, { count: 1, first: at, last: at });
  }
  maybeDone(trip);
}

function maybeDone(trip: number): void {
  const want = expect.get(trip);
  const s = seen.get(trip);
  if (want === undefined || !s || s.count < want) return;
  expect.delete(trip);
  seen.delete(trip);
  port.postMessage({ trip, first: s.first, last: s.last });
}

const NL = 0x0a;
const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  // Frames are `!S<trip>\n`; parsed from the bytes (no strings: the listener's own garbage
  // collections would show up as slow trips). A frame split across reads is carried over.
  let trip = 0;
  let inFrame = false;
  socket.on('data', (chunk: Buffer) => {
    // Timestamp first: parsing is the listener's cost, not the sender's.
    const at = process.hrtime.bigint();
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i];
      if (b === 0x21 /* ! */) {
        inFrame = true;
        trip = 0;
      } else if (b === NL) {
        if (inFrame) frameArrived(trip, at);
        inFrame = false;
      } else if (inFrame && b >= 0x30 && b <= 0x39) {
        trip = trip * 10 + (b - 0x30);
      }
    }
  });
  socket.on('error', () => undefined);
});

port.on('message', (m: { trip: number; expect: number } | 'close') => {
  if (m === 'close') {
    server.close();
    for (const s of connections) s.destroy();
    port.close();
    return;
  }
  expect.set(m.trip, m.expect);
  maybeDone(m.trip);
});

const connections = new Set<net.Socket>();
server.on('connection', (s) => {
  connections.add(s);
  s.on('close', () => connections.delete(s));
});
server.listen(0, '127.0.0.1', () => port.postMessage({ port: (server.address() as net.AddressInfo).port }));
