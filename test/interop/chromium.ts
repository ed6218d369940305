/**
 * Headless Chromium for the interop tests: Debian's `chromium` package driven by playwright-core
 * (which never downloads a browser: it is given the executable). `launch()` gives every browser a
 * fresh temporary profile (user data dir) and removes it on close.
 */

import { chromium, type Browser, type BrowserContext } from 'playwright-core';

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

export async function launchChromium(executablePath: string): Promise<Browser> {
  return chromium.launch({ executablePath, headless: true, args: ARGS, timeout: 20_000 });
}

/**
 * A new context (its own cookies and cache) with the viewport the screenshots use;
 * `ignoreHTTPSErrors` for pages served with a throwaway certificate.
 */
export async function newContext(browser: Browser, options: { ignoreHTTPSErrors?: boolean } = {}): Promise<BrowserContext> {
  const context = await browser.newContext({ viewport: { width: 900, height: 480 }, deviceScaleFactor: 1, ...options });
  context.setDefaultTimeout(10_000);
  return context;
}
