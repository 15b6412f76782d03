import assert from 'node:assert/strict';
import { helper, loggedErrors, placed } from '../support/flow-harness';
import modbusNodes = require('../../nodes/modbus');
import serialNodes = require('../../nodes/serial');
import { modbusBusOf, type ModbusConfigNode } from '../../nodes/shared/modbus-bus-node';
import { ModbusBus } from '../../lib/io';
import { MemoryUnits, startServerSerial, startServerTcp } from '../support/modbus-servers';
import { openPtyPair } from '../support/pty-pair';

/**
 * A device node for the test: on each message it reads `msg.count` holding registers of its
 * unit from `msg.address` on its bus (found with `modbusBusOf`, as a Modbus device node does)
 * and sends them on; a bus it cannot have reaches Catch nodes through done(err).
 */
function testDeviceNodes(RED: any): void {
  RED.nodes.registerType('test-modbus-device', function (this: any, def: any) {
    RED.nodes.createNode(this, def);
    const node = this;
    node.on('input', (msg: any, send: (m: unknown) => void, done: (e?: Error) => void) => {
      try {
        const bus = modbusBusOf((id) => RED.nodes.getNode(id), def.bus, `device ${def.name}`);
        const release = bus.acquire();
        const connected = bus.status === 'connected' ? Promise.resolve() : new Promise<void>((resolve) => bus.on('up', () => resolve()));
        connected
          .then(() => bus.unit(def.unitId).readHoldingRegisters(msg.address, msg.count))
          .then((values) => { send({ payload: values }); done(); }, (e: Error) => done(e))
          .finally(() => void release());
      } catch (e) {
        done(e as Error);
      }
    });
  });
}

const nodes = [modbusNodes, serialNodes, testDeviceNodes, require('@node-red/nodes/core/common/25-catch.js')];

describe('workcell-modbus config node in Node-RED', () => {
  const units = new MemoryUnits();
  let server: Awaited<ReturnType<typeof startServerTcp>>;

  before(async () => {
    server = await startServerTcp(units);
    units.unit(4).holding.splice(10, 3, 41, 42, 43);
  });

  after(async () => {
    await server.close();
  });

  afterEach(() => helper.unload());

  function flow(bus: object, extra: object[] = []): object[] {
    return placed([
      { id: 't1', type: 'tab' },
      { id: 'bus', type: 'workcell-modbus', name: 'Line bus', timeout: 500, ...bus },
      { id: 'dev', type: 'test-modbus-device', z: 't1', name: 'furnace', bus: 'bus', unitId: 4, wires: [['out']] },
      { id: 'out', type: 'helper', z: 't1' },
      { id: 'catcher', type: 'catch', z: 't1', scope: null, uncaught: false, wires: [['caught']] },
      { id: 'caught', type: 'helper', z: 't1' },
      ...extra,
    ]);
  }

  function answer(id: string): Promise<any> {
    return new Promise((resolve) => helper.getNode(id).once('input', resolve));
  }

  it('holds a bus the device nodes on it use, and closes it when the flow stops', async () => {
    await helper.load(nodes, flow({ address: `tcp://127.0.0.1:${server.port}`, maxInFlight: '8' }));
    const busNode = helper.getNode('bus') as ModbusConfigNode;
    assert.ok(busNode.bus instanceof ModbusBus);
    assert.equal((busNode.bus as ModbusBus).maxInFlight, 8);
    assert.equal((busNode.bus as ModbusBus).timeoutMs, 500);
    const out = answer('out');
    helper.getNode('dev').receive({ address: 10, count: 3 });
    assert.deepEqual((await out).payload, [41, 42, 43]);
    const bus = busNode.bus as ModbusBus;
    await helper.unload();
    assert.equal(bus.status, 'closed');
  });

  it('refuses an invalid field at deploy with a sentence, and the devices on it say why', async () => {
    await helper.load(nodes, flow({ address: `tcp://127.0.0.1:${server.port}`, maxInFlight: '65' }));
    const expected = 'Modbus bus "Line bus": requests in flight must be a whole number from 1 to 64, got "65" (string)';
    assert.ok(loggedErrors().includes(expected), loggedErrors().join('\n'));
    assert.equal((helper.getNode('bus') as ModbusConfigNode).bus, undefined);
    const caught = answer('caught');
    helper.getNode('dev').receive({ address: 10, count: 3 });
    assert.equal((await caught).error.message, `WorkcellError: device furnace: its Modbus bus did not start: ${expected}`);
  });

  it('refuses an address that is neither tcp:// nor a device path, and a missing one', async () => {
    await helper.load(nodes, flow({ address: 'modbus://10.0.0.5' }, [{ id: 'bus2', type: 'workcell-modbus', address: '' }]));
    assert.ok(loggedErrors().includes('Modbus bus "Line bus": "modbus://10.0.0.5" is not a connection address: the scheme "modbus" is not supported; use tcp://host:port or a device path'), loggedErrors().join('\n'));
    assert.ok(loggedErrors().includes('Modbus bus bus2: no address: set tcp://host:port or a serial device path, or choose a serial connection'), loggedErrors().join('\n'));
  });

  it('takes its line from a workcell-serial node (RTU on its port), which it claims: a second bus on it is refused', async () => {
    const pty = await openPtyPair();
    const rtu = await startServerSerial(units, pty.b, 19200);
    try {
      const line = { id: 'line', type: 'workcell-serial', name: 'gateway', address: pty.a, baudRate: 19200 };
      await helper.load(nodes, flow({ address: '', serial: 'line' }, [line]));
      const bus = (helper.getNode('bus') as ModbusConfigNode).bus as ModbusBus;
      assert.equal(bus.label, pty.a, loggedErrors().join('\n'));
      assert.equal(bus.framing, 'rtu');
      const out = answer('out');
      helper.getNode('dev').receive({ address: 11, count: 2 });
      assert.deepEqual((await out).payload, [42, 43]);
      await helper.unload();
      await helper.load(nodes, flow({ address: '', serial: 'line' }, [line, { id: 'bus2', type: 'workcell-modbus', name: 'Other bus', address: '', serial: 'line' }]));
      // Whichever Node-RED started first has the line; the other says who has it.
      const [winner, loser] = (helper.getNode('bus') as ModbusConfigNode).bus ? ['Line bus', 'Other bus'] : ['Other bus', 'Line bus'];
      assert.ok(loggedErrors().includes(`Modbus bus "${loser}": connection "gateway" is already used by device "Modbus bus "${winner}""`), loggedErrors().join('\n'));
    } finally {
      await helper.unload();
      await rtu.close();
      await pty.close();
    }
  });

  it('a device naming no bus, or a node that is not a bus, gets a sentence', async () => {
    await helper.load(nodes, flow({ address: `tcp://127.0.0.1:${server.port}` }, [
      { id: 'dev2', type: 'test-modbus-device', z: 't1', name: 'press', bus: 'line', unitId: 1 },
      { id: 'line', type: 'workcell-serial', address: '/dev/ttyUSB9' },
    ]));
    const caught = answer('caught');
    helper.getNode('dev2').receive({ address: 0, count: 1 });
    assert.equal((await caught).error.message, 'WorkcellError: device press: the node "line" is a workcell-serial node, not a workcell-modbus bus');
  });
});
