/**
 * The sandbox console in a real browser (Debian's chromium through playwright-core): what a person clicking it sees.
 * Skipped where no chromium is installed (`apt-get install chromium`, or MMSGATE_CHROMIUM=/path/to/chrome).
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startSandboxGateway, type TestGateway } from '../support/gateway.ts';

const CHROMIUM = process.env.MMSGATE_CHROMIUM ?? '/usr/bin/chromium';
const playwright = await import('playwright-core').catch(() => undefined);
const runnable = playwright !== undefined && existsSync(CHROMIUM);

describe.skipIf(!runnable)('sandbox console in chromium', () => {
  let gw: TestGateway;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    gw = await startSandboxGateway();
    browser = await playwright!.chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    page = await browser.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`${gw.url}/sandbox`);
    await page.waitForFunction(() => document.getElementById('conn')?.textContent === 'live', null, { timeout: 10_000 });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await gw?.stop();
  });

  it('shows a wrong password as 401 in the page, without the browser asking for credentials', async () => {
    await page.fill('#send-form [name=password]', 'wrong');
    await page.click('#send-form button[type=submit]');
    // Before the fix the browser held the answer to prompt for a password: "sending…" for ever (headless).
    await page.waitForFunction(() => document.getElementById('send-result')?.textContent?.startsWith('401'), null, { timeout: 5_000 });
    expect(await page.textContent('#send-result')).toContain('AUTH_INVALID');
  });

  it('sends with the sandbox account and shows the hops live, without a reload', async () => {
    await page.fill('#send-form [name=password]', 'open sesame');
    await page.fill('#send-form [name=subject]', '<b>not bold</b>');
    await page.click('#send-form button[type=submit]');
    await page.waitForFunction(() => /^mtId \d+$/.test(document.getElementById('send-result')?.textContent ?? ''), null, { timeout: 5_000 });
    const mtId = (await page.textContent('#send-result'))!.slice(5);
    await page.waitForFunction(
      (id) => [...document.querySelectorAll('#event-rows tr')].some((r) => r.textContent!.includes(`mt ${id}`) && r.textContent!.includes('report-delivered')),
      mtId,
      { timeout: 10_000 },
    );
    await page.waitForFunction((id) => document.getElementById('handset-list')!.textContent!.includes(`mt ${id}`), mtId, { timeout: 10_000 });
    expect(await page.locator('#handset-list strong', { hasText: '<b>not bold</b>' }).count()).toBeGreaterThan(0);
    expect(await page.locator('#handset-list b').count()).toBe(0);
    expect(pageErrors).toEqual([]);
  });

  it('goes live again after the event stream was refused (429: too many consoles open)', async () => {
    const second = await browser.newPage();
    let refused = 0;
    await second.route('**/sandbox/events', async (route) => {
      if (refused++ === 0) await route.fulfill({ status: 429, headers: { 'retry-after': '5' }, contentType: 'application/json', body: '{"code":"RATE_LIMITED"}' });
      else await route.continue();
    });
    await second.goto(`${gw.url}/sandbox`);
    await second.waitForFunction(() => document.getElementById('conn')?.textContent === 'live', null, { timeout: 10_000 });
    expect(refused).toBe(2);
    await second.close();
  }, 20_000);
});
