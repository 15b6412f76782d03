import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BrowserContext, Page, chromium } from 'playwright-core';
import { NodeRedProcess, freePort, packageRoot, startNodeRed } from '../support/node-red-process';

// The editor parts are tested in a real browser: Debian's Chromium, driven by playwright-core,
// against a real Node-RED child process that loads this package from dist/ (npm run build first).
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];

/** Browser-side view of the editor's globals (typed loosely: this runs in the page). */
declare const RED: any; // eslint-disable-line @typescript-eslint/no-explicit-any
declare const $: any; // eslint-disable-line @typescript-eslint/no-explicit-any
declare const WorkcellDeviceForm: unknown;
declare const WorkcellCellField: any; // eslint-disable-line @typescript-eslint/no-explicit-any
/** The slice of a DOM element the page callbacks read (the test compiles without the DOM lib). */
interface DomElement {
  textContent: string | null;
  value: string;
  getAttribute(name: string): string | null;
}

const at = (x: number, y: number) => ({ x, y, z: 't1' });

/**
 * One of each control node and a memory device kind action node, all in one cell; a shipped
 * kind (the SCPI instrument) in a second cell, its device pointed at a closed port (only its
 * editor form and help are under test here).
 */
const flows = (closedPort: number) => [
  { id: 't1', type: 'tab', label: 'editor test' },
  { id: 'wc-cell', type: 'workcell-abort-context', name: 'Cell A', safeTimeout: '3', stopTimeout: '1', resetTimeout: '4', redeploy: 'estop-cell' },
  { id: 'wc-seq', type: 'workcell-sequence', ...at(160, 80), name: 'Load', cell: 'wc-cell', concurrency: 'queue', timeout: '30', policy: 'report-only', wires: [[], []] },
  { id: 'wc-end', type: 'workcell-sequence-end', ...at(160, 160), name: '', cell: 'wc-cell', outcome: 'cancel', wires: [] },
  { id: 'wc-estop', type: 'workcell-estop', ...at(160, 240), name: 'Big red', cell: 'wc-cell', action: 'estop', wires: [[]] },
  { id: 'wc-status', type: 'workcell-cell-status', ...at(160, 320), name: 'Watch', cell: 'wc-cell', wires: [[]] },
  {
    id: 'wc-wait',
    type: 'workcell-wait',
    ...at(420, 80),
    name: '',
    cell: 'wc-cell',
    mode: 'until',
    delay: '1',
    units: 's',
    source: 'flow',
    property: 'door.closed',
    operator: 'gte',
    value: '3.5',
    valueType: 'num',
    topic: 'condition',
    timeout: '5',
    onTimeout: 'output',
    poll: '250',
    outputs: 2,
    wires: [[], []],
  },
  { id: 'wc-memdev', type: 'workcell-memory-device', name: 'mem', cell: 'wc-cell' },
  { id: 'wc-mem', type: 'workcell-memory', ...at(420, 160), name: '', device: 'wc-memdev', operation: 'move', params: { position: 12.5 }, wires: [[]] },
  { id: 'wc-cell2', type: 'workcell-abort-context', name: 'Cell B', safeTimeout: '1', stopTimeout: '1', resetTimeout: '2', redeploy: 'stop-affected' },
  {
    id: 'wc-instdev',
    type: 'workcell-instrument-device',
    name: 'dmm',
    address: `tcp://127.0.0.1:${closedPort}`,
    preset: 'keysight-34461a',
    terminator: 'lf',
    errorCheck: true,
    timeout: '1',
    telemetryInterval: '0',
    cell: 'wc-cell2',
    safeGroup: '0',
    ownership: 'wait',
    critical: false,
  },
  { id: 'wc-inst', type: 'workcell-instrument', ...at(420, 240), name: '', device: 'wc-instdev', operation: 'query', params: { command: '*IDN?' }, wires: [[]] },
  {
    id: 'wc-gantrydev',
    type: 'workcell-gantry-device',
    name: 'mill',
    serial: '',
    address: `tcp://127.0.0.1:${closedPort}`,
    baudRate: 115200,
    pollInterval: 200,
    xMin: '',
    xMax: '',
    yMin: '',
    yMax: '',
    zMin: '',
    zMax: '',
    allowUnlock: false,
    safeSpindleOff: true,
    safeCoolantOff: true,
    estopHold: 0,
    cancelHold: 2000,
    programDir: '',
    cell: 'wc-cell2',
    safeGroup: 0,
    ownership: 'wait',
    critical: false,
  },
  { id: 'wc-gantry', type: 'workcell-gantry', ...at(420, 320), name: '', device: 'wc-gantrydev', operation: 'move', params: { x: -5, feed: 500 }, wires: [[]] },
];

const CONTROL_TYPES: Record<string, string> = {
  'workcell-sequence': 'sequence',
  'workcell-sequence-end': 'sequence end',
  'workcell-estop': 'estop',
  'workcell-cell-status': 'cell status',
  'workcell-wait': 'wait',
  'workcell-gantry': 'gantry',
  'workcell-instrument': 'instrument',
};

