import type { Duplex } from 'node:stream';

/** What a session needs from the instrument it feeds; kept narrow so the two stay separable. */
export interface SessionHost {
  /**
   * Runs one program message and returns the response text (without terminator), if any. It
   * returns synchronously unless a command has to wait (a measurement, `*OPC?`), so "the session
   * is waiting" means exactly "a command is blocked", never "a microtask is pending".
   */
  execute(message: string, clientId: number): string | undefined | Promise<string | undefined>;
  /** Called for every complete program message, before it is queued or run. */
  received(message: string, clientId: number): void;
  /** True for a message that must not wait behind a blocked query (the bare `ABORt`). */
  isOutOfBand(message: string): boolean;
  /** Fault injection consulted once per response: drop it, garble it, delay it. */
  takeResponseFault(): { silence: boolean; garble: boolean; delayMs: number };
  /** Corrupts a response for the garble fault. */
  garble(text: string): string;
  /** Records an input-buffer overrun (-363). */
  overrun(clientId: number): void;
}

/** Longest program message kept while waiting for its terminator; real instruments buffer a few kB. */
const MAX_INPUT = 64 * 1024;

/**
 * One connection to the instrument: its own input buffer and its own execution queue, as every
 * socket to a LAN instrument has. Program messages end at `\n` (a `\r` before it is dropped);
 * text without a terminator is kept and never executed until the terminator arrives. Messages run
 * strictly in order, and a query that waits (READ?, *OPC?) holds back the messages behind it, as
 * an instrument's parser does; only a bare `ABORt` jumps the queue, so a driver can stop a
 * measurement whose reading it is still waiting for.
 */
export class Session {
  private buffer = '';
  private readonly queue: string[] = [];
  private waiting = false;
  private closed = false;
  private writes: Promise<void> = Promise.resolve();
  private readonly onData = (chunk: Buffer | string) => this.receive(chunk);
  private readonly onEnd = () => this.detach();

  constructor(
    private readonly host: SessionHost,
    readonly stream: Duplex,
    readonly id: number,
  ) {
    stream.on('data', this.onData);
    stream.on('end', this.onEnd);
    stream.on('close', this.onEnd);
    // A peer that vanishes (ECONNRESET) must end only this session, never crash the simulator.
    stream.on('error', this.onEnd);
  }

  /** Stops reading from and writing to the stream; pending responses are discarded. The stream stays open. */
  detach(): void {
    if (this.closed) return;
    this.closed = true;
    this.stream.off('data', this.onData);
    this.stream.off('end', this.onEnd);
    this.stream.off('close', this.onEnd);
    // Keep a no-op error listener: a late socket error must not become an uncaught exception.
    this.stream.off('error', this.onEnd);
    this.stream.on('error', () => undefined);
    this.queue.length = 0;
  }

  /** True once the session has been detached or its stream has closed. */
  get isClosed(): boolean {
    return this.closed;
  }

  private receive(chunk: Buffer | string): void {
    if (this.closed) return;
    this.buffer += typeof chunk === 'string' ? chunk : chunk.toString('latin1');
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      let line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + 1);
      if (line.endsWith('\r')) line = line.slice(0, -1);
      if (line.trim() === '') continue;
      this.host.received(line, this.id);
      if (this.waiting && this.host.isOutOfBand(line)) {
        this.run(line);
      } else {
        this.queue.push(line);
        // Pump per line, not per chunk: a READ? and the ABOR behind it often share one TCP segment,
        // and the ABOR may only jump the queue once the READ? is really blocked.
        this.pump();
      }
    }
    if (this.buffer.length > MAX_INPUT) {
      this.buffer = '';
      this.host.overrun(this.id);
    }
  }

  private pump(): void {
    while (!this.waiting && !this.closed && this.queue.length > 0) this.run(this.queue.shift()!);
  }

  private run(line: string): void {
    const result = this.host.execute(line, this.id);
    if (!(result instanceof Promise)) {
      if (result !== undefined) this.send(result);
      return;
    }
    this.waiting = true;
    void result
      .then((response) => {
        if (response !== undefined) this.send(response);
      })
      .finally(() => {
        this.waiting = false;
        this.pump();
      });
  }

  private send(response: string): void {
    const fault = this.host.takeResponseFault();
    if (fault.silence) return;
    const text = (fault.garble ? this.host.garble(response) : response) + '\n';
    this.writes = this.writes.then(async () => {
      if (fault.delayMs > 0) await new Promise((r) => setTimeout(r, fault.delayMs));
      if (!this.closed && this.stream.writable) this.stream.write(text, 'latin1');
    });
  }
}
