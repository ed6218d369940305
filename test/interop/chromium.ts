/**
 * Headless Chromium for the interop tests: Debian's `chromium` package driven by playwright-core
 * (which never downloads a browser: it is given the executable). `launch()` gives every browser a
 * fresh temporary profile (user data dir) and removes it on close.
 */

import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';

// No sandbox (CI runs as root), no GPU, no QUIC, and nothing that reaches the network by itself.
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// Set before the page's own script runs (not subject to the page's CSP): every violation is kept.
export const RECORD_CSP_VIOLATIONS = `
  window.cspViolations = [];
  document.addEventListener('securitypolicyviolation', (event) => {
    window.cspViolations.push(event.violatedDirective + ' ' + event.blockedURI);
  });
`;

/**
 * Waits (bounded by Playwright's timeout) until the echo page's log has at least `count` lines.
 * (Not page.waitForFunction: it evaluates a string, which the page's CSP refuses, as it should.)
 */
export async function logLines(page: Page, count: number): Promise<string[]> {
  await page.locator('#log li').nth(count - 1).waitFor();
  return page.locator('#log li').allTextContents();
}

export async function launchChromium(executablePath: string): Promise<Browser> {
  return chromium.launch({ executablePath, headless: true, args: ARGS, timeout: 20_000 });
}

export interface ContextOptions {
  readonly ignoreHTTPSErrors?: boolean;
}

/**
 * A new context (its own cookies and cache) with the viewport the screenshots use;
 * `ignoreHTTPSErrors` for pages served with a throwaway certificate.
 */
export async function newContext(browser: Browser, options: ContextOptions = {}): Promise<BrowserContext> {
  const context = await browser.newContext({ viewport: { width: 900, height: 480 }, deviceScaleFactor: 1, ...options });
  context.setDefaultTimeout(10_000);
  return context;
}

/**
 * The browser of a describe block (call this in the block): launched before its tests, closed after
 * them. `newPage` opens a page in a new context, which `defer` closes after the test (it is the
 * test file's own cleanup list: the chat's tests keep theirs).
 */
export function useChromium(
  executable: string,
  defer: (fn: () => unknown) => void,
): { newPage(options?: ContextOptions): Promise<Page> } {
  let browser: Browser | undefined;
  beforeAll(async () => {
    browser = await launchChromium(executable);
  });
  afterAll(async () => {
    await browser?.close();
  });
  return {
    async newPage(options = {}) {
      const context = await newContext(browser!, options);
      defer(() => context.close());
      return context.newPage();
    },
  };
}
