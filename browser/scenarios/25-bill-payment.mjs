// Issue 18, item 5: a citizen pays a water bill → the host's payment page →
// confirms → the app opens on the bill, paid, with its receipt (amount, what
// for, when in dd/mm/yyyy HH:MM, the payment reference), in Vietnamese and
// in English, at phone and desktop width.

import { signIn } from './10-citizen-reports.mjs';
import { WIDTHS } from '../widths.mjs';

export const name = 'bill-payment';


/** Seeded customers with an unpaid October bill, one per width. */
const BILLS = {
  mobile: { customer: 'PK0034567', bill: 'PK0034567-202610', amount: '256.900' },
  desktop: { customer: 'PK0045678', bill: 'PK0045678-202610', amount: '98.200' },
};

export async function run(t) {
  for (const [label, viewport] of Object.entries(WIDTHS)) {
    const { customer, bill, amount } = BILLS[label];
    const page = await t.page(viewport);
    await signIn(page, t.base, 'Lê Thị Hoa');
    await page.goto(`${t.base}/#/app/bills?path=${encodeURIComponent(`/?customer=${customer}`)}`);
    const frame = page.frameLocator('iframe.frame');
    const pay = frame.getByRole('button', { name: new RegExp(`^Thanh toán ${amount.replace('.', '\\.')}`) });
    await pay.waitFor();
    await t.shot(page, `${label}-bill`);
    await pay.click();

    // The host's payment page, then back to the app on this payment.
    await page.waitForURL(/\/pay\/[^/?]+\?return=/);
    const intent = new URL(page.url()).pathname.split('/').pop();
    await page.getByRole('button', { name: 'Thanh toán bằng ví Citadel' }).click();
    await page.waitForURL(/#\/app\/bills/);
    const receipt = frame.locator('#receipt');
    await receipt.waitFor();
    await frame.getByRole('heading', { name: 'Đã thanh toán hóa đơn' }).waitFor();
    const text = await receipt.textContent();
    for (const expected of [`${amount} ₫`, 'Tiền nước kỳ 10/2026', bill, `bill-${bill}-1`, intent, 'Mã tham chiếu']) {
      t.check(text.includes(expected), `the receipt shows ${expected}: ${text}`);
    }
    t.check(/Thanh toán lúc\s*\d{2}\/\d{2}\/\d{4} \d{2}:\d{2}/.test(text),
      `the receipt says when, dd/mm/yyyy HH:MM: ${text}`);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    t.check(width <= viewport.width + 1, `the receipt at ${label} scrolls sideways: ${width}px`);
    await t.shot(page, `${label}-receipt`);

    // The same page in English.
    const english = `/receipts/${intent}?lang=en`;
    await page.goto(`${t.base}/#/app/bills?path=${encodeURIComponent(english)}`);
    await frame.getByRole('heading', { name: 'Bill paid' }).waitFor();
    const en = await frame.locator('#receipt').textContent();
    t.check(/Paid on\s*\d{2}\/\d{2}\/\d{4} \d{2}:\d{2}/.test(en) && en.includes('Payment reference'),
      `the receipt in English: ${en}`);
    await t.shot(page, `${label}-receipt-english`);
  }
}
