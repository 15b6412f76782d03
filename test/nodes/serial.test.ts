import assert from 'node:assert/strict';
import * as net from 'node:net';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const helper = require('node-red-node-test-helper');
import serialNodes = require('../../nodes/serial');
import type { SerialConfigNode } from '../../nodes/shared/serial-connection';
import { until as waitFor } from '../support/event-order';

helper.init(require.resolve('node-red'));

interface Recorded { statuses: string[]; nodeStatuses: Array<{ fill?: string; text?: string }> }
const recorded = new Map<string, Recorded>();

/** A device node for the test: registers with the serial config node, records what it is told. */
function testUserNodes(RED: any): void {
  RED.nodes.registerType('test-serial-user', function (this: any, def: any) {
    RED.nodes.createNode(this, def);
    const node = this;
    const record: Recorded = { statuses: [], nodeStatuses: [] };
    recorded.set(def.id, record);
    const original = node.status.bind(node);
    node.status = (status: { fill?: string; text?: string }) => { record.nodeStatuses.push(status); original(status); };
    if (def.callback) node.onStatus = (status: string) => record.statuses.push(status);
    const serial = RED.nodes.getNode(def.serial) as SerialConfigNode;
    serial.register(node);
    node.on('close', (_removed: boolean, done: () => void) => serial.deregister(node, done));
  });
}

async function listen(): Promise<{ server: net.Server; port: number; sockets: net.Socket[] }> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => undefined);
    socket.on('data', (chunk) => { if (chunk.toString() === '*IDN?\n') socket.write('SIM,DMM,1,1.0\n'); });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as net.AddressInfo).port, sockets };
}

describe('workcell-serial config node', () => {
  let peer: Awaited<ReturnType<typeof listen>>;

  beforeEach(async () => {
    recorded.clear();
    peer = await listen();
  });

  afterEach(async () => {
    await helper.unload();
    for (const socket of peer.sockets) socket.destroy();
    await new Promise<void>((resolve) => peer.server.close(() => resolve()));
  });

  function flow(users: Array<{ id: string; callback?: boolean }>) {
    return [
      { id: 's1', type: 'workcell-serial', name: 'dmm', address: `tcp://127.0.0.1:${peer.port}`, delimiter: 'lf', backoffMin: 0.02, backoffMax: 0.05 },
      ...users.map((u) => ({ id: u.id, type: 'test-serial-user', serial: 's1', callback: u.callback ?? false })),
    ];
  }

  it('stays closed until a user registers', async () => {
    await helper.load([serialNodes, testUserNodes], flow([]));
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(peer.sockets.length, 0);
    assert.equal((helper.getNode('s1') as SerialConfigNode).connection.status, 'idle');
  });

  it('opens the connection on the first register and fans status out to every user', async () => {
    await helper.load([serialNodes, testUserNodes], flow([{ id: 'u1', callback: true }, { id: 'u2' }]));
    const serial = helper.getNode('s1') as SerialConfigNode;
    await serial.connection.waitConnected(AbortSignal.timeout(3000));
    await waitFor(() => recorded.get('u1')!.statuses.includes('connected'), 'u1 connected');
    assert.equal(peer.sockets.length, 1, 'one connection shared by both users');
    assert.deepEqual(recorded.get('u1')!.statuses.slice(0, 3), ['idle', 'connecting', 'connected']);
    const u2 = recorded.get('u2')!.nodeStatuses;
    assert.deepEqual(u2.at(-1), { fill: 'green', shape: 'dot', text: 'serial.status.connected' });
    assert.deepEqual(u2.find((s) => s.fill === 'yellow'), { fill: 'yellow', shape: 'ring', text: 'serial.status.connecting' });
    assert.equal((await serial.connection.request('*IDN?')).final, 'SIM,DMM,1,1.0');

    // The device server goes away: every user hears about the retry.
    for (const socket of peer.sockets) socket.destroy();
    await waitFor(() => recorded.get('u1')!.statuses.includes('reconnecting'), 'u1 reconnecting');
    await waitFor(() => recorded.get('u2')!.nodeStatuses.some((s) => s.fill === 'red'), 'u2 red status');
    await waitFor(() => recorded.get('u1')!.statuses.at(-1) === 'connected', 'reconnected');
  });

  it('closes the connection before done() when the flows stop (teardown before done)', async () => {
    await helper.load([serialNodes, testUserNodes], flow([{ id: 'u1', callback: true }]));
    const serial = helper.getNode('s1') as SerialConfigNode;
    const connection = serial.connection;
    await connection.waitConnected(AbortSignal.timeout(3000));
    await waitFor(() => peer.sockets.length === 1, 'the server side');
    const serverSaw = new Promise<void>((resolve) => peer.sockets[0].once('close', () => resolve()));
    await helper.clearFlows();
    assert.equal(connection.status, 'closed', 'the connection was closed when the flows finished stopping');
    await serverSaw;
  });

  it('closes the connection when the last user deregisters in a partial deploy, and reopens for a new user', async () => {
    await helper.load([serialNodes, testUserNodes], flow([{ id: 'u1', callback: true }]));
    const serial = helper.getNode('s1') as SerialConfigNode;
    const first = serial.connection;
    await first.waitConnected(AbortSignal.timeout(3000));
    await helper.setFlows(flow([]), 'nodes');
    assert.equal(first.status, 'closed');
    await helper.setFlows(flow([{ id: 'u3', callback: true }]), 'nodes');
    const again = (helper.getNode('s1') as SerialConfigNode).connection;
    await again.waitConnected(AbortSignal.timeout(3000));
    assert.notEqual(again, first);
  });
});

describe('GET /workcell/serial-ports', () => {
  afterEach(() => helper.unload());

  it('answers with the port list, or no ports and the reason the system cannot list them', async () => {
    await helper.load(serialNodes, [{ id: 's1', type: 'workcell-serial', address: '/dev/ttyUSB0' }]);
    const res = await helper.request().get('/workcell/serial-ports').expect(200);
    assert.ok(Array.isArray(res.body.ports));
    if (res.body.ports.length === 0 && res.body.error !== undefined) {
      assert.match(res.body.error, /^the system cannot list its serial ports: /);
    }
  });

  it('is guarded by the workcell.read permission', async () => {
    const asked: string[] = [];
    // The helper stubs RED.auth; stand in for the admin API's check so the guard is exercised.
    const withAuth = (RED: any) => serialNodes(Object.create(RED, {
      auth: {
        value: {
          needsPermission(permission: string) {
            asked.push(permission);
            return (req: any, res: any, next: () => void) => {
              if ((req.headers['x-permissions'] ?? '').split(',').includes(permission)) next();
              else res.status(401).end();
            };
          },
        },
      },
    }));
    await helper.load(withAuth, [{ id: 's1', type: 'workcell-serial', address: '/dev/ttyUSB0' }]);
    assert.deepEqual(asked, ['workcell.read']);
    await helper.request().get('/workcell/serial-ports').expect(401);
    const res = await helper.request().get('/workcell/serial-ports').set('x-permissions', 'workcell.read').expect(200);
    assert.ok(Array.isArray(res.body.ports));
  });
});
