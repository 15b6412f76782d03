import assert from 'node:assert/strict';
import { EStop } from '../../lib';
import type { ScpiInstrumentDevice } from '../../lib/devices/instrument';
import type { RigolDP821, ScpiInstrument } from '../../lib/simulators/scpi';
import { owedStopAcknowledged, readyDevice, received, startSimulators, waitForStatus } from './instrument-fixtures';
import { until } from '../support/event-order';

/** The messages the simulator received on its newest connection. */
function newestConnection(sim: ScpiInstrument): string[] {
  const newest = Math.max(...sim.commandLog.map((e) => e.clientId));
  return sim.commandLog.filter((e) => e.clientId === newest).map((e) => e.message);
}

const portOf = (address: string): number => Number(/:(\d+)$/.exec(address)![1]);

describe('SCPI instrument driver: the stop path (Rigol DP821 simulator over TCP)', function () {
  this.timeout(20_000);
  let psu: RigolDP821;
  let psuAddress: string;
  let closeSims: () => Promise<void>;
  const opened: ScpiInstrumentDevice[] = [];

  beforeEach(async () => {
    ({ psu, psuAddress, close: closeSims } = await startSimulators());
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((d) => d.close()));
    await closeSims();
  });

  async function poweredPsu(): Promise<ScpiInstrumentDevice> {
    const p = await readyDevice({ name: 'PSU', address: psuAddress, preset: 'rigol-dp821', timeoutMs: 1000 });
    opened.push(p);
    await p.execute('write', { command: ':APPL CH1,12,0.5;:OUTP CH1,ON;:OUTP CH2,ON' }, { signal: new AbortController().signal });
    assert.deepEqual(psu.outputs.map((o) => o.enabled), [true, true]);
    return p;
  }

  /** Takes the instrument off the network (its port refuses connections) until `back()`. */
  async function unplug(p: ScpiInstrumentDevice): Promise<{ back(): Promise<void> }> {
    const lost = waitForStatus(p, 'disconnected');
    await psu.close();
    await lost;
    return { back: async () => void (await psu.listen({ port: portOf(psuAddress) })) };
  }

  it('a stop while the link is down fails at once, naming the device, the stop and why', async () => {
    const p = await poweredPsu();
    await unplug(p);
    const order: string[] = [];
    const stopping = p.stop(new EStop('test')).then(() => order.push('resolved'), (err: Error) => order.push(err.message));
    setImmediate(() => order.push('next turn'));
    await stopping;
    await new Promise((r) => setImmediate(r));
    assert.equal(order.length, 2);
    assert.match(order[0], /^PSU: cannot stop: not connected \(tcp:\/\/127\.0\.0\.1:\d+ is (reconnecting|connecting)(: .+)?\)$/);
    assert.equal(order[1], 'next turn');
  });

  it('an owed stop is the first thing on the new connection, before *IDN?; \'owed-stop\' carries its acknowledgement; owing nothing writes no stop', async () => {
    const p = await poweredPsu();
    const link = await unplug(p);
    p.oweStop(new EStop('test'));
    const owed = owedStopAcknowledged(p);
    await link.back();
    await owed;
    await waitForStatus(p, 'ready');
    assert.deepEqual(newestConnection(psu).slice(0, 2), ['ABOR', '*IDN?']);
    p.clearOwedStop();

    const lost = waitForStatus(p, 'disconnected');
    psu.dropClients();
    await lost;
    await waitForStatus(p, 'ready');
    const again = newestConnection(psu);
    assert.equal(again[0], '*IDN?');
    assert.ok(!again.includes('ABOR'), `no stop: ${JSON.stringify(again)}`);
  });

  it('safe while the link is down writes the safe commands first thing when it returns (after the owed stop, before *IDN?), then confirms them', async () => {
    const p = await poweredPsu();
    const link = await unplug(p);
    p.oweStop(new EStop('test'));
    const safe = p.safe(AbortSignal.timeout(5000));
    await link.back();
    await safe;
    assert.deepEqual(psu.outputs.map((o) => o.enabled), [false, false]);
    assert.deepEqual(newestConnection(psu), [
      'ABOR', ':OUTP CH1,OFF', ':OUTP CH2,OFF', // the owed stop, then the safe commands, before anything else
      '*IDN?', 'SYST:ERR?', // identified
      '*OPC?', 'SYST:ERR?', ':OUTP CH1,OFF', ':OUTP CH2,OFF', 'SYST:ERR?', '*CLS', '*OPC?', // confirmed
    ]);
  });

  it('a power supply that no longer answers but still listens gets its outputs off; safe fails saying they were not confirmed', async () => {
    const p = await poweredPsu();
    psu.faults.silent = true;
    const from = psu.commandLog.length;
    await p.stop(new EStop('test'));
    await assert.rejects(p.safe(AbortSignal.timeout(5000)), {
      code: 'safe-unconfirmed',
      message: 'PSU: safe: the instrument does not answer (no reply to "*OPC?" within 1000 ms): the safe commands ":OUTP CH1,OFF; :OUTP CH2,OFF" were written but not confirmed',
    });
    assert.deepEqual(psu.outputs.map((o) => o.enabled), [false, false], 'the outputs are off');
    const log = received(psu);
    const stop = log.indexOf('ABOR', from);
    assert.deepEqual(log.slice(stop, stop + 4), ['ABOR', ':OUTP CH1,OFF', ':OUTP CH2,OFF', '*OPC?'], 'written before the resynchronising query');
  });

  it('errors left in the queue before safe are a warning, not the safe routine\'s failure', async () => {
    const p = await poweredPsu();
    psu.pushError(-113, 'left by someone else');
    const warnings: string[] = [];
    p.on('warning', (w: string) => warnings.push(w));
    await p.safe(AbortSignal.timeout(5000));
    assert.deepEqual(psu.outputs.map((o) => o.enabled), [false, false]);
    assert.deepEqual(warnings, ['PSU: errors in the instrument\'s queue before its safe state was confirmed were discarded: -113,"Undefined header"']);
  });

  it('a silent instrument makes safe fail within its signal when the signal is shorter than the reply timeout, the safe commands written', async () => {
    const p = await poweredPsu();
    psu.faults.silent = true;
    await p.stop(new EStop('test'));
    const bound = new AbortController();
    const from = psu.commandLog.length;
    const safe = p.safe(bound.signal);
    // The safe routine is waiting for the silent instrument once its query has arrived there.
    await until(() => psu.commandLog.slice(from).some((e) => e.message.includes('?')), 'the safe routine\'s query at the instrument');
    bound.abort(new EStop('safe timeout'));
    await assert.rejects(safe, { name: 'EStop' });
    assert.deepEqual(psu.outputs.map((o) => o.enabled), [false, false]);
  });
});
