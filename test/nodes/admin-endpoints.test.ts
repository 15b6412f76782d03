import assert from 'node:assert/strict';
import { helper, placed, baseFlow, controlNodes, Received } from '../support/flow-harness';
import { forgetLatches, getCell } from '../../nodes/shared/cell-registry';

/**
 * node-red-node-test-helper stubs RED.auth out, so these tests give the nodes a guard that
 * behaves as Node-RED's does with adminAuth set: it records the permission each route asks for
 * and answers 401 unless the request carries a token granting it.
 */
const asked: string[] = [];
function withGuard(mod: (red: unknown) => void) {
  return (red: Record<string, unknown>) => {
    const guarded = Object.create(red);
    guarded.auth = {
      needsPermission(permission: string) {
        asked.push(permission);
        return (req: { headers: Record<string, string> }, res: { status(n: number): { json(b: unknown): void } }, next: () => void) => {
          const granted = (req.headers.authorization ?? '').replace(/^Bearer /, '').split(',');
          if (granted.includes(permission) || granted.includes('*')) next();
          else res.status(401).json({ error: 'unauthorized' });
        };
      },
    };
    mod(guarded);
  };
}

describe('admin endpoints', function () {
  afterEach(async () => {
    await helper.unload();
    forgetLatches();
  });

  it('the estop button endpoint requires workcell.write and trips the cell from the editor', async () => {
    asked.length = 0;
    await helper.load(
      [...controlNodes.slice(0, -1).map(withGuard), ...controlNodes.slice(-1)],
      baseFlow([
        { id: 'stop', type: 'workcell-estop', z: 't1', cell: 'cell', action: 'estop', wires: [['out']] },
        { id: 'out', type: 'helper', z: 't1' },
        { id: 'cancel', type: 'workcell-estop', z: 't1', cell: 'cell', action: 'cancel', wires: [['out']] },
      ]),
    );
    const out = new Received(helper.getNode('out'));
    const caught = new Received(helper.getNode('caught'));
    assert.ok(asked.includes('workcell.write'));
    await helper.request().post('/workcell/estop/stop').expect(401);
    assert.equal(getCell('cell')!.state, 'ready', 'an unauthorised request did nothing');
    await helper.request().post('/workcell/estop/stop').set('Authorization', 'Bearer workcell.read').expect(401);
    const res = await helper.request().post('/workcell/estop/stop').set('Authorization', 'Bearer workcell.write').expect(200);
    assert.equal(res.body.state, 'aborted');
    assert.match(res.body.report.source, /editor/);
    // The node's output gets the same answer a message would: the payload the editor was given.
    const answered = await out.nth(1);
    assert.deepEqual(answered.payload, res.body);
    assert.equal(answered.topic, 'editor');
    assert.equal(out.messages.length, 1);
    // A button whose action fails (cancel needs a run) answers 409 and the error reaches Catch nodes with its message.
    const failed = await helper.request().post('/workcell/estop/cancel').set('Authorization', 'Bearer workcell.write').expect(409);
    assert.match(failed.body.error, /cancel needs the run to cancel/);
    const c = await caught.nth(1);
    assert.match((c.error as { message: string }).message, /estop: cancel needs the run to cancel in msg.run or msg.workcell.run/);
    assert.equal((c.error as { source: { id: string } }).source.id, 'cancel');
    await helper.request().post('/workcell/estop/nope').set('Authorization', 'Bearer workcell.write').expect(404);
  });

  it('the operations endpoint of a device kind requires workcell.read and serves the declared table', async () => {
    asked.length = 0;
    await helper.load([...controlNodes.slice(0, -1).map(withGuard), ...controlNodes.slice(-1)], placed(baseFlow([])));
    assert.ok(asked.includes('workcell.read'));
    await helper.request().get('/workcell/kinds/memory/operations').expect(401);
    const res = await helper.request().get('/workcell/kinds/memory/operations').set('Authorization', 'Bearer workcell.read').expect(200);
    assert.deepEqual(
      res.body.operations.map((o: { name: string }) => o.name),
      ['move', 'noop', 'fail'],
    );
    assert.equal(res.body.operations[0].params[0].max, 100);
  });
});
