import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { EditorBrowser, openEditor } from '../support/editor-browser';
import { NodeRedProcess, freePort, packageRoot, startNodeRed } from '../support/node-red-process';

/** Browser-side view of the editor's globals (typed loosely: this runs in the page). */
declare const RED: any; // eslint-disable-line @typescript-eslint/no-explicit-any
declare const $: any; // eslint-disable-line @typescript-eslint/no-explicit-any
/** The slice of a DOM element the page callbacks read (the test compiles without the DOM lib). */
interface DomElement {
  textContent: string | null;
  value: string;
  getAttribute(name: string): string | null;
}

/** A press and a gripper on a bus pointed at a closed port: only their dialogs, forms and help are under test. */
const flows = (closedPort: number) => [
  { id: 't1', type: 'tab', label: 'press dialogs' },
  { id: 'p-cell', type: 'workcell-abort-context', name: 'Press cell', safeTimeout: '3', stopTimeout: '1' },
  { id: 'p-bus', type: 'workcell-modbus', name: 'Line', address: `tcp://127.0.0.1:${closedPort}` },
  { id: 'p-dev', type: 'workcell-press-device', name: 'Press', bus: 'p-bus', unitId: 3, cell: 'p-cell' },
  { id: 'g-dev', type: 'workcell-actuator-device', name: 'gripper', bus: 'p-bus', unitId: 7, valve: 'single', cell: 'p-cell' },
  { id: 'p-node', type: 'workcell-press', z: 't1', x: 200, y: 80, name: '', device: 'p-dev', operation: 'cycle', params: { force: 80 }, wires: [[]] },
  { id: 'g-node', type: 'workcell-actuator', z: 't1', x: 200, y: 160, name: '', device: 'g-dev', operation: 'extend', params: {}, wires: [[]] },
];

describe('press and actuator dialogs in the editor (Chromium + a real Node-RED)', function () {
  this.timeout(120_000);
  let red: NodeRedProcess;
  let browser: EditorBrowser;
  let page: Page;

  before(async () => {
    red = await startNodeRed({ flows: flows(await freePort()), settings: { editorTheme: { palette: { catalogues: [] } } } });
    browser = await openEditor(red.url, { ready: () => RED.nodes.node('p-node') });
    page = browser.page;
  });

  after(async () => {
    await browser?.close();
    await red?.stop();
  });

  afterEach(async () => {
    for (let i = 0; i < 5; i++) {
      const open = await page.evaluate(() => $('#red-ui-editor-stack .red-ui-tray').length);
      if (open === 0) break;
      await page.evaluate(() => RED.tray.close());
      await page.waitForFunction((n) => $('#red-ui-editor-stack .red-ui-tray').length < n, open);
    }
  });

  async function editConfig(type: string, id: string, field: string): Promise<void> {
    await page.evaluate(([t, i]) => RED.editor.editConfig('', t, i), [type, id]);
    await page.waitForSelector(`#node-config-input-${field}`, { state: 'visible' });
  }

  /** Set a config dialog field and say whether the form marks it invalid. */
  async function setField(field: string, value: string): Promise<boolean> {
    return page.evaluate(
      ([f, v]) => {
        $(`#node-config-input-${f}`).val(v).trigger('change');
        return $(`#node-config-input-${f}`).hasClass('input-error');
      },
      [field, value],
    );
  }

  async function save(): Promise<void> {
    const open = await page.evaluate(() => $('#red-ui-editor-stack .red-ui-tray').length);
    await page.evaluate(() => $('#node-config-dialog-ok').last().trigger('click'));
    await page.waitForFunction((n) => $('#red-ui-editor-stack .red-ui-tray').length < n, open);
  }

  it('the press node gets its form from the operation table, prefilled, and its help the operations section', async () => {
    const table = (require(join(packageRoot(), 'dist', 'lib', 'devices', 'press', 'operations.js')) as { PRESS_OPERATIONS: { name: string; label: string }[] }).PRESS_OPERATIONS;
    await page.evaluate(() => RED.editor.edit(RED.nodes.node('p-node')));
    await page.waitForSelector('#node-input-operation');
    const form = await page.evaluate(() => ({
      operations: $('#node-input-operation option').map((_i: number, o: DomElement) => o.value).get(),
      params: $('.workcell-device-param').map((_i: number, e: DomElement) => e.getAttribute('data-param')).get(),
      force: $('#node-input-param-force').typedInput('value'),
    }));
    assert.deepEqual(form.operations, table.map((o) => o.name));
    assert.deepEqual(form.params, ['target', 'force', 'position', 'holdMs', 'timeoutMs']);
    assert.equal(form.force, '80');
    for (const type of ['workcell-press', 'workcell-actuator']) {
      const html: string = await page.evaluate((t) => RED.nodes.getNodeHelp(t), type);
      assert.match(html, /<h3[^>]*>Operations<\/h3>/, `${type}: the marker was replaced by the operations help`);
      assert.doesNotMatch(html, /workcell:operations/);
    }
  });

  it('the press device dialog refuses a position range upside down and a map that is not JSON, and saves good input', async () => {
    await editConfig('workcell-press-device', 'p-dev', 'maxPosition');
    assert.match(await page.evaluate(() => $('.red-ui-tray-titlebar').last().text()), /press device/);
    assert.equal(await setField('maxPosition', '-5'), true);
    assert.equal(await setField('maxPosition', '120'), false);
    assert.equal(await setField('map', '{coils'), true, 'not JSON');
    assert.equal(await setField('map', '{"coils": {"stop": 10}}'), false);
    assert.equal(await setField('unitId', '0'), true);
    assert.equal(await setField('unitId', '4'), false);
    await save();
    const saved = await page.evaluate(() => ({ max: String(RED.nodes.node('p-dev').maxPosition), map: RED.nodes.node('p-dev').map, unit: String(RED.nodes.node('p-dev').unitId) }));
    assert.deepEqual(saved, { max: '120', map: '{"coils": {"stop": 10}}', unit: '4' });
  });

  it('the actuator device dialog shows the retract coil only for a double solenoid, and vent only passes with one', async () => {
    await editConfig('workcell-actuator-device', 'g-dev', 'valve');
    assert.equal(await page.evaluate(() => $('#node-config-input-retractCoil').is(':visible')), false);
    const vent = await page.evaluate(() => {
      $('#node-config-input-safeState').val('vent').trigger('change');
      return $('#node-config-input-safeState').hasClass('input-error');
    });
    assert.equal(vent, true, 'vent with a single-solenoid valve is flagged');
    const double = await page.evaluate(() => {
      $('#node-config-input-valve').val('double').trigger('change');
      $('#node-config-input-safeState').trigger('change');
      return { retract: $('#node-config-input-retractCoil').is(':visible'), vent: $('#node-config-input-safeState').hasClass('input-error') };
    });
    assert.deepEqual(double, { retract: true, vent: false });
    assert.equal(await setField('retractedInput', '0'), true, 'both switches on one input');
    assert.equal(await setField('retractedInput', '1'), false);
    await save();
    assert.deepEqual(await page.evaluate(() => [RED.nodes.node('g-dev').valve, RED.nodes.node('g-dev').safeState]), ['double', 'vent']);
  });

  it('the editor raised no page errors and logged no console errors', () => {
    assert.deepEqual(browser.pageErrors, []);
    assert.deepEqual(browser.consoleErrors, []);
  });
});
