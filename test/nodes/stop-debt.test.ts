import assert from 'node:assert/strict';
import { helper, controlNodes, Received, baseFlow } from '../support/flow-harness';
import memoryNodes from '../support/memory-nodes';
import { forgetLatches, getCell } from '../../nodes/shared/cell-registry';

const devices = memoryNodes.devices;

/** A cell with two memory devices, an estop node, a cell-status node and a Catch node. */
function flow(): object[] {
  return baseFlow(
    [
      { id: 'ctl', type: 'workcell-estop', z: 't1', name: 'panel', cell: 'cell', action: 'estop', wires: [['done']] },
      { id: 'done', type: 'helper', z: 't1' },
      { id: 'status', type: 'workcell-cell-status', z: 't1', cell: 'cell', wires: [['statusOut']] },
      { id: 'statusOut', type: 'helper', z: 't1' },
    ],
    [
      { id: 'd1', name: 'arm' },
      { id: 'd2', name: 'press' },
    ],
  );
}

/** Every message the cell node and others logged (warn/error/info), as text. */
function logged(): string[] {
  return helper.log().args.map((a: unknown[]) => JSON.stringify(a));
}

describe('stop debts through Node-RED: reset refused per device, cleared by hand with msg.action "clear"', function () {
  beforeEach(() => devices.clear());
  afterEach(async () => {
    await helper.unload();
    forgetLatches();
  });

  it('a device whose safe routine failed keeps reset refused, naming it; "clear" with msg.device settles it, logged with its source; then reset works', async () => {
    await helper.load(controlNodes, flow());
    devices.get('press')!.safeFails = true;
    const done = new Received(helper.getNode('done'));
    const caught = new Received(helper.getNode('caught'));
    const status = new Received(helper.getNode('statusOut'));
    const ctl = helper.getNode('ctl');

    ctl.receive({});
    const stopped = (await done.nth(1)).payload as { report: { unsafe: { device: string; why: string }[] } };
    assert.deepEqual(stopped.report.unsafe.map((u) => u.device), ['press']);

    ctl.receive({ action: 'reset' });
    const refusal = await caught.nth(1);
    assert.match((refusal.error as { message: string }).message, /cannot reset cell "Cell A": device press is not known to be stopped and safe: its safe routine failed \(press: safe routine failed\)/);
    assert.equal(getCell('cell')!.state, 'aborted');

    ctl.receive({ action: 'clear', device: 'press', source: 'operator Jo' });
    const cleared = (await done.nth(2)).payload as { action: string; device: string; unsafe: unknown[] };
    assert.deepEqual([cleared.action, cleared.device, cleared.unsafe], ['clear', 'press', []]);
    assert.ok(logged().some((l) => /device press is known stopped and safe again: cleared by hand.*\(by operator Jo\)/.test(l)), 'the clearing is logged with its source');
    const debts = status.messages.filter((m) => m.topic === 'stop-debt').map((m) => m.payload as { device: string; owes: boolean; source: string | null });
    assert.deepEqual(debts.map((d) => [d.device, d.owes, d.source]), [
      ['press', true, null],
      ['press', false, 'operator Jo'],
    ]);

    ctl.receive({ action: 'reset' });
    assert.equal(((await done.nth(3)).payload as { state: string }).state, 'ready');
  });

  it('a clear that names no device, an unknown one, or one that owes nothing reaches Catch with a sentence; nothing is cleared implicitly', async () => {
    await helper.load(controlNodes, flow());
    devices.get('press')!.safeFails = true;
    const done = new Received(helper.getNode('done'));
    const caught = new Received(helper.getNode('caught'));
    const ctl = helper.getNode('ctl');
    ctl.receive({});
    await done.nth(1);
    ctl.receive({ action: 'clear' });
    ctl.receive({ action: 'clear', device: { name: 'press' } });
    ctl.receive({ action: 'clear', device: 'robot' });
    ctl.receive({ action: 'clear', device: 'arm' });
    const messages = [];
    for (let i = 1; i <= 4; i++) messages.push(((await caught.nth(i)).error as { message: string }).message);
    assert.match(messages[0], /cannot clear a device of cell "Cell A": msg.device must name one of its devices \(a string\), got nothing/);
    assert.match(messages[1], /cannot clear a device of cell "Cell A": msg.device must name one of its devices \(a string\), got \{"name":"press"\}/);
    assert.match(messages[2], /cannot clear device "robot".*no such device \(it has "arm", "press"\)/);
    assert.match(messages[3], /cannot clear device "arm".*it owes nothing/);
    assert.deepEqual(getCell('cell')!.unsafeDevices.map((u) => u.device), ['press']);
  });
});
