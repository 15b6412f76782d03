import assert from 'node:assert/strict';
import { join } from 'node:path';
import { closeTrays, openEditor, type EditorBrowser } from '../support/editor-browser';
import { NodeRedProcess, freePort, packageRoot, startNodeRed } from '../support/node-red-process';

// The furnace dialogs and help in Chromium against a real Node-RED loading dist/ (npm run build
// first). The bus points at a closed port: only the editor is under test.

/** Browser-side view of the editor's globals (typed loosely: this runs in the page). */
declare const RED: any; // eslint-disable-line @typescript-eslint/no-explicit-any
declare const $: any; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('furnace nodes in the editor (Chromium + a real Node-RED)', function () {
  this.timeout(120_000);
  let red: NodeRedProcess;
  let browser: EditorBrowser;

  before(async () => {
    const closedPort = await freePort();
    red = await startNodeRed({
      flows: [
        { id: 't1', type: 'tab', label: 'furnace' },
        { id: 'f-cell', type: 'workcell-abort-context', name: 'Cell F', safeTimeout: '3', stopTimeout: '1', resetTimeout: '4' },
        { id: 'f-bus', type: 'workcell-modbus', name: 'Furnace line', address: `tcp://127.0.0.1:${closedPort}` },
        { id: 'f-oven', type: 'workcell-furnace-device', name: 'Oven', bus: 'f-bus', unitId: 3, preset: 'eurotherm-3216', maxSetpoint: 900, safeSetpoint: 40, cell: 'f-cell' },
        { id: 'f-ramp', type: 'workcell-furnace', x: 200, y: 80, z: 't1', name: '', device: 'f-oven', operation: 'ramp', params: { to: 600, rate: 5 }, wires: [[]] },
      ],
      settings: { editorTheme: { palette: { catalogues: [] } } },
    });
    browser = await openEditor(red.url, { ready: () => RED.nodes.node('f-ramp') });
  });

  after(async () => {
    await browser?.close();
    await red?.stop();
  });


  it('the device dialog shows its saved values, the generic map only with the generic preset, and refuses limits out of order', async () => {
    const page = browser.page;
    await page.evaluate(() => RED.editor.editConfig('', 'workcell-furnace-device', 'f-oven'));
    await page.waitForSelector('#node-config-input-unitId', { state: 'visible' });
    assert.deepEqual(await page.evaluate(() => ({
      name: $('#node-config-input-name').val(),
      unitId: $('#node-config-input-unitId').val(),
      preset: $('#node-config-input-preset').val(),
      max: $('#node-config-input-maxSetpoint').val(),
      safe: $('#node-config-input-safeSetpoint').val(),
      map: $('#node-config-input-pvRegister').is(':visible'),
    })), { name: 'Oven', unitId: '3', preset: 'eurotherm-3216', max: '900', safe: '40', map: false });
    await page.evaluate(() => $('#node-config-input-preset').val('generic').trigger('change'));
    assert.equal(await page.evaluate(() => $('#node-config-input-pvRegister').is(':visible')), true);
    const invalid = (field: string, value: string) => page.evaluate(([f, v]) => {
      $(`#node-config-input-${f}`).val(v).trigger('change');
      return $(`#node-config-input-${f}`).hasClass('input-error');
    }, [field, value]);
    assert.equal(await invalid('maxSetpoint', '-5'), true, 'the highest setpoint below the lowest is refused');
    assert.equal(await invalid('maxSetpoint', '1000'), false);
    assert.equal(await invalid('safeSetpoint', '1001'), true, 'a safe setpoint outside the limits is refused');
    assert.equal(await invalid('safeSetpoint', ''), false, 'blank: the lowest setpoint');
    assert.equal(await invalid('pvRegister', '70000'), true);
    await closeTrays(browser.page);
  });

  it('the action node form offers the furnace operations from the runtime table, prefilled from the node', async () => {
    const page = browser.page;
    const table = (require(join(packageRoot(), 'dist', 'lib', 'devices', 'furnace', 'operations.js')) as { FURNACE_OPERATIONS: { name: string }[] }).FURNACE_OPERATIONS;
    await page.evaluate(() => RED.editor.edit(RED.nodes.node('f-ramp')));
    await page.waitForSelector('#node-input-operation');
    await page.waitForSelector('#node-input-param-rate', { state: 'attached' });
    assert.deepEqual(await page.evaluate(() => ({
      operations: $('#node-input-operation option').map((_i: number, o: { value: string }) => o.value).get(),
      operation: $('#node-input-operation').val(),
      to: $('#node-input-param-to').typedInput('value'),
      rate: $('#node-input-param-rate').typedInput('value'),
    })), { operations: table.map((o) => o.name), operation: 'ramp', to: '600', rate: '5' });
    await closeTrays(browser.page);
  });

  it('renders both helps, every property line as a property, the operations section derived from the table', async () => {
    const page = browser.page;
    for (const [type, headings] of [['workcell-furnace-device', ['Properties', 'Details']], ['workcell-furnace', ['Inputs', 'Outputs', 'Details', 'Operations']]] as const) {
      const h = await page.evaluate((t) => {
        RED.sidebar.help.show(t);
        const section = $('.red-ui-sidebar-help-stack .red-ui-help').first();
        return {
          headings: section.find('h3').map((_i: number, e: { textContent: string }) => e.textContent.trim()).get(),
          properties: section.find('dl.message-properties > dt').length,
          source: ($(`script[data-help-name="${t}"]`).text().match(/^: /gm) || []).length,
        };
      }, type);
      assert.deepEqual(h.headings, headings, type);
      assert.equal(h.properties, h.source, `${type}: every property line renders as a property`);
    }
    assert.deepEqual(browser.pageErrors, [], 'the editor raised no error');
    assert.deepEqual(browser.consoleErrors, [], 'the editor logged no error');
  });
});
