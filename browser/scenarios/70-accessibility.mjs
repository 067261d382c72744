// Issue 18, item 12: accessibility of what the other scenarios do not
// audit — each sample app's main page in the shell's frame, the consent
// dialog — at phone and desktop width: axe-core finds no serious or critical
// violation, Tab reaches every control with its focus shown. And the main
// flows by keyboard alone: the language switch, a category chip, opening an
// app from the catalogue, refusing consent, confirming a payment.

import { signIn } from './10-citizen-reports.mjs';
import { tabTo } from '../a11y.mjs';
import { WIDTHS } from '../widths.mjs';

export const name = 'accessibility';

/** Every sample app; the developer samples open by their address. */
const APPS = ['bills', 'field-reports', 'hello', 'maps', 'notes', 'parking', 'public-services', 'tourism'];
const PHU_HOI = { latitude: 16.4627, longitude: 107.5965 };

/** `app`'s frame once it runs under its frame token, loaded. */
async function appFrame(page, app) {
  await page.waitForFunction((app) => /\/f\/[^/]+\/apps\/([^/]+)\//.exec(document.querySelector('iframe.frame')?.src)?.[1] === app, app);
  const frame = await (await page.locator('iframe.frame').elementHandle()).contentFrame();
  await frame.waitForURL(/\/f\//);
  await frame.waitForLoadState();
  return frame;
}

export async function run(t) {
  for (const [label, viewport] of Object.entries(WIDTHS)) {
    const page = await t.page(viewport, { geolocation: PHU_HOI, permissions: ['geolocation'] });
    await signIn(page, t.base, 'Phạm Quốc Tuấn');

    // Each sample app's main page, with the shell's chrome around it.
    for (const app of APPS) {
      await page.goto(`${t.base}/#/app/${app}`);
      const frame = await appFrame(page, app);
      await t.axe(page, `${label}-${app}`);
      await t.shot(page, `${label}-${app}`);
      await t.keyboard(page, `${app}'s page at ${label}`, frame);
    }

    // Keyboard only: English and back, a category chip, an app from the catalogue.
    await page.goto(`${t.base}/#/`);
    await page.getByRole('heading', { name: 'Ứng dụng' }).waitFor();
    await tabTo(page, /^English$/);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Apps' }).waitFor();
    await tabTo(page, /^Tiếng Việt$/);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Ứng dụng' }).waitFor();
    await tabTo(page, /^Bản đồ$/);
    await page.keyboard.press('Space');
    const chosen = page.locator('.chips button[aria-pressed="true"]', { hasText: 'Bản đồ' });
    await chosen.waitFor();
    t.check(await chosen.evaluate((chip) => chip === document.activeElement), 'the chosen chip keeps the focus');
    await tabTo(page, /Bản đồ số Huế/);
    await page.keyboard.press('Enter');
    await page.waitForURL(/#\/app\/maps$/);
    await appFrame(page, 'maps');

    // The consent dialog: audited open, refused by keyboard; the way on is focused.
    await page.goto(`${t.base}/#/app/field-reports`);
    const reports = await appFrame(page, 'field-reports');
    await reports.getByRole('link', { name: 'Phản ánh tại vị trí của tôi' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    await t.axe(page, `${label}-consent-dialog`);
    await t.keyboard(page, `the consent dialog at ${label}`);
    await t.shot(page, `${label}-consent-dialog`);
    await tabTo(page, /^Không đồng ý$/);
    await page.keyboard.press('Enter');
    await page.getByRole('status').filter({ hasText: 'Bạn đã không đồng ý chia sẻ' }).waitFor();
    const focused = await page.evaluate(() => document.activeElement.textContent);
    t.check(focused === 'Tiếp tục dùng ứng dụng', `after refusing, the focus is on ${focused}`);
    await t.axe(page, `${label}-consent-denied`);
    await page.keyboard.press('Enter');
    await appFrame(page, 'field-reports');

    // The payment page, confirmed by keyboard.
    const today = new Date(Date.now() + 7 * 3600 * 1000).toISOString().slice(0, 10);
    const order = await page.request.post(`${t.base}/apps/tourism/api/orders`, {
      data: { ticket: 'dai-noi-adult', quantity: 1, visit_date: today },
    });
    t.check(order.status() === 201, `an order to pay for: ${order.status()}`);
    const { payment } = await order.json();
    await page.goto(`${t.base}/pay/${payment.intent}?return=${encodeURIComponent('/#/payments')}`);
    await page.getByRole('heading', { name: 'Xác nhận thanh toán' }).waitFor();
    await tabTo(page, /^Thanh toán bằng ví Citadel$/);
    await page.keyboard.press('Enter');
    await page.waitForURL(`${t.base}/#/payments`);
    await page.getByText('Đã thanh toán').first().waitFor();
    await t.shot(page, `${label}-paid-by-keyboard`);
  }
}
