import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BrowserContext, Page, chromium } from 'playwright-core';

// The editor is tested in a real browser: Debian's Chromium, driven by playwright-core, against
// a real Node-RED child process that loads this package from dist/ (npm run build first).
export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];

/** Browser-side view of the editor's globals (typed loosely: this runs in the page). */
declare const RED: any; // eslint-disable-line @typescript-eslint/no-explicit-any
declare const $: any; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface EditorBrowser {
  context: BrowserContext;
  page: Page;
  /** Every uncaught error of the page, with its stack. */
  pageErrors: string[];
  /** Every error the page logged on its console, with where (a failed request is one). */
  consoleErrors: string[];
  close(): Promise<void>;
}

/**
 * Chromium on a fresh profile with the Node-RED editor at `url` loaded: the flows and the
 * palette are there and the welcome tour is dismissed. `ready` is what else the page must have
 * before the editor counts as loaded (evaluated in the page).
 */
export async function openEditor(url: string, options: { ready?: () => unknown; viewport?: { width: number; height: number } } = {}): Promise<EditorBrowser> {
  if (!existsSync(CHROMIUM)) throw new Error(`the editor tests need Chromium at ${CHROMIUM} (Debian package "chromium"); it is missing`);
  const profile = mkdtempSync(join(tmpdir(), 'workcell-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: options.viewport ?? { width: 1400, height: 900 } });
  const close = async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  };
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    const pageErrors: string[] = [];
    const consoleErrors: string[] = [];
    page.on('pageerror', (err) => pageErrors.push(`${err.message}\n${err.stack ?? ''}`));
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(`${m.text()} (${m.location().url})`);
    });
    await page.goto(url);
    await page.waitForFunction(() => typeof RED !== 'undefined' && RED.nodes && $('.red-ui-palette-node').length > 0, null, { timeout: 60_000 });
    if (options.ready) await page.waitForFunction(options.ready, null, { timeout: 60_000 });
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
    return { context, page, pageErrors, consoleErrors, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Closes every edit tray open in the editor, the innermost first, waiting for each to go. */
export async function closeTrays(page: Page): Promise<void> {
  while ((await page.evaluate(() => $('#red-ui-editor-stack .red-ui-tray').length)) > 0) {
    const open = await page.evaluate(() => $('#red-ui-editor-stack .red-ui-tray').length);
    await page.evaluate(() => RED.tray.close());
    await page.waitForFunction((n) => $('#red-ui-editor-stack .red-ui-tray').length < n, open);
  }
}
