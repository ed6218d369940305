/**
 * The chat in a real browser: Debian's headless Chromium driven by playwright-core (as the interop
 * tests), through the pages' data-testid hooks. Two pages open /ws/test as two users: one sends,
 * the other shows it, the user lists show both, an XSS payload shows as text, one page closes and
 * the other sees it leave; the screenshot goes to test-artifacts/chat/chat-page.png (docs/ has a
 * copy for the README). Then the /websocket page's plain-JavaScript snippet runs in the page.
 */

import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { afterEach, expect, it } from 'vitest';
import { RECORD_CSP_VIOLATIONS, useChromium } from '../../test/interop/chromium.js';
import { chromiumPeer, describeWithPeer } from '../../test/interop/peers.js';
import { HOST, cleanup, connectClient, defer, startChat } from './helpers.js';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/chat/', import.meta.url));

describeWithPeer(chromiumPeer(), 'the chat in Chromium (headless, Debian package)', (executable) => {
  const chromium = useChromium(executable, defer);
  afterEach(cleanup);

  async function openPage(origin: string, path: string): Promise<{ page: Page; problems: string[] }> {
    const page = await chromium.newPage();
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    await page.addInitScript(RECORD_CSP_VIOLATIONS);
    const response = await page.goto(`${origin}${path}`);
    expect(response?.status()).toBe(200);
    return { page, problems };
  }

  async function join(page: Page, username: string): Promise<void> {
    await page.getByTestId('username').fill(username);
    await page.getByTestId('join').click();
    await page.getByTestId('send').and(page.locator(':enabled')).waitFor();
  }

  function users(page: Page): Promise<string[]> {
    return page.getByTestId('users').locator('li').allTextContents();
  }

  it('two users on /ws/test: user lists, a message shown on the other page, XSS as text, a leave seen', async () => {
    const { port } = await startChat({ presenceGrace: 0 });
    const origin = `http://${HOST}:${port}`;
    const ana = await openPage(origin, '/ws/test');
    const bo = await openPage(origin, '/ws/test');
    await join(ana.page, 'Ana');
    await ana.page.getByTestId('users').getByText('Ana', { exact: true }).waitFor();
    await join(bo.page, 'Bo');
    await ana.page.getByTestId('users').getByText('Bo', { exact: true }).waitFor();
    await bo.page.getByTestId('users').getByText('Ana', { exact: true }).waitFor();
    expect(await users(ana.page)).toEqual(['Ana', 'Bo']);
    expect(await users(bo.page)).toEqual(['Ana', 'Bo']);
    await ana.page.getByTestId('messages').getByText('Bo joined').waitFor();

    await bo.page.getByTestId('message').fill('Hello Ana, café ☕');
    await bo.page.getByTestId('send').click();
    const shown = ana.page.getByTestId('messages').locator('li.chat').filter({ hasText: 'Hello Ana, café ☕' });
    await shown.waitFor();
    expect(await shown.locator('b').textContent()).toBe('Bo');

    // User text is text: the payload is shown as written, no element is made, nothing runs.
    const payload = '<img src=x onerror="window.xssRan = true">';
    await bo.page.getByTestId('message').fill(payload);
    await bo.page.getByTestId('send').click();
    const xss = ana.page.getByTestId('messages').locator('li.chat').filter({ hasText: payload });
    await xss.waitFor();
    expect(await xss.locator('span').textContent()).toBe(payload);
    expect(await ana.page.getByTestId('messages').locator('img').count()).toBe(0);
    expect(await ana.page.evaluate('window.xssRan')).toBeUndefined();

    mkdirSync(ARTIFACTS, { recursive: true });
    await ana.page.screenshot({ path: `${ARTIFACTS}chat-page.png` });

    await bo.page.close();
    await ana.page.getByTestId('messages').getByText('Bo left').waitFor();
    expect(await users(ana.page)).toEqual(['Ana']);
    expect(ana.problems).toEqual([]);
    expect(bo.problems).toEqual([]);
    expect(await ana.page.evaluate('window.cspViolations')).toEqual([]);
  });

  it('the /websocket page’s plain-JavaScript snippet, run in the page, connects, sends and logs what it gets', async () => {
    const { port, url } = await startChat();
    const watcher = await connectClient(url, { username: 'Watcher', userId: 'watcher' });
    await watcher.nextOf('user_list');
    const { page, problems } = await openPage(`http://${HOST}:${port}`, '/websocket');
    const snippet = await page.getByTestId('snippet-javascript').textContent();
    expect(snippet).toContain("new WebSocket(`${scheme}://${location.host}/ws?username=Ana&userId=ana-1&room=general`)");
    const logs: string[] = [];
    const logged = new Promise<void>((resolve) => {
      page.on('console', (message) => {
        // What the snippet logs (console.log), not what the browser itself reports (a slow load's warnings).
        if (message.type() !== 'log') return;
        logs.push(message.text());
        if (message.text() === 'Ana: Hello from plain JavaScript!') resolve();
      });
    });
    await page.evaluate(`(() => { ${snippet} })()`);
    await logged;
    expect(logs).toEqual(['connected', 'in general: Watcher, Ana', 'Ana: Hello from plain JavaScript!']);
    expect(await watcher.nextOf('chat')).toMatchObject({ type: 'chat', content: 'Hello from plain JavaScript!', from: 'Ana', room: 'general' });
    expect(problems).toEqual([]);
  });
});
