import assert from 'node:assert/strict';
import { helper, controlNodes, Received, placed, loggedErrors, recordStatuses } from '../support/flow-harness';
import memoryNodes from '../support/memory-nodes';
import { forgetLatches, getCell, getWatchdog } from '../../nodes/shared/cell-registry';
import type { DeviceConfigNode } from '../../nodes/shared/device-nodes';
import type { SerialConfigNode } from '../../nodes/shared/serial-connection';

const moduleOf = (m: unknown) => ((m as { default?: unknown }).default ?? m) as (red: unknown) => void;
const nodes = [...controlNodes, moduleOf(require('../../nodes/gantry')), moduleOf(require('../../nodes/instrument')), moduleOf(require('../../nodes/serial'))];
const devices = memoryNodes.devices;

/** The sentence of the error that reached the Catch node (Node-RED prefixes the error's name). */
const caughtMessage = async (caught: Received, n = 1) => ((await caught.nth(n)).error as { message: string }).message.replace(/^WorkcellError: /, '');

/**
 * A cell "Line 1" with the given fields; a memory device "press" in it; one node of each kind
 * (sequence → move → end, estop, wait, cell status) and a Catch node.
 */
function cellFlow(cell: Record<string, unknown>, extra: object[] = []): object[] {
  return placed([
    { id: 't1', type: 'tab', label: 'test' },
    { id: 'cell', type: 'workcell-abort-context', name: 'Line 1', safeTimeout: '1', stopTimeout: '1', ...cell },
    { id: 'pressDev', type: 'workcell-memory-device', name: 'press', cell: 'cell', safeGroup: '0', ownership: 'wait' },
    { id: 'seq', type: 'workcell-sequence', z: 't1', name: 'Seq', cell: 'cell', concurrency: 'reject', timeout: '', wires: [['move'], ['outcome']] },
    { id: 'move', type: 'workcell-memory', z: 't1', name: 'move', device: 'pressDev', operation: 'move', params: { position: 5, ms: 1 }, wires: [['end']] },
    { id: 'end', type: 'workcell-sequence-end', z: 't1', cell: 'cell', wires: [] },
    { id: 'outcome', type: 'helper', z: 't1' },
    { id: 'stop', type: 'workcell-estop', z: 't1', name: 'E-stop', cell: 'cell', action: 'estop', wires: [[]] },
    { id: 'pause', type: 'workcell-wait', z: 't1', name: 'pause', cell: 'cell', mode: 'delay', delay: '1', units: 'ms', wires: [[]] },
    { id: 'watch', type: 'workcell-cell-status', z: 't1', name: 'watch', cell: 'cell', wires: [[]] },
    { id: 'catcher', type: 'catch', z: 't1', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 't1' },
    ...extra,
  ]);
}

