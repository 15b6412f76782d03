import assert from 'node:assert/strict';
import { helper, controlNodes, Received, placed, delay, loggedErrors } from '../support/flow-harness';
import { openPtyPair, type PtyPair } from '../support/pty-pair';
import { forgetLatches, getCell } from '../../nodes/shared/cell-registry';
import type { DeviceConfigNode } from '../../nodes/shared/device-nodes';
import type { SerialConfigNode } from '../../nodes/shared/serial-connection';
import { GrblSimulator } from '../../lib/simulators/grbl';
import { Dmm34461A } from '../../lib/simulators/scpi';
import { openSerialEndpoint } from '../../lib/io';

const moduleOf = (m: unknown) => ((m as { default?: unknown }).default ?? m) as (red: unknown) => void;

/** A generic flow node using a serial node's own connection (as a raw serial in/out node would). */
function readerNodes(RED: any): void {
  RED.nodes.registerType('test-serial-reader', function (this: any, def: any) {
    RED.nodes.createNode(this, def);
    const serial = RED.nodes.getNode(def.serial) as SerialConfigNode;
    serial.register(this);
    this.on('close', (_removed: boolean, done: () => void) => serial.deregister(this, done));
  });
}

const nodes = [
  ...controlNodes, moduleOf(require('../../nodes/gantry')), moduleOf(require('../../nodes/instrument')), moduleOf(require('../../nodes/serial')), readerNodes,
];

/** A node of the running flow, as its module types it. */
const node = <T>(id: string) => helper.getNode(id) as unknown as T;

const IDN = '34461A MY53212931 (Keysight Technologies, A.02.08-02.37-02.08-00.49-01-01)';

/** A gantry device config node (Mill) with the test's connection properties. */
const mill = (connection: object) => ({
  id: 'mill', type: 'workcell-gantry-device', name: 'Mill', pollInterval: '50', xMin: '-290', xMax: '0', yMin: '-290', yMax: '0',
  allowUnlock: false, safeSpindleOff: true, safeCoolantOff: true, estopHold: '0', cancelHold: '2000', programDir: '',
  cell: 'cell', safeGroup: '0', ownership: 'wait', critical: false, ...connection,
});

/** An instrument device config node (DMM) with the test's connection properties. */
const dmmDevice = (connection: object) => ({
  id: 'dmmDev', type: 'workcell-instrument-device', name: 'DMM', preset: 'keysight-34461a', timeout: '2', errorCheck: true,
  cell: 'cell', safeGroup: '0', ownership: 'wait', ...connection,
});

/** A `workcell-serial` node as the editor saves it. */
const serialNode = (id: string, name: string, address: string, extra: object = {}) => ({
  id, type: 'workcell-serial', name, address, baudRate: '115200', dataBits: '8', parity: 'none', stopBits: '1', delimiter: 'lf',
  backoffMin: '0.1', backoffMax: '1', ...extra,
});

/** The cell, the given config nodes, one action node per device (wired to a helper) and a Catch node. */
function flow(configs: object[]): object[] {
  return placed([
    { id: 't1', type: 'tab', label: 'test' },
    { id: 'cell', type: 'workcell-abort-context', name: 'Cell A', safeTimeout: '3', stopTimeout: '2' },
    ...configs,
    { id: 'gantry', type: 'workcell-gantry', z: 't1', name: 'status', device: 'mill', operation: 'status', params: {}, wires: [['gantryOut']] },
    { id: 'gantryOut', type: 'helper', z: 't1' },
    { id: 'inst', type: 'workcell-instrument', z: 't1', name: 'idn', device: 'dmmDev', operation: 'query', params: { command: '*IDN?' }, wires: [['instOut']] },
    { id: 'instOut', type: 'helper', z: 't1' },
    { id: 'catcher', type: 'catch', z: 't1', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 't1' },
  ]);
}

/** Resolves once the named devices of the cell are ready. */
async function ready(names: string[], ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const devices = getCell('cell')?.devices ?? [];
    if (names.every((n) => devices.some((d) => d.device === n && d.status === 'ready'))) return;
    if (Date.now() > deadline) throw new Error(`devices not ready: ${JSON.stringify(devices.map((d) => [d.device, d.status, d.detail]))}`);
    await delay(10);
  }
}