/** Every node type of the package with the help sections it must render, in the help's order. */
const HELP_SECTIONS: Record<string, string[]> = {
  'workcell-abort-context': ['Properties', 'Details'],
  'workcell-sequence': ['Inputs', 'Outputs', 'Details'],
  'workcell-sequence-end': ['Inputs', 'Details'],
  'workcell-estop': ['Inputs', 'Outputs', 'Details'],
  'workcell-cell-status': ['Properties', 'Inputs', 'Outputs', 'Details'],
  'workcell-wait': ['Inputs', 'Outputs', 'Details'],
  'workcell-serial': ['Properties', 'Details'],
  'workcell-modbus': ['Properties', 'Details'],
  'workcell-gantry-device': ['Properties', 'Details'],
  'workcell-gantry': ['Inputs', 'Outputs', 'Details', 'Operations'],
  'workcell-instrument-device': ['Properties', 'Details'],
  'workcell-instrument': ['Inputs', 'Outputs', 'Details', 'Operations'],
  'workcell-furnace-device': ['Properties', 'Details'],
  'workcell-furnace': ['Inputs', 'Outputs', 'Details', 'Operations'],
  'workcell-mqtt': ['Properties', 'Details'],
  'workcell-press-device': ['Properties', 'Details'],
  'workcell-press': ['Inputs', 'Outputs', 'Details', 'Operations'],
  'workcell-actuator-device': ['Properties', 'Details'],
  'workcell-actuator': ['Inputs', 'Outputs', 'Details', 'Operations'],
};