describe('configuration read at deploy: an invalid field is an error naming node, field and value', function () {
  let recorder: ReturnType<typeof recordStatuses>;
  beforeEach(() => {
    devices.clear();
    recorder = recordStatuses();
  });
  afterEach(async () => {
    recorder.stop();
    await helper.unload();
    forgetLatches();
  });

  it('a cell with an invalid safe routine timeout does not start: every node of it refuses, naming why, and its device is never created', async () => {
    await helper.load(nodes, cellFlow({ safeTimeout: 'abc' }));
    const why = 'cell "Line 1": safe routine timeout must be a number of seconds greater than 0 and at most 3600, got "abc" (string)';
    assert.ok(loggedErrors().includes(why), `logged: ${JSON.stringify(loggedErrors())}`);
    assert.equal(getCell('cell'), undefined, 'the cell is not registered');
    assert.equal(devices.has('press'), false, 'the device was never created (nothing to connect or move)');
    assert.equal((helper.getNode('pressDev') as unknown as DeviceConfigNode).device, undefined);
    // Shown at deploy on the nodes of the cell.
    for (const id of ['seq', 'stop', 'pause']) assert.deepEqual(recorder.statuses.get(id), { fill: 'red', shape: 'ring', text: 'cell did not start' }, `${id} status`);
    assert.deepEqual(recorder.statuses.get('watch'), { fill: 'red', shape: 'ring', text: 'cell did not start' });

    const caught = new Received(helper.getNode('caught'));
    helper.getNode('seq').receive({ payload: 'go' });
    assert.equal(await caughtMessage(caught, 1), `sequence "Seq": refused: its cell did not start: ${why}`);
    helper.getNode('move').receive({ payload: 'go' });
    assert.equal(await caughtMessage(caught, 2), `move: no memory device is configured for this node: press: refused: its cell did not start: ${why}`);
    helper.getNode('stop').receive({ payload: 'go' });
    assert.equal(await caughtMessage(caught, 3), `estop "E-stop": refused: its cell did not start: ${why}`);
    helper.getNode('pause').receive({ payload: 'go' });
    assert.equal(await caughtMessage(caught, 4), `pause: refused: its cell did not start: ${why}`);
    helper.getNode('end').receive({ payload: 'go', workcell: { run: 'r1' } });
    assert.equal(await caughtMessage(caught, 5), `sequence end: refused: its cell did not start: ${why}`);
    helper.getNode('watch').receive({});
    assert.equal(await caughtMessage(caught, 6), `cell status "watch": refused: its cell did not start: ${why}`);
  });

  const badCells: [string, Record<string, unknown>, string][] = [
    ['a stop acknowledgement timeout of 0', { stopTimeout: '0' }, 'stop acknowledgement timeout must be a number of seconds greater than 0 and at most 3600, got "0" (string)'],
    ['a negative reset timeout', { resetTimeout: '-5' }, 'reset timeout must be a number of seconds greater than 0 and at most 3600, got "-5" (string)'],
    ['a heartbeat period over an hour', { heartbeat: '7200' }, 'heartbeat period must be a number of seconds from 0 to 3600 (0 for none), or blank for none, got "7200" (string)'],
    ['a blank (required) safe routine timeout', { safeTimeout: '' }, 'safe routine timeout must be a number of seconds greater than 0 and at most 3600, got "" (string)'],
    ['a safe routine timeout that is not text or a number', { safeTimeout: true }, 'safe routine timeout must be a number of seconds greater than 0 and at most 3600, got true (boolean)'],
    ['an unknown redeploy policy', { redeploy: 'sometimes' }, 'on redeploy must be one of "stop-affected", "estop-cell", got "sometimes" (string)'],
  ];
  for (const [what, fields, sentence] of badCells) {
    it(`a cell with ${what} does not start, and says so`, async () => {
      await helper.load(nodes, cellFlow(fields));
      assert.deepEqual(loggedErrors(), [`cell "Line 1": ${sentence}`, `press: refused: its cell did not start: cell "Line 1": ${sentence}`]);
      assert.equal(getCell('cell'), undefined);
      assert.equal(devices.has('press'), false);
      const caught = new Received(helper.getNode('caught'));
      helper.getNode('seq').receive({ payload: 'go' });
      assert.equal(await caughtMessage(caught), `sequence "Seq": refused: its cell did not start: cell "Line 1": ${sentence}`);
    });
  }

  it('every invalid field of a node is named in one sentence; an unnamed node is named by its id', async () => {
    await helper.load(nodes, cellFlow({ name: '', safeTimeout: 'ten', stopTimeout: '9999' }));
    assert.equal(
      loggedErrors()[0],
      'cell cell: safe routine timeout must be a number of seconds greater than 0 and at most 3600, got "ten" (string); ' +
        'stop acknowledgement timeout must be a number of seconds greater than 0 and at most 3600, got "9999" (string)',
    );
  });

  it('blank or absent optional fields mean their documented defaults; given values are read in their unit', async () => {
    await helper.load(nodes, cellFlow({ heartbeat: '', safeTimeout: '0.5', stopTimeout: '0.25' }));
    assert.deepEqual(loggedErrors(), []);
    const cell = getCell('cell')!;
    assert.deepEqual([cell.safeTimeoutMs, cell.stopTimeoutMs, cell.resetTimeoutMs], [500, 250, 10_000], 'reset timeout absent: 10 s');
    assert.equal(getWatchdog('cell'), undefined, 'a blank heartbeat is none');
    await helper.unload();
    await helper.load(nodes, cellFlow({ resetTimeout: '2.5', heartbeat: '30' }));
    assert.equal(getCell('cell')!.resetTimeoutMs, 2500);
    assert.ok(getWatchdog('cell'), 'a heartbeat of 30 s arms the watchdog');
  });

  it('a gantry or instrument whose stop-bounding field is invalid is not created; its action node refuses, naming node, field and value', async () => {
    const gantry = { id: 'mill', type: 'workcell-gantry-device', name: 'Mill', address: 'tcp://127.0.0.1:1', pollInterval: '200', estopHold: 'abc', cancelHold: '70000', cell: 'cell', safeGroup: '0', ownership: 'wait', critical: false };
    const dmm = { id: 'dmm', type: 'workcell-instrument-device', name: 'DMM', address: 'tcp://127.0.0.1:1', preset: 'keysight-34461a', timeout: '0', cell: 'cell', safeGroup: '0', ownership: 'wait' };
    await helper.load(
      nodes,
      cellFlow({}, [
        gantry,
        dmm,
        { id: 'home', type: 'workcell-gantry', z: 't1', name: 'home', device: 'mill', operation: 'home', params: {}, wires: [[]] },
        { id: 'read', type: 'workcell-instrument', z: 't1', name: 'read', device: 'dmm', operation: 'measure', params: {}, wires: [[]] },
      ]),
    );
    const millWhy =
      'gantry "Mill": emergency-stop hold must be a number of milliseconds from 0 to 60000, got "abc" (string); ' +
      'cancel hold must be a number of milliseconds from 0 to 60000, got "70000" (string)';
    const dmmWhy = 'instrument "DMM": reply timeout must be a number of seconds from 0.001 to 3600, got "0" (string)';
    assert.deepEqual(loggedErrors().sort(), [dmmWhy, millWhy].sort());
    assert.deepEqual(getCell('cell')!.devices.map((d) => d.device), ['press'], 'only the valid device joined the cell');
    for (const id of ['mill', 'dmm']) assert.equal((helper.getNode(id) as unknown as DeviceConfigNode).device, undefined);
    assert.deepEqual(recorder.statuses.get('mill'), { fill: 'red', shape: 'ring', text: 'invalid emergency-stop hold, ca…' });
    const caught = new Received(helper.getNode('caught'));
    helper.getNode('home').receive({});
    assert.equal(await caughtMessage(caught, 1), `home: no gantry device is configured for this node: ${millWhy}`);
    helper.getNode('read').receive({});
    assert.equal(await caughtMessage(caught, 2), `read: no instrument device is configured for this node: ${dmmWhy}`);
  });

  it('a connection node with an invalid field connects nothing and refuses the device that would use it, naming why', async () => {
    const usb = { id: 'usb0', type: 'workcell-serial', name: 'USB0', address: 'tcp://127.0.0.1:1', baudRate: 'fast', dataBits: '8', parity: 'none', stopBits: '1', delimiter: 'lf', backoffMin: '0.5', backoffMax: '15' };
    const gantry = { id: 'mill', type: 'workcell-gantry-device', name: 'Mill', serial: 'usb0', pollInterval: '200', estopHold: '0', cancelHold: '2000', cell: 'cell', safeGroup: '0', ownership: 'wait', critical: false };
    await helper.load(nodes, cellFlow({}, [usb, gantry]));
    const usbWhy = 'serial connection "USB0": baud rate must be a whole number from 50 to 4000000, got "fast" (string)';
    const millWhy = `Mill: connection "USB0" did not start: ${usbWhy}`;
    assert.deepEqual(loggedErrors(), [usbWhy, millWhy]);
    assert.equal((helper.getNode('mill') as unknown as DeviceConfigNode).configError, millWhy);
    assert.throws(() => (helper.getNode('usb0') as unknown as SerialConfigNode).register({ id: 'reader', name: 'Reader' }), { message: `Reader: connection "USB0" did not start: ${usbWhy}` });
  });

  it('invalid non-safety fields are errors too, and the node refuses its messages with them (never a silent default)', async () => {
    await helper.load(
      nodes,
      cellFlow({}, [
        { id: 'seq2', type: 'workcell-sequence', z: 't1', name: 'Seq2', cell: 'cell', concurrency: 'sometimes', timeout: 'soon', wires: [[], []] },
        { id: 'until', type: 'workcell-wait', z: 't1', name: 'door', cell: 'cell', mode: 'until', source: 'flow', property: 'door', operator: 'gte', value: 'open', valueType: 'num', poll: '5', wires: [[]] },
        { id: 'end2', type: 'workcell-sequence-end', z: 't1', name: 'finish', cell: 'cell', outcome: 'finish', wires: [] },
        { id: 'op', type: 'workcell-memory', z: 't1', name: 'fly', device: 'pressDev', operation: 'fly', params: '{bad', wires: [[]] },
      ]),
    );
    const seq2 = 'sequence "Seq2": concurrency must be one of "reject", "queue", "cancel-previous", got "sometimes" (string); timeout must be a number of seconds greater than 0 and at most 2147483, or blank for none, got "soon" (string)';
    const door = 'wait "door": comparison value must be a number (the value type is number), got "open" (string); poll interval must be a number of milliseconds from 10 to 86400000, got "5" (string)';
    const finish = 'sequence end "finish": outcome must be one of "complete", "cancel", "fail", got "finish" (string)';
    const fly = 'memory node "fly": operation must be one of move, noop, fail (or blank to take msg.operation), got "fly" (string); parameters must be an object of parameters (or its JSON text), got "{bad" (string)';
    assert.deepEqual(loggedErrors().sort(), [door, finish, fly, seq2].sort());
    assert.deepEqual(recorder.statuses.get('seq2'), { fill: 'red', shape: 'ring', text: 'invalid concurrency, timeout' });
    const caught = new Received(helper.getNode('caught'));
    helper.getNode('seq2').receive({});
    assert.equal(await caughtMessage(caught, 1), seq2);
    helper.getNode('until').receive({});
    assert.equal(await caughtMessage(caught, 2), door);
    helper.getNode('end2').receive({});
    assert.equal(await caughtMessage(caught, 3), finish);
    helper.getNode('op').receive({});
    assert.equal(await caughtMessage(caught, 4), fly);
    assert.deepEqual(devices.get('press')!.log, [], 'nothing ran on the device');
  });

  it('a run reaching a node whose configuration is invalid fails with that error, at that node', async () => {
    await helper.load(
      nodes,
      cellFlow({}, [
        { id: 'job', type: 'workcell-sequence', z: 't1', name: 'Job', cell: 'cell', wires: [['badWait'], ['jobOutcome']] },
        { id: 'badWait', type: 'workcell-wait', z: 't1', name: 'settle', cell: 'cell', mode: 'delay', delay: 'a while', units: 's', wires: [[]] },
        { id: 'jobOutcome', type: 'helper', z: 't1' },
      ]),
    );
    const why = 'wait "settle": delay must be a number of seconds from 0 to 86400 (24 hours), got "a while" (string)';
    assert.deepEqual(loggedErrors(), [why]);
    const outcome = new Received(helper.getNode('jobOutcome'));
    helper.getNode('job').receive({ payload: 'go' });
    const result = (await outcome.nth(1)).payload as { outcome: string; step: string; error: string };
    assert.deepEqual([result.outcome, result.step, result.error], ['failed', 'settle', why]);
  });

  it('an estop node with an invalid action is an error at deploy and still stops the cell: a stop button never does nothing', async () => {
    await helper.load(nodes, cellFlow({}, [{ id: 'odd', type: 'workcell-estop', z: 't1', name: 'Odd', cell: 'cell', action: 'explode', wires: [[]] }]));
    assert.deepEqual(loggedErrors(), ['estop "Odd": action must be one of "estop", "halt", "reset", "hold", "resume", "cancel", "heartbeat", got "explode" (string)']);
    const cell = getCell('cell')!;
    const aborted = new Promise<void>((resolve) => cell.on('state', (e: { to: string }) => e.to === 'aborted' && resolve()));
    helper.getNode('odd').receive({});
    await aborted;
    assert.deepEqual(cell.tripSources, ['node "Odd"']);
  });
});

