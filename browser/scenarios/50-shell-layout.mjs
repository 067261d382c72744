// Acceptance 5 (shell): every shell page works at 390 px and at desktop
// width — no horizontal scrolling, a screenshot of each — with no console
// errors, in Vietnamese and after the English switch; axe-core finds no
// serious or critical violation, and Tab reaches every control, focus shown.

import { signIn } from './10-citizen-reports.mjs';
import { WIDTHS } from '../widths.mjs';

export const name = 'shell-layout';

const VIEWS = ['#/', '#/signin', '#/inbox', '#/permissions', '#/data', '#/payments', '#/app/maps'];

export async function run(t) {
  for (const [label, viewport] of Object.entries(WIDTHS)) {
    const page = await t.page(viewport);
    await signIn(page, t.base, 'Lê Thị Hoa');
    for (const view of VIEWS) {
      // The next view draws after the hash changes: until then the last
      // one's controls are on the page, and the checks below must not see
      // them. A marker in <main> goes when the new view replaces it.
      const target = `${t.base}/${view}`;
      if (page.url() !== target) {
        await page.evaluate(() => document.getElementById('main')
          .append(Object.assign(document.createElement('span'), { id: 'stale-view' })));
        await page.goto(target);
        await page.locator('#stale-view').waitFor({ state: 'detached' });
      }
      await page.locator('main h1, main .chrome').first().waitFor();
      if (view.startsWith('#/app/')) await page.frameLocator('iframe.frame').locator('h1').first().waitFor();
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      t.check(width <= viewport.width + 1, `${view} at ${label} scrolls sideways: ${width}px`);
      if (label === 'mobile' && view.startsWith('#/app/')) {
        // One compact row above the app; the rest of the screen is the app's.
        const top = await page.locator('iframe.frame').evaluate((f) => f.getBoundingClientRect().top);
        t.check(top <= 64, `the app starts ${top}px down the phone's screen`);
      } else if (label === 'mobile') {
        // Every section link is whole on the screen, none cut off.
        const cut = await page.locator('.bar nav a').evaluateAll((links) => links
          .filter((a) => { const r = a.getBoundingClientRect(); return r.left < 0 || r.right > innerWidth; })
          .map((a) => a.textContent));
        t.check(cut.length === 0, `section links cut off at ${label}: ${cut.join(', ')}`);
      }
      const viewName = view.replace(/[#/]/g, '') || 'apps';
      await t.axe(page, `${label}-${viewName}`);
      await t.keyboard(page, `${view} at ${label}`);
      await t.shot(page, `${label}-${viewName}`);
    }
    // The host's own pages: payment confirmation and consent.
    const today = new Date(Date.now() + 7 * 3600 * 1000).toISOString().slice(0, 10);
    const order = await page.request.post(`${t.base}/apps/tourism/api/orders`, {
      data: { ticket: 'dai-noi-adult', quantity: 1, visit_date: today },
    });
    t.check(order.status() === 201, `an order to pay for: ${order.status()} ${await order.text()}`);
    const confirmUrl = (await order.json()).confirm_url;
    for (const hostPage of [confirmUrl, '/consent?app=field-reports&scopes=location']) {
      await page.goto(`${t.base}${hostPage}`);
      await page.locator('h1').first().waitFor();
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      t.check(width <= viewport.width + 1, `${hostPage} at ${label} scrolls sideways: ${width}px`);
      const pageName = hostPage.startsWith('/pay') ? 'pay' : 'consent';
      await t.axe(page, `${label}-${pageName}`);
      await t.keyboard(page, `${pageName} at ${label}`);
      await t.shot(page, `${label}-${pageName}`);
    }
    // The English switch translates the chrome and keeps working.
    await page.goto(`${t.base}/#/`);
    await page.getByRole('button', { name: 'English' }).click();
    await page.getByRole('heading', { name: 'Apps' }).waitFor();
    t.check(await page.evaluate(() => document.documentElement.lang) === 'en', 'html lang follows the switch');
    await t.shot(page, `${label}-english`);
    // Keyboard: the search field has a label and takes focus by Tab order.
    await page.getByLabel('Find an app').fill('digital map');
    await page.getByRole('link', { name: /digital map/ }).first().waitFor();
    await page.getByRole('button', { name: 'Tiếng Việt' }).click();
  }
}
