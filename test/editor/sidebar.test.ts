import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { EditorBrowser, openEditor } from '../support/editor-browser';
import { DemoCellRuntime, startDemoCell, tokenFor } from '../support/sidebar-cell';

/** Browser-side view of the editor's globals (typed loosely: this runs in the page). */
declare const RED: any; // eslint-disable-line @typescript-eslint/no-explicit-any
declare const $: any; // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * Where the screenshots for the README go: docs/images when WORKCELL_SCREENSHOT_DIR says so
 * (`WORKCELL_SCREENSHOT_DIR=docs/images npm run test:one test/editor/sidebar.test.ts`), a
 * temporary folder otherwise (they are taken on every run all the same).
 */
const SHOTS = process.env.WORKCELL_SCREENSHOT_DIR ? resolve(process.env.WORKCELL_SCREENSHOT_DIR) : join(tmpdir(), 'workcell-screenshots');

/** The slice of a DOM element the page callbacks read (the tests compile without the DOM lib). */
interface DomElement {
  textContent: string | null;
  disabled?: boolean;
  getAttribute(name: string): string | null;
}

type CellView = { state: string; tripSources: string[]; unsafe: { device: string; why: string }[]; runs: unknown[] };

describe('Workcell sidebar in the editor (Chromium + a real Node-RED with adminAuth)', function () {
  this.timeout(120_000);
  let demo: DemoCellRuntime;
  let browser: EditorBrowser;
  let page: Page;
  let alice: string;
  /** GET requests the page made for the cells' views (the tab's first load and refreshes). */
  let viewRequests = 0;

  before(async () => {
    demo = await startDemoCell({
      auth: true,
      adjust: (nodes) => {
        // The power supply answers within 1 s or not at all (so a silent one owes its stop quickly).
        for (const n of nodes) if (n.type === 'workcell-instrument-device' && n.name === 'PSU') n.timeout = '1';
      },
    });
    alice = await tokenFor(demo.red, 'alice');
    const cellId = demo.cellId;
    // The editor keeps a token given in the address as its login (Node-RED's own mechanism; it
    // reads the token from the address as it is, undecoded).
    browser = await openEditor(`${demo.red.url}?access_token=${alice}`, { viewport: { width: 1280, height: 760 } });
    page = browser.page;
    page.on('request', (req) => {
      if (req.method() === 'GET' && /\/workcell\/cells$/.test(new URL(req.url()).pathname)) viewRequests++;
    });
    await page.evaluate(() => RED.sidebar.show('workcell'));
    await page.waitForSelector(`.workcell-sidebar-cell[data-cell="${cellId}"]`, { state: 'visible' });
  });

  after(async () => {
    await browser?.close();
    await demo?.stop();
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && page) {
      const file = join(tmpdir(), `workcell-sidebar-${this.currentTest.title.replace(/\W+/g, '-').slice(0, 60)}.png`);
      await page.screenshot({ path: file }).then(() => console.error(`    screenshot of the failure: ${file}`), () => undefined);
    }
  });

  const cellSel = () => `.workcell-sidebar-cell[data-cell="${demo.cellId}"]`;

  /** The cell as the runtime has it (not as the page shows it). */
  async function runtimeView(): Promise<CellView> {
    const res = await fetch(new URL('workcell/cells', demo.red.url), { headers: { authorization: `Bearer ${alice}` } });
    assert.equal(res.status, 200);
    const { cells } = (await res.json()) as { cells: (CellView & { id: string })[] };
    return cells.find((c) => c.id === demo.cellId)!;
  }

  async function shownState(): Promise<string> {
    return page.locator(`${cellSel()} .workcell-sidebar-state`).getAttribute('data-state') as Promise<string>;
  }

  function waitForShownState(state: string): Promise<unknown> {
    return page.waitForSelector(`${cellSel()} .workcell-sidebar-state[data-state="${state}"]`);
  }

  async function press(action: string): Promise<void> {
    await page.locator(`${cellSel()} .workcell-sidebar-actions [data-action="${action}"]`).click();
  }

  /** Every device of the demo cell shown ready. */
  async function devicesShownReady(): Promise<void> {
    await page.waitForFunction(
      (sel) => {
        const statuses = $(`${sel} .workcell-sidebar-devices .workcell-sidebar-health`).map((_i: number, e: DomElement) => e.getAttribute('data-status')).get();
        return statuses.length === 3 && statuses.every((s: string) => s === 'ready');
      },
      cellSel(),
      { timeout: 20_000 },
    );
  }

  it('shows the demo cell: its state, its devices with health and the gantry reading, and the control buttons', async () => {
    await devicesShownReady();
    const shown = await page.evaluate((sel) => {
      const cell = $(sel);
      return {
        name: cell.find('.workcell-sidebar-name').text(),
        state: cell.find('.workcell-sidebar-state').text(),
        buttons: cell.find('.workcell-sidebar-actions button').map((_i: number, e: DomElement) => [[e.textContent!.trim(), !e.disabled]]).get(),
        devices: cell.find('.workcell-sidebar-devices [data-device]').map((_i: number, e: DomElement) => e.getAttribute('data-device')).get(),
        gantryReading: cell.find('.workcell-sidebar-devices [data-device="Gantry"] .workcell-sidebar-reading').text(),
        runs: cell.find('.workcell-sidebar-runs').text(),
        tabLabel: $('#red-ui-tab-workcell').text().trim(),
      };
    }, cellSel());
    assert.equal(shown.name, 'Demo cell B');
    assert.equal(shown.state, 'ready');
    assert.deepEqual(shown.buttons, [
      ['Emergency stop', true],
      ['Halt', true],
      ['Reset', false],
      ['Hold', true],
      ['Resume', false],
    ]);
    assert.deepEqual(shown.devices, ['Gantry', 'DMM', 'PSU']);
    assert.match(shown.gantryReading, /state Alarm/);
    assert.match(shown.gantryReading, /machine x0 y0 z0/);
    assert.match(shown.runs, /no run in progress/);
    assert.deepEqual(browser.pageErrors, [], 'the editor raised no error');
    assert.deepEqual(browser.consoleErrors, [], 'the editor logged no error');
  });

  it('its emergency stop trips the cell in the runtime, the tab shows it live, and reset returns the cell to ready', async () => {
    const before = viewRequests;
    // GRBL's real-time stop bytes (feed hold, soft reset) as the simulated gantry receives them.
    const stops: string[] = [];
    const onReceived = (bytes: Buffer) => {
      for (const b of bytes) if (b === 0x21 || b === 0x18) stops.push(b === 0x21 ? '!' : 'reset');
    };
    demo.sims.gantry.on('received', onReceived);
    await press('estop');
    await waitForShownState('aborted');
    demo.sims.gantry.off('received', onReceived);
    assert.ok(stops.includes('reset'), `the gantry received GRBL's soft reset, got ${JSON.stringify(stops)}`);
    const tripped = await runtimeView();
    assert.equal(tripped.state, 'aborted', 'the runtime cell is latched');
    assert.deepEqual(tripped.tripSources, ['editor (alice)']);
    assert.match(await page.locator(`${cellSel()} .workcell-sidebar-trips`).innerText(), /editor \(alice\)/);
    assert.equal(viewRequests, before, 'the new state came over the comms channel, not by asking again');
    const buttons = await page.evaluate((sel) => $(`${sel} .workcell-sidebar-actions button`).map((_i: number, e: DomElement) => [[e.getAttribute('data-action'), !e.disabled]]).get(), cellSel());
    assert.deepEqual(Object.fromEntries(buttons as [string, boolean][]), { estop: true, halt: true, reset: true, hold: false, resume: false });

    await press('reset');
    await waitForShownState('ready');
    assert.equal((await runtimeView()).state, 'ready');
    assert.equal(await page.locator(`${cellSel()} .workcell-sidebar-trips`).count(), 0, 'no trip source is shown once reset');
    assert.equal(viewRequests, before);
  });

  it('shows a run with the node it is in, live, and the screenshots for the README', async () => {
    mkdirSync(SHOTS, { recursive: true });
    // The demo flow as a newcomer sees it, the Workcell tab beside it (zoomed out so the
    // scan's row fits, scrolled to the flow's top left corner).
    await page.evaluate(() => {
      RED.actions.invoke('core:zoom-out');
      RED.actions.invoke('core:zoom-out');
      $('#red-ui-workspace-chart').scrollLeft(0).scrollTop(0);
    });
    await page.screenshot({ path: join(SHOTS, 'demo-flow.png') });
    await page.evaluate(() => RED.actions.invoke('core:zoom-reset'));

    const res = await fetch(new URL('inject/wc02-start', demo.red.url), { method: 'POST', headers: { authorization: `Bearer ${alice}` } });
    assert.equal(res.status, 200, 'the scan was started with the inject node');
    await page.waitForFunction((sel) => /^Scan\s*at .+/.test($(`${sel} .workcell-sidebar-runs [data-run] .workcell-sidebar-main`).first().text()), cellSel(), { timeout: 20_000 });
    const step = await page.locator(`${cellSel()} .workcell-sidebar-runs [data-run] .workcell-sidebar-detail`).first().innerText();
    const running = await runtimeView();
    assert.equal(running.runs.length, 1, 'one run in the runtime');
    assert.match(step, /^at /, 'the run is shown with the step it is in');
    // A later step shows without asking: the scan moves on to the next node.
    await page.waitForFunction(
      ([sel, first]) => {
        const t = $(`${sel} .workcell-sidebar-runs [data-run] .workcell-sidebar-detail`).first().text();
        return t !== '' && t !== first;
      },
      [cellSel(), step] as const,
      { timeout: 20_000 },
    );
    const sidebar = page.locator('#red-ui-sidebar');
    await sidebar.screenshot({ path: join(SHOTS, 'sidebar.png') });

    await press('estop');
    await waitForShownState('aborted');
    await page.waitForFunction((sel) => /no run in progress/.test($(`${sel} .workcell-sidebar-runs`).text()), cellSel());
    assert.equal((await runtimeView()).runs.length, 0, 'the run ended in the runtime');
    await press('reset');
    await waitForShownState('ready');
  });

  it('a user who may only read sees the cell with every button disabled', async () => {
    const bob = await tokenFor(demo.red, 'bob');
    const reader = await openEditor(`${demo.red.url}?access_token=${bob}`, { viewport: { width: 1280, height: 760 } });
    try {
      await reader.page.evaluate(() => RED.sidebar.show('workcell'));
      await reader.page.waitForSelector(`${cellSel()} .workcell-sidebar-state[data-state="ready"]`);
      const buttons = await reader.page.evaluate((sel) => $(`${sel} button`).map((_i: number, e: DomElement) => [[e.getAttribute('data-action'), !!e.disabled]]).get(), cellSel());
      assert.deepEqual(Object.fromEntries(buttons as [string, boolean][]), { estop: true, halt: true, reset: true, hold: true, resume: true });
      assert.deepEqual(reader.pageErrors, []);
      assert.deepEqual(reader.consoleErrors, []);
    } finally {
      await reader.close();
    }
  });

  it('a device that owes its stop can be cleared only after confirming; then reset works', async () => {
    await devicesShownReady();
    demo.sims.psu.faults.silent = true;
    try {
      await press('estop');
      // While the stop is under way every device owes it; once latched, only the silent PSU does.
      await waitForShownState('aborted');
      await page.waitForFunction(
        (sel) => $(`${sel} .workcell-sidebar-unsafe [data-device]`).map((_i: number, e: DomElement) => e.getAttribute('data-device')).get().join() === 'PSU',
        cellSel(),
        { timeout: 20_000 },
      );
      assert.match(await page.locator(`${cellSel()} .workcell-sidebar-unsafe`).innerText(), /PSU[\s\S]*safe routine/);
      demo.sims.psu.faults.silent = false;

      // First the operator backs out: nothing is cleared.
      await page.locator(`${cellSel()} .workcell-sidebar-unsafe [data-device="PSU"] [data-action="clear"]`).click();
      await page.waitForSelector('.workcell-sidebar-clear-cancel', { state: 'visible' });
      assert.match(await page.locator('#red-ui-notifications').innerText(), /Clear device PSU of cell "Demo cell B"\?/);
      await page.locator('.workcell-sidebar-clear-cancel').click();
      await page.waitForSelector('.workcell-sidebar-clear-cancel', { state: 'detached' });
      assert.deepEqual((await runtimeView()).unsafe.map((u) => u.device), ['PSU'], 'cancelled: the PSU still owes its stop');

      // Then confirms.
      await page.locator(`${cellSel()} .workcell-sidebar-unsafe [data-device="PSU"] [data-action="clear"]`).click();
      await page.locator('.workcell-sidebar-clear-confirm').click();
      await page.waitForSelector(`${cellSel()} .workcell-sidebar-unsafe`, { state: 'detached' });
      assert.deepEqual((await runtimeView()).unsafe, []);
      await demo.red.waitForLog(/device PSU is known stopped and safe again: .*\(by editor \(alice\)\)/);

      await press('reset');
      await waitForShownState('ready');
      assert.equal((await runtimeView()).state, 'ready');
    } finally {
      demo.sims.psu.faults.silent = false;
    }
    assert.equal(await shownState(), 'ready');
    assert.deepEqual(browser.pageErrors, [], 'the editor raised no error');
    assert.deepEqual(browser.consoleErrors, [], 'the editor logged no error');
  });
});