describe('device config nodes taking their connection from a workcell-serial node', function () {
  this.timeout(30_000);
  let grbl: GrblSimulator;
  let dmm: Dmm34461A;
  let grblPort: number;
  let dmmPort: number;

  before(async () => {
    // As earlier tests of the full suite do: every load of the core debug node adds a log
    // handler that rewrites logged errors in place (encoded, and cut at 1000 characters by the
    // next one). loggedErrors() reads them as they were logged.
    for (let i = 0; i < 2; i++) {
      await helper.load(require('@node-red/nodes/core/common/21-debug.js'), []);
      await helper.unload();
    }
  });
  beforeEach(async () => {
    grbl = new GrblSimulator({ timeScale: 10, homingEnabled: false });
    dmm = new Dmm34461A({ timeScale: 0.01 });
    grblPort = (await grbl.listen({ port: 0 })).port;
    dmmPort = (await dmm.listen({ port: 0 })).port;
  });
  afterEach(async () => {
    await helper.unload();
    forgetLatches();
    await Promise.all([grbl.close(), dmm.close()]);
  });

  it('a gantry and an instrument connect through their serial nodes and work; the serial nodes expose their settings', async () => {
    await helper.load(
      nodes,
      flow([
        serialNode('usbGrbl', 'GRBL port', `tcp://127.0.0.1:${grblPort}`),
        serialNode('usbDmm', '', `tcp://127.0.0.1:${dmmPort}`, { baudRate: '9600', dataBits: '7', parity: 'even', stopBits: '2' }),
        // The device's own address fields point nowhere: the connection node's address applies.
        mill({ serial: 'usbGrbl', address: '/dev/does-not-exist', baudRate: '9600' }),
        dmmDevice({ serial: 'usbDmm', address: '' }),
      ]),
    );
    await ready(['Mill', 'DMM']);
    const usbDmm = node<SerialConfigNode>('usbDmm');
    assert.deepEqual(usbDmm.settings.serial, { baudRate: 9600, dataBits: 7, parity: 'even', stopBits: 2 });
    assert.equal(usbDmm.settings.address, `tcp://127.0.0.1:${dmmPort}`);
    assert.equal(usbDmm.label, `tcp://127.0.0.1:${dmmPort}`);
    assert.ok(Object.isFrozen(usbDmm.settings) && Object.isFrozen(usbDmm.settings.serial), 'the settings are read-only');

    const health = getCell('cell')!.devices.find((d) => d.device === 'DMM')!;
    assert.equal(health.detail, IDN);
    const instOut = new Received(helper.getNode('instOut'));
    helper.getNode('inst').receive({ payload: 'go' });
    assert.match(String((await instOut.nth(1)).payload), /^Keysight Technologies,34461A,MY53212931/);

    const gantryOut = new Received(helper.getNode('gantryOut'));
    helper.getNode('gantry').receive({ payload: 'go' });
    const status = (await gantryOut.nth(1)).payload as { state: string; machine: object };
    assert.equal(status.state, 'Idle');
    assert.deepEqual(status.machine, { x: 0, y: 0, z: 0 });
    assert.deepEqual(loggedErrors(), []);
  });

  it('two devices on one serial node: the second gets a clear error naming both and is not opened', async () => {
    await helper.load(nodes, flow([serialNode('usb0', 'USB0', `tcp://127.0.0.1:${grblPort}`), mill({ serial: 'usb0' }), dmmDevice({ serial: 'usb0' })]));
    await ready(['Mill']);
    const expected = 'DMM: connection "USB0" is already used by device "Mill"';
    assert.ok(loggedErrors().includes(expected), `logged: ${JSON.stringify(loggedErrors())}`);
    const dmmNode = node<DeviceConfigNode>('dmmDev');
    assert.equal(dmmNode.device, undefined);
    assert.equal(dmmNode.configError, expected);
    assert.deepEqual(getCell('cell')!.devices.map((d) => d.device), ['Mill']);
    // The instrument's action node says why, and its messages fail with the reason.
    const caught = new Received(helper.getNode('caught'));
    helper.getNode('inst').receive({ payload: 'go' });
    assert.match(((await caught.nth(1)).error as { message: string }).message, /idn: no instrument device is configured for this node: DMM: connection "USB0" is already used by device "Mill"/);
  });

  it('a serial node with a generic user: a device deployed onto it gets a clear error; a generic user of a device-owned node is refused', async () => {
    const serial = serialNode('usb0', 'USB0', `tcp://127.0.0.1:${grblPort}`);
    const reader = { id: 'reader', type: 'test-serial-reader', z: 't1', name: 'Reader', serial: 'usb0', wires: [] };
    await helper.load(nodes, flow([serial, reader]));
    // The gantry is added by a later deploy of the changed nodes: the serial node keeps its user.
    await helper.setFlows(flow([serial, reader, mill({ serial: 'usb0' })]), 'nodes');
    const expected = 'Mill: connection "USB0" is already used by node "Reader"; a device needs its connection to itself';
    assert.ok(loggedErrors().includes(expected), `logged: ${JSON.stringify(loggedErrors())}`);
    assert.equal(node<DeviceConfigNode>('mill').device, undefined);
    await helper.unload();
    forgetLatches();

    // The other way round: config nodes start before flow nodes, so the device owns the line and
    // the generic user is refused, naming both.
    await helper.load(nodes, flow([serial, mill({ serial: 'usb0' })]));
    await ready(['Mill']);
    assert.throws(() => node<SerialConfigNode>('usb0').register({ id: 'other', name: 'Reader' }), {
      message: 'Reader: connection "USB0" is already used by device "Mill", which needs it to itself',
    });
  });

  it('a serial id that does not resolve is a clear error at deploy', async () => {
    await helper.load(nodes, flow([mill({ serial: 'gone', address: `tcp://127.0.0.1:${grblPort}` })]));
    const expected = 'Mill: the connection node "gone" does not exist (deleted, disabled, or not deployed)';
    assert.ok(loggedErrors().includes(expected), `logged: ${JSON.stringify(loggedErrors())}`);
    assert.equal(node<DeviceConfigNode>('mill').device, undefined);
    const caught = new Received(helper.getNode('caught'));
    helper.getNode('gantry').receive({ payload: 'go' });
    assert.match(((await caught.nth(1)).error as { message: string }).message, /status: no gantry device is configured for this node: Mill: the connection node "gone" does not exist/);
  });

  it('devices with only an address work as before (a blank serial too)', async () => {
    await helper.load(nodes, flow([mill({ address: `tcp://127.0.0.1:${grblPort}`, baudRate: '115200' }), dmmDevice({ serial: '', address: `tcp://127.0.0.1:${dmmPort}` })]));
    await ready(['Mill', 'DMM']);
    const gantryOut = new Received(helper.getNode('gantryOut'));
    helper.getNode('gantry').receive({ payload: 'go' });
    assert.equal(((await gantryOut.nth(1)).payload as { state: string }).state, 'Idle');
    const instOut = new Received(helper.getNode('instOut'));
    helper.getNode('inst').receive({ payload: 'go' });
    assert.match(String((await instOut.nth(1)).payload), /^Keysight Technologies,34461A/);
  });

  it('redeploying the device frees the line: the new instance takes it again', async () => {
    const configs = [serialNode('usb0', 'USB0', `tcp://127.0.0.1:${grblPort}`), mill({ serial: 'usb0' })];
    await helper.load(nodes, flow(configs));
    await ready(['Mill']);
    const first = node<DeviceConfigNode>('mill').device;
    await helper.setFlows(flow([configs[0], mill({ serial: 'usb0', pollInterval: '60' })]), 'nodes');
    const second = node<DeviceConfigNode>('mill').device;
    assert.ok(second && second !== first, 'the device node was restarted');
    await ready(['Mill']);
    assert.deepEqual(loggedErrors(), []);
  });

  describe('over a real serial line (socat pty pair)', () => {
    let pty: PtyPair;
    afterEach(async () => {
      await helper.unload();
      await pty?.close();
    });

    it('an instrument on a serial node at 9600 8E1 identifies itself', async () => {
      pty = await openPtyPair();
      const far = await openSerialEndpoint(pty.b, 9600);
      const detach = dmm.attach(far);
      try {
        await helper.load(nodes, flow([serialNode('usb0', 'USB0', pty.a, { baudRate: '9600', parity: 'even' }), dmmDevice({ serial: 'usb0', address: '' })]));
        await ready(['DMM']);
        assert.equal(getCell('cell')!.devices.find((d) => d.device === 'DMM')!.detail, IDN);
      } finally {
        await helper.unload();
        detach();
        await new Promise<void>((resolve) => far.close(() => resolve()));
      }
    });
  });
});
