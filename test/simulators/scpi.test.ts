import assert from 'node:assert/strict';
import * as net from 'node:net';
import { PassThrough, Duplex } from 'node:stream';
import { Dmm34461A, RigolDP821, ScpiInstrument } from '../../lib/simulators/scpi';
import { firstOf, timePassed, until } from '../support/event-order';

/** A raw SCPI socket client: writes bytes, reads newline-terminated lines. */
class LineClient {
  private buffer = '';
  private readonly lines: string[] = [];
  private waiter: ((line: string) => void) | undefined;
  closed = false;

  private constructor(readonly socket: net.Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      this.buffer += d;
      let nl: number;
      while ((nl = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, nl);
        this.buffer = this.buffer.slice(nl + 1);
        if (this.waiter) {
          const w = this.waiter;
          this.waiter = undefined;
          w(line);
        } else this.lines.push(line);
      }
    });
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => undefined);
  }

  static connect(port: number): Promise<LineClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(new LineClient(s)));
      s.once('error', reject);
    });
  }

  send(text: string): void {
    this.socket.write(text);
  }

  /** Next response line, or rejects after `ms`. */
  next(ms = 2000): Promise<string> {
    const queued = this.lines.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiter = undefined;
        reject(new Error(`no response within ${ms} ms`));
      }, ms);
      this.waiter = (line) => {
        clearTimeout(t);
        resolve(line);
      };
    });
  }

  async query(text: string, ms = 2000): Promise<string> {
    this.send(text.endsWith('\n') ? text : `${text}\n`);
    return this.next(ms);
  }

  /** Resolves true if nothing at all arrives within `ms`. */
  async silentFor(ms: number): Promise<boolean> {
    try {
      const line = await this.next(ms);
      this.lines.unshift(line);
      return false;
    } catch {
      return this.buffer === '';
    }
  }

  /** Reads the whole error queue until "No error". */
  async drainErrors(): Promise<string[]> {
    const out: string[] = [];
    for (;;) {
      const e = await this.query('SYST:ERR?');
      if (/^\+?0,/.test(e)) return out;
      out.push(e);
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Deterministic randomness so noise statistics do not flake. */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('SCPI simulators', () => {
  const started: ScpiInstrument[] = [];
  const clients: LineClient[] = [];

  async function serve<T extends ScpiInstrument>(sim: T): Promise<{ sim: T; client: LineClient; port: number }> {
    started.push(sim);
    const { port } = await sim.listen({ port: 0 });
    const client = await LineClient.connect(port);
    clients.push(client);
    return { sim, client, port };
  }

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    for (const s of started.splice(0)) await s.close();
  });

  describe('engine (on the 34461A)', () => {
    it('answers *IDN? with the Keysight identity string', async () => {
      const { client } = await serve(new Dmm34461A());
      assert.equal(await client.query('*IDN?'), 'Keysight Technologies,34461A,MY53212931,A.02.08-02.37-02.08-00.49-01-01');
    });

    it('accepts short and long forms in any case, with optional nodes left out or spelled', async () => {
      const { client } = await serve(new Dmm34461A());
      for (const cmd of ['VOLT:DC:NPLC 1', 'sense:voltage:dc:nplcycles 1', 'SENS:VOLT:NPLC 1', 'Volt:Nplc 1']) {
        client.send(`${cmd}\n`);
        assert.equal(await client.query('VOLT:DC:NPLC?'), '+1.00000000E+00', cmd);
        client.send('VOLT:NPLC 10\n');
      }
      assert.equal(await client.query('syst:err?'), '+0,"No error"');
    });

    it('rejects a header that is neither the short nor the long form with -113 Undefined header', async () => {
      const { client } = await serve(new Dmm34461A());
      client.send('VOLTA:DC:NPLC 1\n');
      client.send('FOO:BAR\n');
      assert.deepEqual(await client.drainErrors(), ['-113,"Undefined header"', '-113,"Undefined header"']);
    });

    it('answers the queries of a compound message on one line, separated by semicolons', async () => {
      const { client } = await serve(new Dmm34461A());
      assert.equal(await client.query('*IDN?;*OPC?;:SYST:ERR?'), 'Keysight Technologies,34461A,MY53212931,A.02.08-02.37-02.08-00.49-01-01;1;+0,"No error"');
    });

    it('applies the path rules: a relative header continues the previous path, a colon restarts from the root', async () => {
      const { client } = await serve(new Dmm34461A());
      // After VOLT:DC:NPLC the path is VOLT:DC, so RANG means VOLT:DC:RANG.
      client.send('VOLT:DC:NPLC 100;RANG 1\n');
      assert.equal(await client.query('VOLT:DC:NPLC?;RANG?'), '+1.00000000E+02;+1.00000000E+00');
      // A common command between them leaves the path alone.
      assert.equal(await client.query('VOLT:DC:NPLC?;*OPC?;RANG?'), '+1.00000000E+02;1;+1.00000000E+00');
      // TRIG:COUN after VOLT:DC:NPLC is VOLT:DC:TRIG:COUN without the leading colon: undefined.
      client.send('VOLT:DC:NPLC 1;TRIG:COUN 3\n');
      assert.deepEqual(await client.drainErrors(), ['-113,"Undefined header"']);
      assert.equal(await client.query(':TRIG:COUN?'), '+1.00000000E+00');
      client.send('VOLT:DC:NPLC 1;:TRIG:COUN 3\n');
      assert.equal(await client.query('TRIG:COUN?;:VOLT:DC:NPLC?'), '+3.00000000E+00;+1.00000000E+00');
    });

    it('keeps errors in order, reports +0,"No error" when empty, and marks overflow in the last slot', async () => {
      const { client, sim } = await serve(new Dmm34461A());
      assert.equal(await client.query('SYST:ERR?'), '+0,"No error"');
      client.send('BOGUS\n');
      client.send('VOLT:DC:NPLC 1000\n');
      client.send('TRIG:SOUR NOWHERE\n');
      client.send('VOLT:DC:NPLC\n');
      client.send('*ESE 1,2\n');
      client.send('VOLT:DC:NPLC "x"\n');
      assert.deepEqual(await client.drainErrors(), [
        '-113,"Undefined header"',
        '-222,"Data out of range"',
        '-224,"Illegal parameter value"',
        '-109,"Missing parameter"',
        '-108,"Parameter not allowed"',
        '-104,"Data type error"',
      ]);
      for (let i = 0; i < 25; i++) client.send(`NOPE${i}\n`);
      assert.equal(await client.query('*OPC?'), '1');
      const q = sim.errorQueue;
      assert.equal(q.length, 20);
      assert.deepEqual(q[19], { code: -350, text: 'Queue overflow' });
      const drained = await client.drainErrors();
      assert.equal(drained.length, 20);
      assert.equal(drained[19], '-350,"Queue overflow"');
    });

    it('reports a syntax error for malformed message units', async () => {
      const { client } = await serve(new Dmm34461A());
      client.send('DISP:TEXT "unterminated\n');
      client.send('VOLT:DC:NPLC 1,\n');
      assert.deepEqual(await client.drainErrors(), ['-102,"Syntax error"', '-102,"Syntax error"']);
    });

    it('*CLS empties the error queue and the event status register', async () => {
      const { client } = await serve(new Dmm34461A());
      client.send('BOGUS\n');
      assert.equal(await client.query('*STB?'), '+4'); // EAV: an error is waiting
      client.send('*CLS\n');
      assert.equal(await client.query('*ESR?;*STB?;SYST:ERR?'), '+0;+0;+0,"No error"');
    });

    it('sets the command-error bit in *ESR? and clears it on reading', async () => {
      const { client } = await serve(new Dmm34461A());
      client.send('BOGUS\n');
      assert.equal(await client.query('*ESR?'), '+32');
      assert.equal(await client.query('*ESR?'), '+0');
      assert.equal(await client.query('*TST?'), '+0');
    });

    it('sends nothing for a command without a question mark', async () => {
      const { client } = await serve(new Dmm34461A());
      client.send('*RST\nCONF:VOLT:DC 10\nVOLT:DC:NPLC 1\n*CLS\n');
      assert.equal(await client.silentFor(200), true);
    });

    it('holds a query back until its terminator arrives, and accepts \\r\\n', async () => {
      const { client } = await serve(new Dmm34461A());
      client.send('*ID');
      client.send('N?');
      assert.equal(await client.silentFor(200), true);
      client.send('\r\n');
      assert.match(await client.next(), /^Keysight Technologies,34461A,/);
      assert.equal(await client.query('*OPC?\r\n'), '1');
    });

    it('serves several TCP clients at once, each with its own input buffer, sharing one state', async () => {
      const { client, port } = await serve(new Dmm34461A());
      const other = await LineClient.connect(port);
      clients.push(other);
      client.send('*ID'); // half a message on the first connection must not mix with the second
      assert.equal(await other.query('VOLT:DC:NPLC 100;NPLC?'), '+1.00000000E+02');
      client.send('N?\n');
      assert.match(await client.next(), /34461A/);
      assert.equal(await client.query('VOLT:DC:NPLC?'), '+1.00000000E+02');
    });

    it('logs every program message and emits command events', async () => {
      const { client, sim } = await serve(new Dmm34461A());
      const seen: string[] = [];
      sim.on('command', (e: { message: string }) => seen.push(e.message));
      await client.query('CONF:VOLT:DC;*OPC?');
      assert.deepEqual(seen, ['CONF:VOLT:DC;*OPC?']);
      assert.equal(sim.commandLog.at(-1)?.message, 'CONF:VOLT:DC;*OPC?');
      assert.equal(typeof sim.commandLog.at(-1)?.time, 'number');
    });

    it('works over any Duplex stream, not only TCP', async () => {
      const sim = new Dmm34461A();
      started.push(sim);
      const toSim = new PassThrough();
      const fromSim = new PassThrough();
      const stream = Duplex.from({ readable: toSim, writable: fromSim });
      const detach = sim.attach(stream);
      const reply = new Promise<string>((resolve) => fromSim.once('data', (d: Buffer) => resolve(d.toString())));
      toSim.write('*IDN?\n');
      assert.match(await reply, /^Keysight Technologies,34461A,.*\n$/);
      detach();
    });
  });

  describe('faults', () => {
    it('can silence, garble and delay responses for driver tests', async () => {
      const { client, sim } = await serve(new Dmm34461A());
      sim.faults.silenceNextResponse = true;
      client.send('*IDN?\n');
      assert.equal(await client.silentFor(150), true);
      sim.faults.garbleNextResponse = true;
      const garbled = await client.query('*IDN?');
      assert.notEqual(garbled, sim.idn);
      assert.equal(garbled.length, sim.idn.length);
      assert.equal(await client.query('*IDN?'), sim.idn);
      sim.faults.delayResponsesMs = 150;
      const t0 = Date.now();
      assert.equal(await client.query('*OPC?'), '1');
      assert.ok(Date.now() - t0 >= 140);
    });

    it('a silent instrument still executes what it receives but answers nothing, until the fault is cleared', async () => {
      const { client, sim } = await serve(new RigolDP821());
      client.send(':OUTP CH1,ON\n');
      assert.equal(await client.query('*OPC?'), '1');
      sim.faults.silent = true;
      client.send(':OUTP CH1,OFF;*OPC?\n');
      client.send('SYST:ERR?\n');
      assert.equal(await client.silentFor(150), true);
      assert.equal(sim.output(1).enabled, false, 'the command was executed');
      sim.faults.silent = false;
      assert.equal(await client.query('*OPC?'), '1');
    });

    it('drops every TCP client at once and accepts new connections afterwards', async () => {
      const { client, sim, port } = await serve(new Dmm34461A());
      await client.query('*OPC?');
      sim.dropClients();
      await until(() => client.closed, 'the client to see its connection closed');
      assert.equal(client.closed, true);
      const again = await LineClient.connect(port);
      clients.push(again);
      assert.equal(await again.query('*OPC?'), '1');
    });
  });

  describe('34461A DMM', () => {
    it('returns noisy NR3 readings around the set input, within the configured sigma', async () => {
      const { client, sim } = await serve(new Dmm34461A({ timeScale: 0.01, random: seeded(7) }));
      sim.setInput('VOLT:DC', 1.2345, 0.001);
      const one = await client.query('MEAS:VOLT:DC?');
      assert.match(one, /^[+-]\d\.\d{8}E[+-]\d\d$/);
      client.send('CONF:VOLT:DC 10;:SAMP:COUN 200;:VOLT:DC:NPLC 0.02\n');
      const values = (await client.query('READ?')).split(',').map(Number);
      assert.equal(values.length, 200);
      const mean = values.reduce((a, b) => a + b, 0) / values.length;
      const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1));
      assert.ok(Math.abs(mean - 1.2345) < 0.0003, `mean ${mean}`);
      assert.ok(sd > 0.0007 && sd < 0.0013, `sd ${sd}`);
      assert.ok(values.every((v) => Math.abs(v - 1.2345) < 0.006));
      assert.equal(new Set(values).size > 150, true);
    });

    it('reads a connected input at each reading (and for RANGe:AUTO ONCE), until setInput fixes it again', async () => {
      const { client, sim } = await serve(new Dmm34461A({ timeScale: 0.01 }));
      sim.setNoise('VOLT:DC', 0);
      let supply = 2;
      sim.connectInput('VOLT:DC', () => supply);
      assert.equal(sim.inputValue('VOLT:DC'), 2);
      assert.equal(await client.query('MEAS:VOLT:DC?'), '+2.00000000E+00');
      supply = 50;
      assert.equal(await client.query('MEAS:VOLT:DC?'), '+5.00000000E+01');
      client.send('VOLT:DC:RANG:AUTO ONCE\n');
      assert.equal(await client.query('VOLT:DC:RANG?'), '+1.00000000E+02', 'the range that fits 50 V');
      sim.setInput('VOLT:DC', 3);
      supply = 7;
      assert.equal(await client.query('MEAS:VOLT:DC?'), '+3.00000000E+00');
    });

    it('measures every function and reports an overload beyond 120 % of the range', async () => {
      const { client, sim } = await serve(new Dmm34461A({ timeScale: 0.01 }));
      sim.setInput('CURR:DC', 0.0123, 0);
      sim.setInput('RES', 4700, 0);
      sim.setInput('VOLT:AC', 0.5, 0);
      sim.setInput('VOLT:DC', 5, 0);
      assert.equal(await client.query('MEAS:CURR:DC?'), '+1.23000000E-02');
      assert.equal(await client.query('MEAS:RES?'), '+4.70000000E+03');
      assert.equal(await client.query('MEAS:VOLT:AC?'), '+5.00000000E-01');
      assert.match(await client.query('MEAS:TEMP?'), /^\+2\.\d+E\+01$/);
      assert.equal(await client.query('MEAS:VOLT:DC? 1'), '+9.90000000E+37');
      assert.equal(await client.query('MEAS:VOLT:DC? 10'), '+5.00000000E+00');
      assert.equal(await client.query('CONF?'), '"VOLT +1.00000000E+01,+1.00000000E-05"');
      sim.setInput('RES', Infinity);
      assert.equal(await client.query('MEAS:RES?'), '+9.90000000E+37');
      client.send('CONF:VOLT:DC 2000\n');
      assert.deepEqual(await client.drainErrors(), ['-222,"Data out of range"']);
    });

    it('takes NPLC/50 s per reading, so a long aperture is slow, and ABOR ends it at once', async () => {
      const { client, sim, port } = await serve(new Dmm34461A({ timeScale: 0.1 }));
      sim.setInput('VOLT:DC', 1, 0);
      // 1 reading at 10 PLC: 0.2 s × 0.1 = 20 ms, taken before one at 100 PLC (200 ms) would
      // be: the reading comes before a 200 ms timer started when READ? arrived.
      client.send('CONF:VOLT:DC;:VOLT:DC:NPLC 10\n');
      let hundredPlc: Promise<void> | undefined;
      const onCommand = (e: { message: string }) => {
        if (e.message === 'READ?') hundredPlc = timePassed(200);
      };
      sim.on('command', onCommand);
      const reading = new Promise((resolve) => sim.once('reading', resolve));
      const answer = client.query('READ?');
      await new Promise((resolve) => sim.once('command', resolve));
      sim.off('command', onCommand);
      assert.equal(await firstOf({ reading, 'a 100 PLC aperture': hundredPlc! }), 'reading');
      await answer;
      // 5 readings at 100 PLC: 5 × 2 s × 0.1 = 1 s.
      client.send('VOLT:DC:NPLC 100;:SAMP:COUN 5\n');
      const t0 = Date.now();
      client.send('INIT\n');
      assert.equal(await client.query('*OPC?', 5000), '1');
      const slow = Date.now() - t0;
      assert.ok(slow >= 950, `5 readings at 100 PLC took ${slow} ms, not less than 1 s`);
      assert.equal((await client.query('FETC?')).split(',').length, 5);

      // Now abort one (50 readings: 10 s): INIT returns at once with the meter measuring; ABOR
      // ends the measurement where it is, and *OPC? (which waits for a measurement) answers
      // long before the measurement would have ended.
      const heard: string[] = [];
      sim.on('abort', (e: { interrupted: boolean }) => heard.push(`abort (interrupted: ${e.interrupted}, measuring: ${sim.measuring})`));
      sim.on('reading', () => heard.push('reading'));
      client.send('SAMP:COUN 50\n');
      const measurementOver = timePassed(10_000);
      client.send('INIT\n');
      await until(() => sim.measuring, 'the meter to be measuring');
      assert.equal(sim.measuring, true);
      heard.length = 0;
      client.send('ABOR\n');
      assert.equal(await firstOf({ '*OPC? answered': client.query('*OPC?', 15_000), 'measurement over': measurementOver }), '*OPC? answered');
      assert.equal(sim.measuring, false);
      // Nothing valid in memory after an abort.
      client.send('FETC?\n');
      assert.equal(await client.silentFor(100), true);
      const abortAt = heard.findIndex((h) => h.startsWith('abort'));
      assert.deepEqual(heard.slice(abortAt), ['abort (interrupted: true, measuring: false)'], 'the abort stopped the measurement, no reading came after it');
      assert.deepEqual(await client.drainErrors(), ['-230,"Data corrupt or stale"']);

      // A READ? that is waiting gets no reading when ABOR arrives, even on another connection.
      client.send('READ?\n');
      await until(() => sim.measuring, 'the READ? to be waiting for its reading');
      const other = await LineClient.connect(port);
      clients.push(other);
      other.send('ABOR\n');
      assert.equal(await client.silentFor(300), true);
      assert.equal(sim.measuring, false);
      assert.deepEqual(await client.drainErrors(), ['-410,"Query INTERRUPTED"']);
    });

    it('lets a bare ABOR through while the same connection waits for a reading', async () => {
      const { client, sim } = await serve(new Dmm34461A({ timeScale: 1 }));
      client.send('CONF:VOLT:DC;:VOLT:DC:NPLC 100;:TRIG:COUN INF\n');
      const aborted = new Promise((resolve) => sim.once('abort', resolve));
      client.send('READ?\nABOR\n');
      await aborted;
      assert.equal(sim.measuring, false);
      assert.equal(await client.query('*OPC?'), '1');
      assert.deepEqual(await client.drainErrors(), ['-410,"Query INTERRUPTED"']);
    });

    it('waits for *TRG with TRIG:SOUR BUS and refuses READ? there as a trigger deadlock', async () => {
      const { client, sim } = await serve(new Dmm34461A({ timeScale: 0.01 }));
      sim.setInput('VOLT:DC', 2, 0);
      client.send('CONF:VOLT:DC;:TRIG:SOUR BUS\n');
      client.send('READ?\n');
      assert.deepEqual(await client.drainErrors(), ['-214,"Trigger deadlock"']);
      client.send('INIT\n');
      await until(() => sim.measuring, 'the meter to wait for its trigger');
      assert.equal(sim.measuring, true);
      assert.equal(await client.query('*TRG;FETC?'), '+2.00000000E+00');
      assert.equal(sim.measuring, false);
    });

    it('rejects INIT while a measurement is running with -213', async () => {
      const { client } = await serve(new Dmm34461A({ timeScale: 1 }));
      client.send('VOLT:DC:NPLC 100\nINIT\nINIT\nABOR\n');
      assert.deepEqual(await client.drainErrors(), ['-213,"Init ignored"']);
    });

    it('accepts SYST:REM, SYST:LOC and DISP:TEXT', async () => {
      const { client, sim } = await serve(new Dmm34461A());
      client.send('SYST:REM\nDISP:TEXT "RUN 42"\n');
      assert.equal(await client.query('DISP:TEXT?'), '"RUN 42"');
      assert.equal(sim.remoteState, 'REMOTE');
      client.send('DISP:TEXT:CLE;:SYST:LOC\n');
      assert.equal(await client.query('DISP:TEXT?'), '""');
      assert.equal(sim.remoteState, 'LOCAL');
    });
  });

  describe('Rigol DP821 power supply', () => {
    it('answers *IDN? with the Rigol identity string and prints 0,"No error" unsigned', async () => {
      const { client } = await serve(new RigolDP821());
      assert.equal(await client.query('*IDN?'), 'RIGOL TECHNOLOGIES,DP821,DP8E241400123,00.01.16');
      assert.equal(await client.query(':SYST:ERR?'), '0,"No error"');
    });

    it('sets a channel with APPL and reads it back with APPL? and VOLT?/CURR?', async () => {
      const { client, sim } = await serve(new RigolDP821());
      client.send(':APPL CH1,5,0.5\n');
      assert.equal(await client.query(':APPL? CH1'), 'CH1:60V/1A,5.000,0.5000');
      assert.equal(await client.query(':INST:NSEL 1;:VOLT?;:CURR?'), '5.000;0.5000');
      client.send(':INST CH2;:VOLT 3300mV;:CURR 2\n');
      assert.equal(await client.query(':SOUR2:VOLT?;CURR?'), '3.300;2.0000');
      assert.equal(await client.query(':INST?;:INST:NSEL?'), 'CH2;2');
      assert.equal(sim.outputs[1].voltageSetpoint, 3.3);
    });

    it('switches outputs with OUTP CH1,ON and OUTP ON for the selected channel', async () => {
      const { client, sim } = await serve(new RigolDP821());
      const events: { channel: number; enabled: boolean }[] = [];
      sim.on('output', (o: { channel: number; enabled: boolean }) => events.push(o));
      client.send(':OUTP CH1,ON\n');
      assert.equal(await client.query(':OUTP? CH1;:OUTP? CH2'), 'ON;OFF');
      client.send(':INST:NSEL 2;:OUTP ON\n');
      assert.equal(await client.query(':OUTP? CH2'), 'ON');
      assert.deepEqual(sim.outputs.map((o) => o.enabled), [true, true]);
      assert.ok(events.some((e) => e.channel === 2 && e.enabled));
    });

    it('measures V and I through the load in CV mode, and limits current in CC mode', async () => {
      const { client, sim } = await serve(new RigolDP821());
      sim.setLoad(1, 10);
      client.send(':APPL CH1,5,1;:OUTP CH1,ON\n');
      assert.equal(await client.query(':MEAS:VOLT? CH1;:MEAS:CURR? CH1'), '5.0000;0.5000');
      assert.equal(await client.query(':OUTP:MODE? CH1'), 'CV');
      client.send(':APPL CH1,5,0.2\n');
      assert.equal(await client.query(':MEAS:ALL? CH1'), '2.0000,0.2000,0.400');
      assert.equal(await client.query(':OUTP:MODE? CH1'), 'CC');
      const o = sim.outputs[0];
      assert.equal(o.mode, 'CC');
      assert.equal(o.measuredA, 0.2);
      assert.equal(o.measuredV, 2);
      client.send(':OUTP CH1,OFF\n');
      assert.equal(await client.query(':MEAS? CH1'), '0.0000');
    });

    it('rejects setpoints outside the channel rating with -222 and keeps the old values', async () => {
      const { client } = await serve(new RigolDP821());
      client.send(':APPL CH2,7,5\n');
      client.send(':APPL CH2,9,1\n'); // CH2 is rated 8 V
      client.send(':APPL CH1,30,2\n'); // CH1 is rated 1 A
      client.send(':SOUR1:VOLT 61\n');
      client.send(':APPL CH3,1,1\n'); // the DP821 has no CH3
      client.send(':SOUR3:VOLT 1\n');
      assert.deepEqual(await client.drainErrors(), [
        '-222,"Data out of range"',
        '-222,"Data out of range"',
        '-222,"Data out of range"',
        '-224,"Illegal parameter value"',
        '-114,"Header suffix out of range"',
      ]);
      assert.equal(await client.query(':APPL? CH2'), 'CH2:8V/10A,7.000,5.0000');
      assert.equal(await client.query(':APPL? CH1,VOLT'), '0.000');
    });

    it('*RST turns every output off and restores the defaults', async () => {
      const { client, sim } = await serve(new RigolDP821());
      client.send(':APPL CH1,12,0.5;:OUTP CH1,ON;:OUTP CH2,ON;:INST CH2\n');
      assert.equal(await client.query(':OUTP? CH1'), 'ON');
      client.send('*RST\n');
      assert.equal(await client.query(':OUTP? CH1;:OUTP? CH2;:INST?;:APPL? CH1'), 'OFF;OFF;CH1;CH1:60V/1A,0.000,1.0000');
      assert.deepEqual(sim.outputs.map((o) => o.enabled), [false, false]);
    });

    it('accepts ABOR without effect on the outputs', async () => {
      const { client } = await serve(new RigolDP821());
      client.send(':OUTP CH1,ON;:ABOR\n');
      assert.equal(await client.query(':OUTP? CH1;:SYST:ERR?'), 'ON;0,"No error"');
    });
  });
});
