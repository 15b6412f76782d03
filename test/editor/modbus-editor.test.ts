import assert from 'node:assert/strict';
import { closeTrays, openEditor, type EditorBrowser } from '../support/editor-browser';
import { NodeRedProcess, freePort, startNodeRed } from '../support/node-red-process';

// The workcell-modbus dialog and help in Chromium against a real Node-RED loading dist/ (npm run
// build first). No device uses the buses, so nothing connects.

/** Browser-side view of the editor's globals (typed loosely: this runs in the page). */
declare const RED: any; // eslint-disable-line @typescript-eslint/no-explicit-any
declare const $: any; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('workcell-modbus in the editor (Chromium + a real Node-RED)', function () {
  this.timeout(120_000);
  let red: NodeRedProcess;
  let browser: EditorBrowser;

  before(async () => {
    const closedPort = await freePort();
    red = await startNodeRed({
      flows: [
        { id: 't1', type: 'tab', label: 'modbus' },
        { id: 'mb-line', type: 'workcell-serial', name: 'RS-485 line', address: '/dev/ttyUSB9', baudRate: 19200 },
        { id: 'mb-tcp', type: 'workcell-modbus', name: 'Furnaces', address: `tcp://127.0.0.1:${closedPort}`, timeout: 750, maxInFlight: 8 },
        { id: 'mb-rtu', type: 'workcell-modbus', name: 'Presses', address: '', serial: 'mb-line', parity: 'even' },
      ],
      settings: { editorTheme: { palette: { catalogues: [] } } },
    });
    browser = await openEditor(red.url, { ready: () => RED.nodes.node('mb-rtu') });
  });

  after(async () => {
    await browser?.close();
    await red?.stop();
  });


  it('shows the saved values, and only the rows that apply to the address or serial node chosen', async () => {
    const page = browser.page;
    await page.evaluate(() => RED.editor.editConfig('', 'workcell-modbus', 'mb-tcp'));
    await page.waitForSelector('#node-config-input-maxInFlight', { state: 'visible' });
    const visible = () => page.evaluate(() => ({
      address: $('#node-config-input-address').is(':visible'),
      line: $('#node-config-input-baudRate').is(':visible'),
      inFlight: $('#node-config-input-maxInFlight').is(':visible'),
    }));
    assert.deepEqual(await page.evaluate(() => ({
      name: $('#node-config-input-name').val(),
      timeout: $('#node-config-input-timeout').val(),
      maxInFlight: $('#node-config-input-maxInFlight').val(),
      framing: $('#node-config-input-framing').val(),
      label: $('label[for="node-config-input-maxInFlight"]').text().trim(),
    })), { name: 'Furnaces', timeout: '750', maxInFlight: '8', framing: 'auto', label: 'In flight' });
    assert.deepEqual(await visible(), { address: true, line: false, inFlight: true });
    // A serial path: the line settings apply, the TCP in-flight bound does not.
    await page.fill('#node-config-input-address', '/dev/ttyUSB0');
    await page.evaluate(() => $('#node-config-input-address').trigger('change'));
    assert.deepEqual(await visible(), { address: true, line: true, inFlight: false });
    // The port picker (shared with the serial connection's dialog) offers the ports the runtime lists, or says why there are none.
    const listed = (await (await fetch(new URL('workcell/serial-ports', red.url))).json()) as { ports: { path: string }[]; error?: string };
    await page.click('#workcell-modbus-pick-port');
    if (listed.ports.length > 0) {
      await page.waitForSelector('ul.ui-autocomplete li', { state: 'visible' });
      const offered = await page.evaluate(() => $('ul.ui-autocomplete:visible li').map((_i: number, e: { textContent: string }) => e.textContent).get());
      assert.deepEqual(offered.map((t: string) => t.split(' — ')[0]), listed.ports.map((p) => p.path));
    } else {
      await page.waitForFunction(() => /type the path/.test($('#workcell-modbus-ports-message').text()));
    }
    await closeTrays(browser.page);

    await page.evaluate(() => RED.editor.editConfig('', 'workcell-modbus', 'mb-rtu'));
    await page.waitForSelector('#node-config-input-timeout', { state: 'visible' });
    assert.equal(await page.evaluate(() => $('#node-config-input-serial').val()), 'mb-line');
    // The serial node gives the line: no address, no line settings here.
    assert.deepEqual(await visible(), { address: false, line: false, inFlight: false });
    await closeTrays(browser.page);
  });

  it('renders its help, every property line as a property', async () => {
    const h = await browser.page.evaluate(() => {
      RED.sidebar.help.show('workcell-modbus');
      const section = $('.red-ui-sidebar-help-stack .red-ui-help').first();
      return {
        headings: section.find('h3').map((_i: number, e: { textContent: string }) => e.textContent.trim()).get(),
        properties: section.find('dl.message-properties > dt').length,
        source: ($('script[data-help-name="workcell-modbus"]').text().match(/^: /gm) || []).length,
      };
    });
    assert.deepEqual(h.headings, ['Properties', 'Details']);
    assert.equal(h.properties, h.source);
    assert.equal(h.properties, 7);
    assert.deepEqual(browser.pageErrors, [], 'the editor raised no error');
    assert.deepEqual(browser.consoleErrors, [], 'the editor logged no error');
  });
});