describe('editor (Chromium + a real Node-RED)', function () {
  this.timeout(120_000);
  let red: NodeRedProcess;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  const pageErrors: string[] = [];
  const consoleErrors: string[] = [];

  before(async function () {
    if (!existsSync(CHROMIUM)) throw new Error(`the editor tests need Chromium at ${CHROMIUM} (Debian package "chromium"); it is missing`);
    red = await startNodeRed({
      flows: flows(await freePort()),
      modules: { 'workcell-test-memory-kind': join(packageRoot(), 'test', 'editor', 'fixtures', 'memory-kind') },
      // No palette catalogue: this machine has no route to the Flow Library, and the editor's
      // console must stay free of errors that are not ours.
      settings: { editorTheme: { palette: { catalogues: [] } } },
    });
    profile = mkdtempSync(join(tmpdir(), 'workcell-chromium-'));
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1400, height: 900 } });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (err) => pageErrors.push(`${err.message}\n${err.stack ?? ''}`));
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(`${m.text()} (${m.location().url})`);
    });
    await page.goto(red.url);
    await page.waitForFunction(() => typeof RED !== 'undefined' && RED.nodes && RED.nodes.node('wc-estop') && $('.red-ui-palette-node').length > 0, null, { timeout: 60_000 });
    // The welcome tour of a fresh profile opens shortly after the flows load and covers the
    // workspace: wait for it, dismiss it with Escape, and make sure it is gone.
    const tour = await page.waitForSelector('.red-ui-tourGuide-shade', { state: 'visible', timeout: 20_000 }).then(
      () => true,
      () => false,
    );
    if (tour) {
      // The tour positions its popover 100 ms after opening it and throws if it was closed by then.
      await page.waitForSelector('.red-ui-tourGuide-popover', { state: 'visible' });
      await page.waitForTimeout(250);
      await page.keyboard.press('Escape');
    }
    await page.waitForFunction(() => $('.red-ui-tourGuide-shade:visible').length === 0);
  });

  after(async function () {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    await red?.stop();
  });

  afterEach(async function () {
    if (!page) return;
    if (this.currentTest?.state === 'failed') {
      const file = join(tmpdir(), `workcell-editor-${this.currentTest.title.replace(/\W+/g, '-').slice(0, 60)}.png`);
      await page.screenshot({ path: file }).then(() => console.error(`    screenshot of the failure: ${file}`), () => undefined);
    }
    await closeTrays();
  });

  /** Close every open edit tray (as Cancel does) and wait until the closing animation has removed them. */
  async function closeTrays(): Promise<void> {
    for (let i = 0; i < 5; i++) {
      const open = await page.evaluate(() => $('#red-ui-editor-stack .red-ui-tray').length);
      if (open === 0) break;
      await page.evaluate(() => RED.tray.close());
      await page.waitForFunction((n) => $('#red-ui-editor-stack .red-ui-tray').length < n, open);
    }
    await page.waitForFunction(() => $('#red-ui-editor-stack .red-ui-tray').length === 0 && $('#dialog-form').length === 0);
  }

  /** Open a flow node's edit dialog and wait until it is in the DOM. */
  async function edit(id: string): Promise<void> {
    await page.evaluate((nodeId) => RED.editor.edit(RED.nodes.node(nodeId)), id);
    await page.waitForSelector('#dialog-form', { state: 'visible' });
  }

  /** The text of a node type's help as the help sidebar renders it: title and section headings. */
  async function help(type: string): Promise<{ title: string; headings: string[]; properties: string[]; text: string; sourceProperties: number }> {
    const h = await page.evaluate((t) => {
      RED.sidebar.help.show(t);
      const section = $('.red-ui-sidebar-help-stack .red-ui-help').first();
      return {
        title: section.find('.red-ui-help-title').text(),
        headings: section.find('h3').map((_i: number, e: DomElement) => e.textContent!.trim()).get(),
        // Message properties as Node-RED renders `: name (type) : text` lines: "name type".
        properties: section.find('dl.message-properties > dt').map((_i: number, e: DomElement) => e.textContent!.trim()).get(),
        text: section.text(),
        // How many `: name (type) : text` lines the source has: each must become one <dt>.
        sourceProperties: ($(`script[data-help-name="${t}"]`).text().match(/^: /gm) || []).length,
      };
    }, type);
    assert.equal(h.properties.length, h.sourceProperties, `${type} help: every property line renders as a message property (a colon in a description breaks Node-RED's parser)`);
    // A property line Node-RED could not render (a wrapped line, a missing type) shows up raw.
    assert.doesNotMatch(h.text, /(^|\n)\s*: [^:\n]+ \([^)]*\) :/, `${type} help has a property line that did not render`);
    return h;
  }

  /** i18n keys that were not found show up as the raw key: no dialog may contain one. */
  const RAW_KEY = /\b(abort-context|sequence|sequence-end|estop|cell-status|wait|deviceForm)\.(label|placeholder|tip|errors|mode|units|operator|source|onTimeout|action|outcome|concurrency|policy|redeploy|devices)\b/;

  it('the palette has a workcell category with every flow node, labelled without the prefix, with its own icon', async () => {
    const palette = await page.evaluate((types) => {
      const out: Record<string, { label: string; icon: string } | null> = {};
      for (const type of Object.keys(types)) {
        const el = $(`#red-ui-palette-container-workcell .red-ui-palette-node[data-palette-type="${type}"]`);
        out[type] = el.length ? { label: el.find('.red-ui-palette-label').text().replace(/\s+/g, ' ').trim(), icon: el.find('.red-ui-palette-icon').css('background-image') } : null;
      }
      return out;
    }, CONTROL_TYPES);
    for (const [type, label] of Object.entries(CONTROL_TYPES)) {
      assert.ok(palette[type], `${type} is in the workcell palette category`);
      assert.equal(palette[type]!.label, label);
      const icon = /url\("?([^")]+)"?\)/.exec(palette[type]!.icon)?.[1];
      assert.ok(icon && icon.endsWith(`/${type.replace('workcell-', '')}.svg`), `${type} uses its own icon, got ${palette[type]!.icon}`);
      const res = await fetch(new URL(icon, red.url));
      assert.equal(res.status, 200, `icon ${icon} is served`);
      assert.match(res.headers.get('content-type') ?? '', /svg/);
    }
    assert.equal(await page.evaluate(() => $('.red-ui-palette-node[data-palette-type="workcell-abort-context"]').length), 0, 'the cell is a config node, not in the palette');
  });

  it('the abort context (config) form shows its saved values and help', async () => {
    await page.evaluate(() => RED.editor.editConfig('', 'workcell-abort-context', 'wc-cell'));
    await page.waitForSelector('#node-config-input-safeTimeout', { state: 'visible' });
    const form = await page.evaluate(() => ({
      name: $('#node-config-input-name').val(),
      safeTimeout: $('#node-config-input-safeTimeout').val(),
      stopTimeout: $('#node-config-input-stopTimeout').val(),
      resetTimeout: $('#node-config-input-resetTimeout').val(),
      resetLabel: $('label[for="node-config-input-resetTimeout"]').text().trim(),
      redeploy: $('#node-config-input-redeploy').val(),
      redeployText: $('#node-config-input-redeploy option:selected').text(),
      label: $('label[for="node-config-input-safeTimeout"]').text().trim(),
      text: $('#node-config-dialog-edit-form').text(),
    }));
    assert.deepEqual([form.name, form.safeTimeout, form.stopTimeout, form.resetTimeout, form.redeploy], ['Cell A', '3', '1', '4', 'estop-cell']);
    assert.equal(form.label, 'Safe routine');
    assert.equal(form.resetLabel, 'Reset');
    assert.equal(form.redeployText, 'emergency-stop the whole cell');
    assert.doesNotMatch(form.text, RAW_KEY);
    // Validation: a timeout of 0 s is refused in the form.
    const invalid = await page.evaluate(() => {
      $('#node-config-input-safeTimeout').val('0').trigger('change');
      return $('#node-config-input-safeTimeout').hasClass('input-error');
    });
    assert.equal(invalid, true, 'a safe-routine timeout of 0 is marked invalid');
    const h = await help('workcell-abort-context');
    assert.equal(h.title, 'abort context');
    assert.ok(h.headings.includes('Properties') && h.headings.includes('Details'), `help sections: ${h.headings}`);
    assert.deepEqual(h.properties, [
      'Namestring',
      'Safe routineseconds',
      'Stop ackseconds',
      'Resetseconds',
      'Heartbeatseconds',
      'MQTT brokerworkcell-mqtt',
      'E-stop topicstring',
      'Command topicstring',
      'Reply topicstring',
      'Status topicstring',
      'Heartbeat topicstring',
      'On broker losschoice',
      'On redeploychoice',
    ]);
    // The MQTT broker node's help renders every property too (help() checks each line).
    const mqttHelp = await help('workcell-mqtt');
    assert.equal(mqttHelp.title, 'MQTT broker');
    assert.equal(mqttHelp.properties.length, 10);
    assert.match(h.text, /latch/);
    assert.match(h.text, /redeploy/i);
  });

  it('the sequence form shows its saved values, two labelled outputs and help on outputs and semantics', async () => {
    await edit('wc-seq');
    const form = await page.evaluate(() => ({
      name: $('#node-input-name').val(),
      cell: $('#node-input-cell').val(),
      concurrency: $('#node-input-concurrency').val(),
      timeout: $('#node-input-timeout').val(),
      policy: $('#node-input-policy').val(),
      concurrencyLabel: $('label[for="node-input-concurrency"]').text().trim(),
      text: $('#dialog-form').text(),
      outputs: RED.nodes.node('wc-seq').outputs,
      outputLabels: [0, 1].map((i) => RED.nodes.node('wc-seq')._def.outputLabels.call(RED.nodes.node('wc-seq'), i)),
    }));
    assert.deepEqual([form.name, form.cell, form.concurrency, form.timeout, form.policy], ['Load', 'wc-cell', 'queue', '30', 'report-only']);
    assert.equal(form.concurrencyLabel, 'While running');
    assert.doesNotMatch(form.text, RAW_KEY);
    assert.equal(form.outputs, 2);
    assert.deepEqual(form.outputLabels, ['steps (msg.workcell = run)', 'outcome of the run']);
    const h = await help('workcell-sequence');
    assert.equal(h.title, 'sequence');
    for (const section of ['Inputs', 'Outputs', 'Details']) assert.ok(h.headings.includes(section), `help has ${section}: ${h.headings}`);
    assert.deepEqual(h.properties, ['payloadany', 'workcellobject', 'payloadany', 'payloadobject', 'workcellobject', 'topicstring'], 'input, then output 1 (steps), then output 2 (outcome)');
    for (const word of ['msg.workcell'.replace('msg.', ''), 'timed-out', 'aborted', 'checkpoint', 'held', 'Redeploy']) assert.ok(h.text.includes(word), `sequence help mentions ${word}`);
  });

  it('the sequence end, estop and cell status forms show their saved values and help', async () => {
    await edit('wc-end');
    assert.deepEqual(await page.evaluate(() => [$('#node-input-cell').val(), $('#node-input-outcome').val(), $('#node-input-outcome option:selected').text()]), [
      'wc-cell',
      'cancel',
      'cancel it (devices stopped and made safe)',
    ]);
    assert.equal(await page.evaluate(() => RED.nodes.node('wc-end').outputs), 0);
    await closeTrays();

    await edit('wc-estop');
    const estop = await page.evaluate(() => ({ name: $('#node-input-name').val(), action: $('#node-input-action').val(), options: $('#node-input-action option').map((_i: number, o: DomElement) => o.value).get(), text: $('#dialog-form').text() }));
    assert.deepEqual(estop.options, ['estop', 'halt', 'reset', 'hold', 'resume', 'cancel', 'heartbeat']);
    assert.equal(estop.name, 'Big red');
    assert.equal(estop.action, 'estop');
    assert.doesNotMatch(estop.text, RAW_KEY);
    await closeTrays();

    await edit('wc-status');
    assert.deepEqual(await page.evaluate(() => [$('#node-input-name').val(), $('#node-input-cell').val(), $('#node-input-devices').val(), $('#node-input-devices option:selected').text()]), [
      'Watch',
      'wc-cell',
      'changes',
      'connection, faults and homing (not busy/ready)',
    ]);

    const endHelp = await help('workcell-sequence-end');
    assert.equal(endHelp.title, 'sequence end');
    assert.ok(endHelp.headings.includes('Inputs'));
    const estopHelp = await help('workcell-estop');
    assert.ok(estopHelp.headings.includes('Inputs') && estopHelp.headings.includes('Outputs') && estopHelp.headings.includes('Details'));
    assert.match(estopHelp.text, /not\s+a checkpoint/);
    const statusHelp = await help('workcell-cell-status');
    assert.deepEqual(statusHelp.properties, ['Cellworkcell-abort-context', 'Device eventschoice', 'payloadany', 'topicstring', 'payloadobject']);
    assert.match(statusHelp.text, /stop-report/);
    assert.match(statusHelp.text, /snapshot/);
  });

  it('the wait form shows its saved until-condition, hides what does not apply, validates, and saving as a delay drops the second output', async () => {
    await edit('wc-wait');
    const form = await page.evaluate(() => ({
      mode: $('#node-input-mode').val(),
      source: $('#node-input-property').typedInput('type'),
      property: $('#node-input-property').typedInput('value'),
      operator: $('#node-input-operator').val(),
      valueType: $('#node-input-value').typedInput('type'),
      value: $('#node-input-value').typedInput('value'),
      timeout: $('#node-input-timeout').val(),
      onTimeout: $('#node-input-onTimeout').val(),
      poll: $('#node-input-poll').val(),
      pollShown: $('.workcell-wait-poll').is(':visible'),
      topicShown: $('.workcell-wait-topic').is(':visible'),
      delayShown: $('.workcell-wait-delay').is(':visible'),
      text: $('#dialog-form').text(),
    }));
    assert.deepEqual(
      [form.mode, form.source, form.property, form.operator, form.valueType, form.value, form.timeout, form.onTimeout, form.poll],
      ['until', 'flow', 'door.closed', 'gte', 'num', '3.5', '5', 'output', '250'],
    );
    assert.deepEqual([form.pollShown, form.topicShown, form.delayShown], [true, false, false], 'context source: poll shown, topic and delay hidden');
    assert.doesNotMatch(form.text, RAW_KEY);
    assert.equal(await page.evaluate(() => RED.nodes.node('wc-wait').outputs), 2);

    const poll = await page.evaluate(() => {
      $('#node-input-poll').val('5').trigger('change');
      const bad = $('#node-input-poll').hasClass('input-error');
      $('#node-input-poll').val('250').trigger('change');
      return { bad, good: !$('#node-input-poll').hasClass('input-error') };
    });
    assert.deepEqual(poll, { bad: true, good: true }, 'a poll interval under 10 ms is marked invalid');

    const delay = await page.evaluate(() => {
      $('#node-input-mode').val('delay').trigger('change');
      $('#node-input-delay').val('2').trigger('change');
      return { delayShown: $('.workcell-wait-delay').is(':visible'), untilShown: $('.workcell-wait-until').is(':visible') };
    });
    assert.deepEqual(delay, { delayShown: true, untilShown: false });
    await page.click('#node-dialog-ok');
    await page.waitForSelector('#dialog-form', { state: 'detached' });
    const saved = await page.evaluate(() => {
      const n = RED.nodes.node('wc-wait');
      return { mode: n.mode, delay: String(n.delay), units: n.units, onTimeout: n.onTimeout, outputs: n.outputs, valid: n.valid, changed: n.changed };
    });
    assert.deepEqual(saved, { mode: 'delay', delay: '2', units: 's', onTimeout: 'fail', outputs: 1, valid: true, changed: true });

    const h = await help('workcell-wait');
    for (const section of ['Inputs', 'Outputs', 'Details']) assert.ok(h.headings.includes(section), `wait help has ${section}`);
    assert.deepEqual(h.properties, ['workcellobject', 'delaynumber', 'topicstring', 'payloadany', 'payloadany']);
    assert.match(h.text, /emergency stop/);
  });

  it('the shared device form renders the kind\'s operations from the runtime, prefilled, with hints and client-side validation, and saves typed params', async () => {
    assert.equal(await page.evaluate(() => typeof WorkcellDeviceForm), 'object', 'resources/device-form.js is served and loaded');
    await edit('wc-mem');
    await page.waitForSelector('#node-input-operation');
    const form = await page.evaluate(() => ({
      operations: $('#node-input-operation option').map((_i: number, o: DomElement) => o.value).get(),
      operation: $('#node-input-operation').val(),
      description: $('.workcell-device-description').text(),
      position: $('#node-input-param-position').typedInput('value'),
      positionType: $('#node-input-param-position').typedInput('type'),
      ms: $('#node-input-param-ms').typedInput('value'),
      placeholder: $('#node-input-param-position').attr('placeholder'),
      hints: $('.workcell-device-param-hint').map((_i: number, e: DomElement) => e.textContent).get(),
      label: $('label[for="node-input-operation"]').text().trim(),
    }));
    assert.deepEqual(form.operations, ['move', 'noop', 'fail']);
    assert.equal(form.operation, 'move');
    assert.equal(form.label, 'Operation');
    assert.match(form.description, /Move to a position/);
    assert.equal(form.position, '12.5', 'prefilled from node.params');
    assert.equal(form.positionType, 'num');
    assert.equal(form.ms, '10', 'prefilled from the spec default');
    assert.equal(form.placeholder, '-100 … 100 mm');
    assert.match(form.hints[0], /mm, -100 … 100, required/);
    assert.match(form.hints[1], /default 10/);

    const tooFar = await page.evaluate(() => {
      $('#node-input-param-position').typedInput('value', '500');
      $('#node-input-param-position').trigger('change');
      return $('.workcell-device-param[data-param="position"] .workcell-device-param-error').text();
    });
    assert.equal(tooFar, 'Position must be at most 100 mm');
    const missing = await page.evaluate(() => {
      $('#node-input-param-position').typedInput('value', '');
      $('#node-input-param-position').trigger('change');
      return $('.workcell-device-param[data-param="position"] .workcell-device-param-error').text();
    });
    assert.equal(missing, 'Position is required');

    const fail = await page.evaluate(() => {
      $('#node-input-operation').val('fail').trigger('change');
      return { params: $('.workcell-device-param').map((_i: number, e: DomElement) => e.getAttribute('data-param')).get(), message: $('#node-input-param-message').typedInput('value'), description: $('.workcell-device-description').text() };
    });
    assert.deepEqual([fail.params, fail.message], [['message'], 'boom'], 'another operation starts from its defaults');
    assert.match(fail.description, /Fail with a device error/);
    const noop = await page.evaluate(() => {
      $('#node-input-operation').val('noop').trigger('change');
      return $('.workcell-device-params').text();
    });
    assert.match(noop, /no parameters/);

    await page.evaluate(() => {
      $('#node-input-operation').val('move').trigger('change');
      $('#node-input-param-position').typedInput('value', '42');
      $('#node-input-param-ms').typedInput('value', '');
    });
    await page.click('#node-dialog-ok');
    await page.waitForSelector('#dialog-form', { state: 'detached' });
    const saved = await page.evaluate(() => ({ operation: RED.nodes.node('wc-mem').operation, params: RED.nodes.node('wc-mem').params }));
    assert.deepEqual(saved, { operation: 'move', params: { position: 42 } }, 'typed per spec, empty fields omitted');
  });

  it('a shipped kind (instrument) gets the same form from its table, and its help the operations section the build derived from it', async () => {
    const table = (require(join(packageRoot(), 'dist', 'lib', 'devices', 'instrument', 'operations.js')) as { INSTRUMENT_OPERATIONS: { name: string; label: string }[] }).INSTRUMENT_OPERATIONS;
    await edit('wc-inst');
    await page.waitForSelector('#node-input-operation');
    const form = await page.evaluate(() => ({
      operations: $('#node-input-operation option').map((_i: number, o: DomElement) => o.value).get(),
      operation: $('#node-input-operation').val(),
      params: $('.workcell-device-param').map((_i: number, e: DomElement) => e.getAttribute('data-param')).get(),
      command: $('#node-input-param-command').typedInput('value'),
    }));
    assert.deepEqual(form.operations, table.map((o) => o.name));
    assert.equal(form.operation, 'query');
    assert.deepEqual(form.params, ['command', 'timeoutMs']);
    assert.equal(form.command, '*IDN?');
    // A required boolean without a default is a choice to make, flagged until made.
    const output = await page.evaluate(() => {
      $('#node-input-operation').val('output').trigger('change');
      const before = { type: $('#node-input-param-on').typedInput('type'), value: $('#node-input-param-on').typedInput('value'), error: $('.workcell-device-param[data-param="on"] .workcell-device-param-error').text() };
      $('#node-input-param-on').typedInput('value', 'true');
      $('#node-input-param-on').trigger('change');
      return { before, after: $('.workcell-device-param[data-param="on"] .workcell-device-param-error').text() };
    });
    assert.deepEqual(output, { before: { type: 'workcell-boolean', value: '', error: 'On is required' }, after: '' });
    const helpHtml: string = await page.evaluate(() => RED.nodes.getNodeHelp('workcell-instrument'));
    assert.match(helpHtml, /<h3[^>]*>Operations<\/h3>/, 'the marker was replaced by the operations help');
    for (const op of table) assert.ok(helpHtml.includes(`${op.label} (<code>${op.name}</code>)`), `help documents ${op.name}`);
    assert.doesNotMatch(helpHtml, /workcell:operations/);
  });

  it("the estop node's button trips the deployed cell, says so, and is disabled while the node has undeployed changes", async () => {
    assert.equal(await page.evaluate(() => RED.nodes.node('wc-status').status?.text), 'ready', 'the cell-status node shows the cell ready before the trip');
    const button = page.locator('[id="wc-estop"] .red-ui-flow-node-button-button');
    await button.click();
    await page.waitForFunction(() => $('.red-ui-notification').text().includes('is now aborted'), null, { timeout: 15_000 });
    assert.match(await page.evaluate(() => $('.red-ui-notification').text()), /estop: cell "Cell A" is now aborted/);
    // The runtime's view: the cell-status node's status (pushed from the runtime) says aborted.
    await page.waitForFunction(() => RED.nodes.node('wc-status').status?.text === 'aborted', null, { timeout: 10_000 });
    await page.waitForFunction(() => RED.nodes.node('wc-estop').status?.text === 'estop: aborted', null, { timeout: 10_000 });

    // An undeployed edit disables the button: it would act on the old configuration.
    await edit('wc-estop');
    await page.evaluate(() => $('#node-input-name').val('Changed'));
    await page.click('#node-dialog-ok');
    await page.waitForSelector('#dialog-form', { state: 'detached' });
    await page.waitForFunction(() => $('[id="wc-estop"] .red-ui-flow-node-button').hasClass('red-ui-flow-node-button-disabled'));
  });

  it("every node's help renders its sections, each property on its own line", async () => {
    assert.deepEqual(await page.evaluate(() => RED.nodes.registry.getNodeTypes().filter((t: string) => t.startsWith('workcell-') && !t.startsWith('workcell-memory')).sort()), Object.keys(HELP_SECTIONS).sort(), 'every node type of the package is checked');
    for (const [type, sections] of Object.entries(HELP_SECTIONS)) {
      const h = await help(type);
      assert.deepEqual(h.headings.filter((x) => sections.includes(x)), sections, `${type} help sections: ${h.headings}`);
      if (sections.includes('Properties') || sections.includes('Inputs')) assert.ok(h.properties.length > 0, `${type} help lists its properties`);
      assert.doesNotMatch(h.title, /^workcell-/, `${type} help is titled by its name`);
    }
  });

  /** Open a config node's dialog (from the config sidebar, as the pencil does) and wait for its form. */
  async function editConfig(type: string, id: string, field: string): Promise<void> {
    await page.evaluate(([t, i]) => RED.editor.editConfig('', t, i), [type, id]);
    await page.waitForSelector(`#node-config-input-${field}`, { state: 'visible' });
  }

  /** Set a config dialog field (a text input) and say whether the form marks it invalid. */
  async function setConfigField(field: string, value: string): Promise<boolean> {
    return page.evaluate(
      ([f, v]) => {
        $(`#node-config-input-${f}`).val(v).trigger('change');
        return $(`#node-config-input-${f}`).hasClass('input-error');
      },
      [field, value],
    );
  }

  /** Save the topmost config dialog (Update / Add) and wait until its tray has closed. */
  async function saveConfig(): Promise<void> {
    const open = await page.evaluate(() => $('#red-ui-editor-stack .red-ui-tray').length);
    await page.evaluate(() => $('#node-config-dialog-ok').last().trigger('click'));
    await page.waitForFunction((n) => $('#red-ui-editor-stack .red-ui-tray').length < n, open);
  }

  it('config nodes are named, not typed: dialog titles, "Add new …" and the connection list', async () => {
    await edit('wc-gantry');
    await page.waitForSelector('#node-input-operation');
    const deviceSelect = await page.evaluate(() => $('#node-input-device option:selected').text());
    assert.equal(deviceSelect, 'mill');
    await page.evaluate(() => $('#node-input-btn-device-edit').trigger('click'));
    await page.waitForSelector('#node-config-input-serial', { state: 'attached' });
    await page.waitForFunction(() => $('#node-config-input-serial option').length > 0);
    const gantryDevice = await page.evaluate(() => ({
      title: $('.red-ui-tray-titlebar').last().text(),
      serialOptions: $('#node-config-input-serial option').map((_i: number, o: DomElement) => o.textContent).get(),
      cell: $('#node-config-input-cell option:selected').text(),
    }));
    assert.match(gantryDevice.title, /Edit gantry device node/);
    assert.doesNotMatch(gantryDevice.title, /workcell-/);
    assert.deepEqual(gantryDevice.serialOptions, ['Add new serial connection...']);
    assert.equal(gantryDevice.cell, 'Cell B');
    // The connection's "+" opens the serial connection's dialog, titled by its name.
    await page.evaluate(() => $('#node-config-input-btn-serial-add').trigger('click'));
    await page.waitForFunction(() => /Add new serial connection config node/.test($('.red-ui-tray-titlebar').last().text()));
    await page.waitForSelector('#node-config-input-backoffMax', { state: 'visible' });
    // The nested dialogs share one tray, its title a breadcrumb: cancel them one by one, as a user does.
    for (const title of ['Edit gantry nodeEdit gantry device node', 'Edit gantry node']) {
      await page.locator('[id="node-config-dialog-cancel"]').last().click();
      await page.waitForFunction((t) => $('.red-ui-tray-titlebar').last().text() === t, title);
    }
  });

  it('the serial connection and gantry device dialogs refuse bad input and save good input', async () => {
    // A serial connection as an import brings it (the "+" of a device's dialog opens the same form).
    await page.evaluate(() => RED.view.importNodes([{ id: 'wc-serial', type: 'workcell-serial', name: '', address: '/dev/ttyUSB0', baudRate: 115200, dataBits: 8, parity: 'none', stopBits: 1, delimiter: 'lf', backoffMin: 0.5, backoffMax: 15 }]));
    const serialId = 'wc-serial';
    await editConfig('workcell-serial', serialId, 'address');
    assert.match(await page.evaluate(() => $('.red-ui-tray-titlebar').last().text()), /Edit serial connection node/);
    assert.equal(await setConfigField('address', 'not a port'), true, 'a serial address that is no device path or tcp:// address is refused');
    assert.equal(await setConfigField('address', 'tcp://127.0.0.1:5025'), false);
    assert.equal(await setConfigField('backoffMax', '0.1'), true, 'a reconnect "up to" below "after" is refused');
    assert.equal(await setConfigField('backoffMax', '20'), false);
    await saveConfig();
    assert.deepEqual(await page.evaluate((id) => ({ address: RED.nodes.node(id).address, backoffMax: String(RED.nodes.node(id).backoffMax), valid: RED.nodes.node(id).valid }), serialId), {
      address: 'tcp://127.0.0.1:5025',
      backoffMax: '20',
      valid: true,
    });

    await editConfig('workcell-gantry-device', 'wc-gantrydev', 'xMin');
    assert.match(await page.evaluate(() => $('.red-ui-tray-titlebar').last().text()), /Edit gantry device node/);
    await page.evaluate((id) => $('#node-config-input-serial').val(id).trigger('change'), serialId);
    assert.equal(await page.evaluate(() => $('.workcell-gantry-address').is(':visible')), false, 'with a connection node the address is hidden');
    assert.equal(await setConfigField('xMin', '-10'), true, 'a min without its max is refused');
    assert.equal(await setConfigField('xMax', '-20'), true, 'a max below its min is refused');
    assert.equal(await page.evaluate(() => $('#node-config-input-xMin').trigger('change').hasClass('input-error')), true, 'a min above its max is refused');
    assert.equal(await setConfigField('xMax', '0'), false);
    assert.equal(await page.evaluate(() => $('#node-config-input-xMin').trigger('change').hasClass('input-error')), false);
    assert.equal(await setConfigField('pollInterval', '5'), true, 'a status poll under 20 ms is refused');
    assert.equal(await setConfigField('pollInterval', '100'), false);
    await saveConfig();
    const saved = await page.evaluate(() => {
      const n = RED.nodes.node('wc-gantrydev');
      return { xMin: n.xMin, xMax: n.xMax, pollInterval: String(n.pollInterval), serial: n.serial, valid: n.valid };
    });
    assert.deepEqual(saved, { xMin: '-10', xMax: '0', pollInterval: '100', serial: serialId, valid: true });
  });

  it('the instrument device and cell dialogs refuse bad input and save good input', async () => {
    await editConfig('workcell-instrument-device', 'wc-instdev', 'address');
    assert.match(await page.evaluate(() => $('.red-ui-tray-titlebar').last().text()), /Edit instrument device node/);
    assert.equal(await setConfigField('address', 'nowhere'), true, 'an address that is no device path or tcp:// address is refused');
    assert.equal(await setConfigField('address', 'tcp://127.0.0.1:5025'), false);
    await saveConfig();
    assert.equal(await page.evaluate(() => RED.nodes.node('wc-instdev').address), 'tcp://127.0.0.1:5025');

    await editConfig('workcell-abort-context', 'wc-cell2', 'safeTimeout');
    assert.match(await page.evaluate(() => $('.red-ui-tray-titlebar').last().text()), /Edit abort context node/);
    assert.equal(await setConfigField('stopTimeout', '-1'), true);
    assert.equal(await setConfigField('stopTimeout', '2'), false);
    await saveConfig();
    assert.equal(await page.evaluate(() => String(RED.nodes.node('wc-cell2').stopTimeout)), '2');
  });

  it('choice parameters show their name and an icon, never a type id ("enum", "boolean")', async () => {
    await edit('wc-gantry');
    await page.waitForSelector('#node-input-param-mode', { state: 'attached' });
    const labels = await page.evaluate(() => $('.workcell-device-params .red-ui-typedInput-type-label').map((_i: number, e: DomElement) => (e.textContent ?? '').trim()).get());
    for (const l of labels) assert.doesNotMatch(l, /^(enum|boolean)$/, `typedInput labels: ${JSON.stringify(labels)}`);
  });

  it("the device form applies the operation table's rules across parameters: a G1 move needs a feed, a move an axis; a node saved against them is flagged", async () => {
    await edit('wc-gantry');
    await page.waitForSelector('#node-input-param-feed', { state: 'attached' });
    const error = (param: string) => page.evaluate((p) => $(`.workcell-device-param[data-param="${p}"] .workcell-device-param-error`).text(), param);
    const set = (param: string, value: string) =>
      page.evaluate(
        ([p, v]) => {
          $(`#node-input-param-${p}`).typedInput('value', v);
          $(`#node-input-param-${p}`).trigger('change');
        },
        [param, value],
      );
    assert.equal(await error('feed'), '', 'x and a feed: a valid G1 move');
    await set('feed', '');
    assert.equal(await error('feed'), 'Feed rate is required when rapid is false');
    await set('rapid', 'true');
    assert.equal(await error('feed'), '', 'a rapid (G0) move needs no feed');
    await set('x', '');
    assert.equal(await page.evaluate(() => $('.workcell-device-op-error').text()), 'Give at least one of X, Y, Z');
    await set('z', '-1');
    assert.equal(await page.evaluate(() => $('.workcell-device-op-error').is(':visible')), false);
    // Saved against the rules (a G1 move without a feed), the node is flagged before deploy.
    await set('rapid', 'false');
    await page.click('#node-dialog-ok');
    await page.waitForSelector('#dialog-form', { state: 'detached' });
    const saved = await page.evaluate(() => {
      const n = RED.nodes.node('wc-gantry');
      return { params: n.params, valid: n.valid, errors: n.validationErrors };
    });
    assert.deepEqual(saved, { params: { mode: 'absolute', z: -1, rapid: false, coordinates: 'work' }, valid: false, errors: ['Feed rate is required when rapid is false'] });
  });

  it('the sequence dialog refuses a bad timeout and saves a good one', async () => {
    await edit('wc-seq');
    const check = (v: string) =>
      page.evaluate((value) => {
        $('#node-input-timeout').val(value).trigger('change');
        return $('#node-input-timeout').hasClass('input-error');
      }, v);
    assert.equal(await check('-1'), true, 'a negative timeout is refused');
    assert.equal(await check('soon'), true, 'a word is refused');
    assert.equal(await check('45'), false);
    await page.click('#node-dialog-ok');
    await page.waitForSelector('#dialog-form', { state: 'detached' });
    assert.deepEqual(await page.evaluate(() => ({ timeout: RED.nodes.node('wc-seq').timeout, valid: RED.nodes.node('wc-seq').valid })), { timeout: '45', valid: true });
  });

  it('a device node fed by a sequence of another cell is flagged before deploy, naming both cells', async () => {
    const result = await page.evaluate(() => {
      RED.view.importNodes([
        { id: 'xc-seq', type: 'workcell-sequence', z: 't1', x: 160, y: 480, name: 'Other cell', cell: 'wc-cell', concurrency: 'reject', timeout: '', policy: 'fail-run', wires: [['xc-gantry'], []] },
        { id: 'xc-gantry', type: 'workcell-gantry', z: 't1', x: 420, y: 480, name: '', device: 'wc-gantrydev', operation: 'home', params: {}, wires: [[]] },
        { id: 'ok-seq', type: 'workcell-sequence', z: 't1', x: 160, y: 560, name: 'Same cell', cell: 'wc-cell2', concurrency: 'reject', timeout: '', policy: 'fail-run', wires: [['ok-gantry'], []] },
        { id: 'ok-gantry', type: 'workcell-gantry', z: 't1', x: 420, y: 560, name: '', device: 'wc-gantrydev', operation: 'home', params: {}, wires: [[]] },
      ]);
      const [other, same] = ['xc-gantry', 'ok-gantry'].map((id) => {
        const n = RED.nodes.node(id);
        RED.editor.validateNode(n);
        return { valid: n.valid, errors: n.validationErrors };
      });
      return { other, same };
    });
    assert.equal(result.other.valid, false);
    assert.deepEqual(result.other.errors, ['device "mill" belongs to cell "Cell B", but sequence "Other cell" that feeds this node runs in cell "Cell A"']);
    assert.equal(result.same.valid, true);
    // Wiring alone flags it too: a wire from the other cell's sequence to the valid node.
    const wired = await page.evaluate(() => {
      RED.nodes.addLink({ source: RED.nodes.node('xc-seq'), sourcePort: 0, target: RED.nodes.node('ok-gantry') });
      const flagged = RED.nodes.node('ok-gantry').valid;
      const link = RED.nodes.filterLinks({ source: RED.nodes.node('xc-seq'), target: RED.nodes.node('ok-gantry') })[0];
      RED.nodes.removeLink(link);
      return { flagged, after: RED.nodes.node('ok-gantry').valid };
    });
    assert.deepEqual(wired, { flagged: false, after: true }, 'a new wire from another cell\'s sequence flags the node; removing it clears the flag');
  });

  it('a new node starts on the only cell when there is one', async () => {
    // Two cells: a new sequence's cell is the user's choice.
    await page.evaluate(() => RED.view.importNodes([{ id: 'new-seq', type: 'workcell-sequence', z: 't1', x: 160, y: 640, name: '', cell: '', wires: [[], []] }]));
    await edit('new-seq');
    assert.equal(await page.evaluate(() => $('#node-input-cell').val()), '_ADD_');
    await closeTrays();
    // One cell left: it is preselected, and saved with the node.
    await page.evaluate(() => {
      for (const id of ['xc-seq', 'xc-gantry', 'ok-seq', 'ok-gantry', 'wc-inst', 'wc-gantry']) RED.nodes.remove(id);
      for (const id of ['wc-instdev', 'wc-gantrydev', 'wc-cell2']) RED.nodes.remove(id);
    });
    assert.deepEqual(await page.evaluate(() => WorkcellCellField.cells().map((c: { id: string }) => c.id)), ['wc-cell']);
    await edit('new-seq');
    assert.equal(await page.evaluate(() => $('#node-input-cell').val()), 'wc-cell');
    await page.click('#node-dialog-ok');
    await page.waitForSelector('#dialog-form', { state: 'detached' });
    assert.equal(await page.evaluate(() => RED.nodes.node('new-seq').cell), 'wc-cell');
  });

  it('every example is listed under Import › Examples and imports with every node of a known type', async () => {
    const files = readdirSync(join(packageRoot(), 'examples')).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -'.json'.length)).sort();
    assert.ok(files.length >= 5, `examples: ${files}`);
    const listed = await page.evaluate(() => $.getJSON('library/examples/flows/@workcell/node-red-workcell/'));
    assert.deepEqual(
      (listed as { fn?: string }[]).filter((e) => e.fn).map((e) => e.fn!.replace(/\.json$/, '')).sort(),
      files,
      'Import › Examples lists every example of the package',
    );
    for (const name of files) {
      const result = await page.evaluate(async (n) => {
        const flow = await $.getJSON(`library/examples/flows/@workcell/node-red-workcell/${encodeURIComponent(n)}`);
        const unknown = flow.filter((node: { type: string }) => node.type !== 'tab' && !RED.nodes.getType(node.type)).map((node: { type: string }) => node.type);
        const before = RED.nodes.filterNodes({}).length;
        RED.view.importNodes(flow, { generateIds: true });
        return { nodes: flow.length, unknown, added: RED.nodes.filterNodes({}).length - before };
      }, name);
      assert.deepEqual(result.unknown, [], `${name}: every node type is registered`);
      assert.ok(result.added > 0, `${name}: its nodes were added to the workspace`);
    }
  });

  it('the editor raised no page errors and logged no console errors', () => {
    assert.deepEqual(pageErrors, []);
    assert.deepEqual(consoleErrors, []);
  });
});
