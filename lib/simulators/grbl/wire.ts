/**
 * Wire timing and the serial receive path: every byte, in both directions, takes 10/baudRate s
 * to cross the modelled wire (8N1 framing) and bytes queue behind each other; `baudRate: 0`
 * removes the delay. A byte that has crossed is either a real-time command, acted on at once, or
 * goes into the RX ring of `rxBufferSize` bytes; when the ring is full it is dropped and counted
 * in `overflows`, as on the AVR. Output can be held back, as the firmware's blocking delays do.
 */
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { Realtime, realtimeName } from './codes';
import type { Parts } from './parts';

export class Wire {
  /** The attached client, or null (output then goes nowhere, as from an unconnected UART). */
  stream: Duplex | null = null;
  private inflight: Array<{ at: number; byte: number }> = [];
  private inflightHead = 0;
  private rxWireFreeAt = 0;
  private txQueue: Array<{ at: number; data: Buffer }> = [];
  private txFreeAt = 0;
  private txTimer: NodeJS.Timeout | null = null;

  constructor(private readonly p: Parts) {}

  /** Time one byte takes on the wire, ms. */
  private byteMs(): number {
    return this.p.m.options.baudRate > 0 ? 10_000 / this.p.m.options.baudRate : 0;
  }

  /** Bytes from the client start crossing the wire now, behind any still crossing. */
  receive(chunk: Buffer): void {
    const byteMs = this.byteMs();
    let at = Math.max(performance.now(), this.rxWireFreeAt);
    for (const byte of chunk) {
      at += byteMs;
      this.inflight.push({ at, byte });
    }
    this.rxWireFreeAt = at;
  }

  /** When the next byte finishes crossing (Infinity when none is on the wire). */
  nextArrivalAt(): number {
    return this.inflightHead < this.inflight.length ? this.inflight[this.inflightHead]!.at : Infinity;
  }

  /** Hands every byte that has crossed by `t` to the receive path. */
  deliverDue(t: number): void {
    while (this.inflightHead < this.inflight.length && this.inflight[this.inflightHead]!.at <= t) {
      const { byte } = this.inflight[this.inflightHead++]!;
      this.receiveByte(byte);
    }
    if (this.inflightHead > 4096) {
      this.inflight = this.inflight.slice(this.inflightHead);
      this.inflightHead = 0;
    }
  }

  /** Forgets bytes still crossing in either direction (detach, power cycle). */
  clear(): void {
    this.txQueue = [];
    this.inflight = [];
    this.inflightHead = 0;
  }

  /** Drops queued output and lets new output start at once (power cycle). */
  resetTx(): void {
    this.txQueue = [];
    this.txFreeAt = this.p.m.clock;
  }

  /** Stops the output timer. */
  stop(): void {
    if (this.txTimer) clearTimeout(this.txTimer);
    this.txTimer = null;
  }

  /** Sends one line with GRBL's `\r\n` ending. */
  sendLine(line: string): void {
    this.write(`${line}\r\n`);
  }

  /** Sends text; it leaves once earlier output and any hold-back have passed. */
  write(text: string): void {
    const stream = this.stream;
    if (!stream || stream.destroyed) return; // an unconnected UART sends into the void
    const data = Buffer.from(text, 'latin1');
    const byteMs = this.byteMs();
    const start = Math.max(this.p.m.clock, this.txFreeAt);
    if (byteMs === 0 && start <= performance.now() && this.txQueue.length === 0) {
      stream.write(data);
      return;
    }
    this.txFreeAt = start + data.length * byteMs;
    this.txQueue.push({ at: this.txFreeAt, data });
    this.flushTx();
  }

  private flushTx(): void {
    const now = performance.now();
    while (this.txQueue.length > 0 && this.txQueue[0]!.at <= now) {
      const { data } = this.txQueue.shift()!;
      if (this.stream && !this.stream.destroyed) this.stream.write(data);
    }
    this.stop();
    if (this.txQueue.length > 0) {
      this.txTimer = setTimeout(() => this.flushTx(), Math.max(0, this.txQueue[0]!.at - now));
      this.txTimer.unref();
    }
  }

  /** Holds back further output for `ms`, as the firmware's blocking delay after ALARM:N does. */
  pauseOutput(ms: number): void {
    this.txFreeAt = Math.max(this.txFreeAt, this.p.m.clock) + ms;
  }

  /** The serial RX interrupt: a real-time byte acts at once, any other goes into the ring. */
  private receiveByte(byte: number): void {
    const m = this.p.m;
    if (m.reinitAt !== null) return; // arrives while the firmware re-initialises: flushed
    if (isRealtime(byte)) {
      m.receivedRealtime.push({ byte, name: realtimeName(byte), at: performance.timeOrigin + m.clock });
      m.emit('realtime', byte);
      this.p.realtime.onRealtime(byte);
      return;
    }
    if (byte > 0x7f) return; // unknown extended byte: thrown away, never buffered
    if (m.rx.length >= m.options.rxBufferSize) {
      m.overflows++;
      m.emit('overflow', m.overflows);
      return;
    }
    m.rx.push(byte);
  }
}

function isRealtime(byte: number): boolean {
  return byte === Realtime.Reset || byte === Realtime.StatusReport || byte === Realtime.CycleStart ||
    byte === Realtime.FeedHold || byte > 0x7f;
}