describe('refusals show the offending message value faithfully', function () {
  beforeEach(() => devices.clear());
  afterEach(async () => {
    await helper.unload();
    forgetLatches();
  });

  it('a non-string msg.operation is refused as such, not called a string; an object one is shown as JSON', async () => {
    await helper.load(nodes, cellFlow({}));
    const caught = new Received(helper.getNode('caught'));
    helper.getNode('move').receive({ operation: 42 });
    assert.equal(await caughtMessage(caught, 1), 'press: msg.operation must be an operation name (a string), got 42 (number)');
    helper.getNode('move').receive({ operation: { name: 'move' } });
    assert.equal(await caughtMessage(caught, 2), 'press: msg.operation must be an operation name (a string), got {"name":"move"} (object)');
    helper.getNode('move').receive({ operation: 'fly' });
    assert.equal(await caughtMessage(caught, 3), 'press: unknown operation "fly" (string); expected one of move, noop, fail');
    assert.deepEqual(devices.get('press')!.log, [], 'nothing ran on the device');
  });

  it('a circular or non-JSON parameter is shown as what it is, never [object Object]', async () => {
    await helper.load(nodes, cellFlow({}));
    const caught = new Received(helper.getNode('caught'));
    const loop: Record<string, unknown> = { at: 1 };
    loop.self = loop;
    helper.getNode('move').receive({ params: { position: loop } });
    assert.equal(await caughtMessage(caught, 1), 'press: move: parameter "position" must be a finite number, got {"at":1,"self":[circular]} (object)');
    helper.getNode('move').receive({ params: { position: NaN } });
    assert.equal(await caughtMessage(caught, 2), 'press: move: parameter "position" must be a finite number, got NaN (number)');
  });

  it('a run failed with a non-text msg.payload reports the payload as it was', async () => {
    await helper.load(
      nodes,
      cellFlow({}, [
        { id: 'job', type: 'workcell-sequence', z: 't1', name: 'Job', cell: 'cell', concurrency: 'reject', timeout: '', wires: [['fail'], ['jobOutcome']] },
        { id: 'fail', type: 'workcell-sequence-end', z: 't1', name: 'give up', cell: 'cell', outcome: 'fail', wires: [] },
        { id: 'jobOutcome', type: 'helper', z: 't1' },
      ]),
    );
    const outcome = new Received(helper.getNode('jobOutcome'));
    helper.getNode('job').receive({ payload: { code: 3, at: undefined } });
    const result = (await outcome.nth(1)).payload as { outcome: string; error: string };
    assert.equal(result.outcome, 'failed');
    assert.equal(result.error, 'give up: the flow failed the run (msg.payload was {"code":3,"at":undefined} (object))');
  });
});
